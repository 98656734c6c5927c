#include "kith/daemon/tls/tls_transport.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <span>

#include "kith/identity/cert.h"

namespace kith::daemon {
namespace {

void initWolf() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// AES-GCM first: the tuned wolfSSL has AES-NI (scripts/deps.sh).
constexpr const char* kCiphers =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256";

Result<WOLFSSL_CTX*> makeCtx(const TlsContext::Material& m, bool server) {
  WOLFSSL_CTX* ctx = wolfSSL_CTX_new(server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method());
  if (ctx == nullptr) return Status::crypto("wolfSSL_CTX_new failed");
  auto fail = [ctx](std::string what) -> Status {
    wolfSSL_CTX_free(ctx);
    return Status::crypto("tunnel TLS: " + what);
  };
  if (wolfSSL_CTX_use_certificate_chain_buffer(ctx, bytes(m.certPem), static_cast<long>(m.certPem.size())) !=
      WOLFSSL_SUCCESS) {
    return fail("node certificate not usable");
  }
  if (wolfSSL_CTX_use_PrivateKey_buffer(ctx, bytes(m.keyPem), static_cast<long>(m.keyPem.size()),
                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    return fail("node key not usable");
  }
  if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) return fail("node key does not match node.crt");
  if (wolfSSL_CTX_load_verify_buffer(ctx, bytes(m.rootPem), static_cast<long>(m.rootPem.size()),
                                     WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
    return fail("root certificate not usable");
  }
  wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (wolfSSL_CTX_set_cipher_list(ctx, kCiphers) != WOLFSSL_SUCCESS) return fail("cipher list refused");
  // X25519 key shares (one round trip, fast); P-256 as the fallback group.
  int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1};
  (void)wolfSSL_CTX_set_groups(ctx, groups, 2);
  return ctx;
}

}  // namespace

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const Material& m) {
  initWolf();
  std::shared_ptr<TlsContext> c(new TlsContext());
  auto client = makeCtx(m, false);
  if (!client.isOk()) return client.status();
  c->client_ = *client;
  auto server = makeCtx(m, true);
  if (!server.isOk()) return server.status();
  c->server_ = *server;
  c->rootPem_ = m.rootPem;
  c->trustDomain_ = m.trustDomain;
  return std::shared_ptr<const TlsContext>(std::move(c));
}

TlsContext::~TlsContext() {
  if (client_) wolfSSL_CTX_free(client_);
  if (server_) wolfSSL_CTX_free(server_);
}

namespace {
// wolfSSL's writes are taken while the buffer holds less than this; beyond
// it the write waits for the socket (kWantWrite).
constexpr size_t kOutHigh = 1024 * 1024;
}  // namespace

TlsTransport::TlsTransport(std::shared_ptr<const TlsContext> ctx, int fd, bool server)
    : ctx_(std::move(ctx)), fd_(fd) {
  ssl_ = wolfSSL_new(server ? ctx_->server() : ctx_->client());
  if (ssl_ == nullptr) {
    error_ = "wolfSSL_new failed";
    return;
  }
  wolfSSL_SSLSetIORecv(ssl_, &TlsTransport::onRecv);
  wolfSSL_SSLSetIOSend(ssl_, &TlsTransport::onSend);
  wolfSSL_SetIOReadCtx(ssl_, this);
  wolfSSL_SetIOWriteCtx(ssl_, this);
  wolfSSL_set_using_nonblock(ssl_, 1);
}

int TlsTransport::onRecv(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* t = static_cast<TlsTransport*>(ctx);
  if (t->inOff_ == t->inLen_) {
    if (t->peerClosed_) return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    if (t->drained_) return WOLFSSL_CBIO_ERR_WANT_READ;
    if (t->inAlloc_ != t->inCap_) {
      t->in_.reset(new char[t->inCap_]);
      t->inAlloc_ = t->inCap_;
    }
    ssize_t n = ::recv(t->fd_, t->in_.get(), t->inAlloc_, MSG_DONTWAIT);
    if (n <= 0) {
      t->inLen_ = t->inOff_ = 0;
      if (n == 0) {
        t->peerClosed_ = true;
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) return WOLFSSL_CBIO_ERR_WANT_READ;
      if (errno == EINTR) return WOLFSSL_CBIO_ERR_ISR;
      return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
    }
    t->inLen_ = static_cast<size_t>(n);
    t->inOff_ = 0;
    t->drained_ = t->inLen_ < t->inAlloc_;
  }
  size_t take = std::min(static_cast<size_t>(sz), t->inLen_ - t->inOff_);
  std::memcpy(buf, t->in_.get() + t->inOff_, take);
  t->inOff_ += take;
  return static_cast<int>(take);
}

int TlsTransport::onSend(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* t = static_cast<TlsTransport*>(ctx);
  if (t->out_.size() - t->outOff_ >= kOutHigh) {
    if (!t->flushOutput()) return WOLFSSL_CBIO_ERR_CONN_RST;
    if (t->out_.size() - t->outOff_ >= kOutHigh) return WOLFSSL_CBIO_ERR_WANT_WRITE;
  }
  t->out_.append(buf, static_cast<size_t>(sz));
  return sz;
}

bool TlsTransport::flushOutput() {
  while (outOff_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + outOff_, out_.size() - outOff_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      // ENOTCONN: a dialled socket still connecting; it polls writable later.
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) break;
      if (errno == EINTR) continue;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    outOff_ += static_cast<size_t>(n);
  }
  if (outOff_ == out_.size()) {
    out_.clear();
    outOff_ = 0;
  } else if (outOff_ > kOutHigh) {
    out_.erase(0, outOff_);
    outOff_ = 0;
  }
  return true;
}

TlsTransport::~TlsTransport() {
  if (ssl_) wolfSSL_free(ssl_);
}

TlsTransport::Io TlsTransport::classify(int rc, const char* what) {
  int err = wolfSSL_get_error(ssl_, rc);
  if (err == WOLFSSL_ERROR_WANT_READ) return Io::kWantRead;
  if (err == WOLFSSL_ERROR_WANT_WRITE) return Io::kWantWrite;
  if (err == WOLFSSL_ERROR_ZERO_RETURN) return Io::kClosed;
  if (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E) {
    error_ = std::string(what) + ": connection closed by the peer";
    return Io::kClosed;
  }
  char reason[WOLFSSL_MAX_ERROR_SZ];
  error_ = std::string(what) + ": " + wolfSSL_ERR_error_string(static_cast<unsigned long>(err), reason) + " (" +
           std::to_string(err) + ")";
  return Io::kError;
}

TlsTransport::Io TlsTransport::handshake() {
  int rc = wolfSSL_negotiate(ssl_);
  if (rc == WOLFSSL_SUCCESS) return Io::kOk;
  return classify(rc, "handshake");
}

Result<PeerIdentity> TlsTransport::verifyPeer(const std::optional<std::string>& expectedMachine) {
  // The peer's certificates as DER: wolfSSL_get_peer_certificate() returns
  // NULL for Ed25519 certificates (tests/unit/identity/tls_test.cpp).
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl_);
  if (chain == nullptr || wolfSSL_get_chain_count(chain) < 1) {
    return Status(Code::kUnauthorized, "peer sent no certificate");
  }
  const unsigned char* der = wolfSSL_get_chain_cert(chain, 0);
  int derSz = wolfSSL_get_chain_length(chain, 0);
  if (der == nullptr || derSz <= 0) return Status(Code::kUnauthorized, "peer certificate unreadable");
  std::span<const uint8_t> leaf(der, static_cast<size_t>(derSz));
  auto info = identity::parseCertificateDer(leaf);
  if (!info.isOk()) return Status(Code::kUnauthorized, "peer certificate: " + info.status().message());
  if (info->isCa) return Status(Code::kUnauthorized, "peer certificate is a CA, not a node certificate");
  // Signed by the root itself: a node's own CA (node-ca.crt, for workload
  // SVIDs) chains to the root too, and must not vouch for another node.
  Status direct = identity::verifyCertificate(identity::certificateToPem(leaf), ctx_->rootPem());
  if (!direct.isOk()) {
    return Status(Code::kUnauthorized, "peer certificate is not signed by the root directly: " + direct.message());
  }
  std::string prefix = "spiffe://" + ctx_->trustDomain() + "/node/";
  for (const auto& uri : info->uriSans) {
    if (uri.rfind(prefix, 0) != 0) continue;
    std::string machine = uri.substr(prefix.size());
    if (machine.empty() || machine.find('/') != std::string::npos) continue;
    if (expectedMachine && machine != *expectedMachine) {
      return Status(Code::kUnauthorized, "dialled " + *expectedMachine + " but the certificate is " + uri);
    }
    return PeerIdentity{machine, uri, info->notAfter};
  }
  return Status(Code::kUnauthorized, "peer certificate names no node of trust domain " + ctx_->trustDomain());
}

size_t TlsTransport::read(char* buf, size_t len, Io* io) {
  int rc = wolfSSL_read(ssl_, buf, static_cast<int>(len));
  if (rc > 0) return static_cast<size_t>(rc);
  *io = rc == 0 && wolfSSL_get_error(ssl_, rc) == WOLFSSL_ERROR_ZERO_RETURN ? Io::kClosed : classify(rc, "read");
  return 0;
}

size_t TlsTransport::write(const char* buf, size_t len, Io* io) {
  int rc = wolfSSL_write(ssl_, buf, static_cast<int>(len));
  if (rc > 0) return static_cast<size_t>(rc);
  *io = classify(rc, "write");
  return 0;
}

bool TlsTransport::pending() const { return inOff_ < inLen_ || wolfSSL_pending(ssl_) > 0; }

std::string TlsTransport::version() const {
  const char* v = ssl_ ? wolfSSL_get_version(ssl_) : nullptr;
  return v ? v : "";
}

std::string TlsTransport::cipher() const {
  const char* c = ssl_ ? wolfSSL_get_cipher(ssl_) : nullptr;
  return c ? c : "";
}

}  // namespace kith::daemon
