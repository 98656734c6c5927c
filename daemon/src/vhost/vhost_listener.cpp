#include "kith/daemon/vhost/vhost_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "kith/common/json.h"
#include "kith/common/log.h"
#include "kith/daemon/vhost/select_vhost.h"
#include "kith/daemon/vhost/vhost_probe.h"
#include "kith/daemon/tls/vhost_tls.h"
#include "kith/identity/cert.h"
#include "kith/identity/host_cert.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "vhost";
constexpr size_t kMaxRecord = 5 + 16384 + 2048;  // a TLS record with its header, generously
constexpr size_t kMaxProbeRequest = 4096;
constexpr size_t kChunk = 16384;

// IO for wolfSSL: the ClientHello record already read is replayed first.
struct Io {
  int fd = -1;
  std::string prefix;
  size_t off = 0;
};

int ioRecv(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* io = static_cast<Io*>(ctx);
  if (io->off < io->prefix.size()) {
    size_t n = std::min(static_cast<size_t>(sz), io->prefix.size() - io->off);
    std::memcpy(buf, io->prefix.data() + io->off, n);
    io->off += n;
    if (io->off == io->prefix.size()) std::string().swap(io->prefix), io->off = 0;
    return static_cast<int>(n);
  }
  ssize_t n = ::recv(io->fd, buf, static_cast<size_t>(sz), 0);
  if (n > 0) return static_cast<int>(n);
  if (n == 0) return WOLFSSL_CBIO_ERR_CONN_CLOSE;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return WOLFSSL_CBIO_ERR_WANT_READ;
  if (errno == EINTR) return WOLFSSL_CBIO_ERR_ISR;
  if (errno == ECONNRESET) return WOLFSSL_CBIO_ERR_CONN_RST;
  return WOLFSSL_CBIO_ERR_GENERAL;
}

int ioSend(WOLFSSL*, char* buf, int sz, void* ctx) {
  auto* io = static_cast<Io*>(ctx);
  ssize_t n = ::send(io->fd, buf, static_cast<size_t>(sz), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return WOLFSSL_CBIO_ERR_WANT_WRITE;
  if (errno == EINTR) return WOLFSSL_CBIO_ERR_ISR;
  if (errno == ECONNRESET) return WOLFSSL_CBIO_ERR_CONN_RST;
  if (errno == EPIPE) return WOLFSSL_CBIO_ERR_CONN_CLOSE;
  return WOLFSSL_CBIO_ERR_GENERAL;
}

// "ip", port of a socket address.
void splitAddr(const sockaddr_storage& ss, api::ProxyHeader* h, bool src) {
  std::string& addr = src ? h->srcAddr : h->dstAddr;
  uint16_t& port = src ? h->srcPort : h->dstPort;
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    addr.assign(reinterpret_cast<const char*>(&sin->sin_addr), 4);
    port = ntohs(sin->sin_port);
  } else {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    addr.assign(reinterpret_cast<const char*>(&sin6->sin6_addr), 16);
    port = ntohs(sin6->sin6_port);
  }
}

}  // namespace

class VhostListener::Conn {
 public:
  Conn(VhostListener& l, uint64_t id, UniqueFd fd)
      : l_(l), id_(id), fd_(std::move(fd)), poll_(std::make_unique<Poll>(l.loop_, fd_.get())), timer_(l.loop_) {
    io_.fd = fd_.get();
  }
  ~Conn() {
    bpoll_.reset();
    poll_.reset();
  }

  const std::string& hostName() const { return selectedName_; }
  void close(const std::string& why) {
    log::info(kMod, "connection closed", {{"conn", id_}, {"host", selectedName_}, {"reason", why}});
    if (backend_) ::shutdown(backend_.get(), SHUT_RDWR);
    if (ssl_ && state_ == State::kRelay) (void)wolfSSL_shutdown(ssl_.get());
    ::shutdown(fd_.get(), SHUT_RDWR);
    end();
  }

  void start() {
    timer_.start(static_cast<uint64_t>(l_.opts_.handshakeTimeoutMs), 0, [this] {
      log::info(kMod, "client too slow before routing; closed", {{"conn", id_}});
      end();
    });
    arm(UV_READABLE);
  }

 private:
  enum class State { kHello, kHandshake, kPreamble, kProbe, kRouting, kRelay, kClosing };

  void arm(int events) {
    if (!poll_) return;
    Status st = poll_->start(events, [this](int status, int ev) { onClient(status, ev); });
    if (!st.isOk()) end();
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    timer_.stop();
    bpoll_.reset();
    poll_.reset();
    l_.finish(id_);
  }

  // A fatal TLS alert record, sent before any handshake (we picked no context).
  void alertAndEnd(uint8_t description, const std::string& why) {
    const uint8_t rec[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description};
    (void)::send(fd_.get(), rec, sizeof rec, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++l_.stats_.refused;
    log::info(kMod, "connection refused", {{"conn", id_}, {"sni", sni_}, {"reason", why}});
    end();
  }

  // One line to the client over TLS, then close.
  // `detail`, when given, is logged but not sent: what the mesh said about a
  // backend (addresses, targets, policy rules and files) is the operator's.
  void refuse(Code code, const std::string& message, const std::string& detail = "") {
    ++l_.stats_.refused;
    log::info(kMod, "connection refused",
              {{"conn", id_}, {"sni", sni_}, {"code", std::string(codeName(code))},
               {"reason", detail.empty() ? message : message + ": " + detail}});
    sendAndClose("ERR " + std::string(codeName(code)) + " " + message + "\n");
  }

  void sendAndClose(std::string text) {
    state_ = State::kClosing;
    bpoll_.reset();
    toClient_ = std::move(text);
    flushClose();
  }

  void flushClose() {
    if (!toClient_.empty()) {
      int n = wolfSSL_write(ssl_.get(), toClient_.data(), static_cast<int>(toClient_.size()));
      if (n <= 0) {
        int err = wolfSSL_get_error(ssl_.get(), n);
        if (err == WOLFSSL_ERROR_WANT_WRITE) return arm(UV_WRITABLE);
        if (err == WOLFSSL_ERROR_WANT_READ) return arm(UV_READABLE);
        return end();
      }
      toClient_.clear();
    }
    (void)wolfSSL_shutdown(ssl_.get());
    ::shutdown(fd_.get(), SHUT_WR);
    end();
  }

  void onClient(int status, int events) {
    if (status < 0 && state_ != State::kRelay) return end();
    switch (state_) {
      case State::kHello: return readHello();
      case State::kHandshake: return handshake();
      case State::kPreamble: return readPreamble();
      case State::kProbe: return readProbe();
      case State::kRouting: return;
      case State::kRelay: return relayClient(status, events);
      case State::kClosing: return flushClose();
    }
  }

  // --- 1. ClientHello -----------------------------------------------------
  void readHello() {
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return end();
    if (n < 0) return;
    hello_.append(buf, static_cast<size_t>(n));
    if (static_cast<uint8_t>(hello_[0]) != 0x16) {
      ++l_.stats_.refused;
      log::info(kMod, "not TLS; closed", {{"conn", id_}});
      return end();
    }
    if (hello_.size() < 5) return;
    size_t need = 5 + ((static_cast<uint8_t>(hello_[3]) << 8) | static_cast<uint8_t>(hello_[4]));
    if (need > kMaxRecord) return alertAndEnd(50, "ClientHello record too large");
    if (hello_.size() < need) return;
    unsigned char sni[256];
    unsigned int sniLen = sizeof sni - 1;
    int rc = wolfSSL_SNI_GetFromBuffer(reinterpret_cast<const unsigned char*>(hello_.data()),
                                       static_cast<unsigned int>(need), WOLFSSL_SNI_HOST_NAME, sni, &sniLen);
    WOLFSSL_CTX* ctx = nullptr;
    if (rc == WOLFSSL_SUCCESS && sniLen > 0) {
      sni_.assign(reinterpret_cast<char*>(sni), sniLen);
      std::transform(sni_.begin(), sni_.end(), sni_.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      sniHost_ = l_.hosts_.byName(sni_);
      if (!sniHost_) return alertAndEnd(112, "unknown SNI host " + sni_);
      ctx = sniHost_->ctx.get();
    } else {
      ctx = l_.hosts_.defaultCtx();
      if (!ctx) return alertAndEnd(112, "no SNI and no hosts configured");
    }
    ssl_.reset(wolfSSL_new(ctx));
    if (!ssl_) return end();
    io_.prefix = std::move(hello_);
    hello_.clear();
    wolfSSL_SSLSetIORecv(ssl_.get(), ioRecv);
    wolfSSL_SSLSetIOSend(ssl_.get(), ioSend);
    wolfSSL_SetIOReadCtx(ssl_.get(), &io_);
    wolfSSL_SetIOWriteCtx(ssl_.get(), &io_);
    state_ = State::kHandshake;
    handshake();
  }

  // --- 2. handshake -------------------------------------------------------
  void handshake() {
    int rc = wolfSSL_accept(ssl_.get());
    if (rc != WOLFSSL_SUCCESS) {
      int err = wolfSSL_get_error(ssl_.get(), rc);
      if (err == WOLFSSL_ERROR_WANT_READ) return arm(UV_READABLE);
      if (err == WOLFSSL_ERROR_WANT_WRITE) return arm(UV_WRITABLE);
      ++l_.stats_.handshakeFailed;
      log::info(kMod, "TLS handshake failed", {{"conn", id_}, {"sni", sni_}, {"error", sslError(ssl_.get(), rc)}});
      return end();
    }
    // --- 3. identity ---
    if (!sni_.empty()) {  // looked up again after the handshake's waits
      sniHost_ = l_.hosts_.byName(sni_);
      if (!sniHost_) return refuse(Code::kDestinationNotFound, "host " + sni_ + " was removed");
    }
    if (auto der = peerLeafDer(ssl_.get())) {
      auto info = identity::parseCertificateDer(*der);
      if (!info) return refuse(Code::kUnauthorized, "client certificate: " + info.status().message());
      std::string uri;
      for (const auto& u : info->uriSans) {
        if (u.rfind("foks://", 0) == 0) uri = u;
      }
      if (uri.empty()) return refuse(Code::kUnauthorized, "client certificate names no foks:// host");
      auto hid = identity::hostIdOfUri(uri);
      if (!hid) return refuse(Code::kUnauthorized, "client certificate: " + hid.status().message());
      const VhostHost* h = l_.hosts_.byId(*hid);
      if (!h) return refuse(Code::kDestinationNotFound, "client certificate names unknown host " + hid->toString());
      // The no-SNI context trusts every host's CA: the certificate must come
      // from the CA of the host it names.
      if (Status v = identity::verifyCertificate(identity::certificateToPem(*der), h->caPem); !v.isOk()) {
        return refuse(Code::kUnauthorized, "client certificate is not from " + h->name + "'s CA: " + v.message());
      }
      if (sniHost_ && sniHost_ != h) {
        return refuse(Code::kUnauthorized, "client certificate is for host " + h->name + " (" + h->id.toString() +
                                               ") but SNI names " + sniHost_->name);
      }
      identity_ = uri;
      selected_ = h;
    }
    if (l_.opts_.mode == VhostListenerOptions::Mode::kProbe) {
      state_ = State::kProbe;
      return readProbe();
    }
    if (selected_) return route();
    state_ = State::kPreamble;
    readPreamble();
  }

  // Reads decrypted bytes into in_; false when the connection ended.
  enum class ReadResult { kData, kWait, kEof, kError };
  ReadResult readTls(std::string* into, size_t max) {
    char buf[kChunk];
    int n = wolfSSL_read(ssl_.get(), buf, static_cast<int>(std::min(max, sizeof buf)));
    if (n > 0) {
      into->append(buf, static_cast<size_t>(n));
      return ReadResult::kData;
    }
    int err = wolfSSL_get_error(ssl_.get(), n);
    if (err == WOLFSSL_ERROR_WANT_READ) {
      arm(UV_READABLE);
      return ReadResult::kWait;
    }
    if (err == WOLFSSL_ERROR_WANT_WRITE) {
      arm(UV_WRITABLE);
      return ReadResult::kWait;
    }
    if (err == WOLFSSL_ERROR_ZERO_RETURN || err == SOCKET_PEER_CLOSED_E || err == WOLFSSL_CBIO_ERR_CONN_CLOSE) {
      return ReadResult::kEof;
    }
    return ReadResult::kError;
  }

  // --- SELECT-VHOST or the first application bytes -------------------------
  void readPreamble() {
    // Hosts may have been removed while this connection waited: never keep a
    // pointer across a wait, look the SNI host up again.
    if (!sni_.empty()) {
      sniHost_ = l_.hosts_.byName(sni_);
      if (!sniHost_) return refuse(Code::kDestinationNotFound, "host " + sni_ + " was removed");
    }
    SelectVhost sel;
    for (;;) {
      sel = parseSelectVhost(in_);
      if (sel.kind != SelectVhost::Kind::kNeedMore) break;
      ReadResult r = readTls(&in_, kMaxSelectVhostLine - in_.size());
      if (r == ReadResult::kWait) return;
      if (r != ReadResult::kData) return end();
    }
    if (sel.kind == SelectVhost::Kind::kInvalid) return refuse(Code::kBadRequest, sel.error.message());
    if (sel.kind == SelectVhost::Kind::kSelected) {
      in_.erase(0, sel.consumed);
      const VhostHost* h = l_.hosts_.byId(sel.hostId);
      if (!h) return refuse(Code::kDestinationNotFound, "SELECT-VHOST: no host has ID " + sel.hostId.toString());
      if (sniHost_ && h != sniHost_ && h->primary != sniHost_->name) {
        return refuse(Code::kUnauthorized, "SELECT-VHOST names " + h->name + ", which is not " + sniHost_->name +
                                               " nor one of its vhosts");
      }
      selected_ = h;
    } else {
      selected_ = sniHost_;
    }
    if (!selected_) {
      return refuse(Code::kBadRequest, "no host selected: send SNI, a client certificate or SELECT-VHOST <hostid>");
    }
    route();
  }

  // --- probe/beacon --------------------------------------------------------
  void readProbe() {
    while (in_.find('\n') == std::string::npos) {
      if (in_.size() > kMaxProbeRequest) return refuseJson(Code::kBadRequest, "request too long");
      ReadResult r = readTls(&in_, kMaxProbeRequest + 1 - in_.size());
      if (r == ReadResult::kWait) return;
      if (r != ReadResult::kData) return end();
    }
    auto req = parseJson(in_.substr(0, in_.find('\n')));
    if (req.is_discarded()) return refuseJson(Code::kBadRequest, "request is not JSON");
    nlohmann::json reply = answerProbe(l_.hosts_, req, l_.opts_.userPort);
    ++l_.stats_.answered;
    sendAndClose(dumpJson(reply) + "\n");
  }

  void refuseJson(Code code, const std::string& m) {
    ++l_.stats_.refused;
    sendAndClose(dumpJson(nlohmann::json({{"ok", false}, {"error", {{"code", std::string(codeName(code))}, {"message", m}}}})) +
                 "\n");
  }

  // --- 4. route --------------------------------------------------------------
  void route() {
    state_ = State::kRouting;
    if (poll_) poll_->stop();
    if (!l_.route_) return refuse(Code::kInternal, "no route to backends");
    selectedName_ = selected_->name;
    VhostStreamSource src{"vhost:" + selected_->name, identity_};
    std::weak_ptr<bool> alive = l_.alive_;
    VhostListener* l = &l_;
    uint64_t id = id_;
    l_.route_->open(selected_->backend, src, l_.opts_.backendTimeoutMs,
                    [alive, l, id](Status st, UniqueFd backend) {
                      if (alive.expired()) return;
                      auto it = l->conns_.find(id);
                      if (it == l->conns_.end()) return;  // the client went away
                      it->second->routed(std::move(st), std::move(backend));
                    });
  }

 public:
  void routed(Status st, UniqueFd backend) {
    if (ended_) return;
    // The host may have been removed while the backend was dialled.
    selected_ = l_.hosts_.byName(selectedName_);
    sniHost_ = sni_.empty() ? nullptr : l_.hosts_.byName(sni_);
    if (!selected_) return refuse(Code::kDestinationNotFound, "host " + selectedName_ + " was removed");
    if (!st.isOk()) {
      // The broker's code as it is (not found, unauthorized by policy here or
      // on the backend's daemon, unreachable machine, cannot connect); its
      // explanation goes to the log only.
      const char* why = st.code() == Code::kDestinationNotFound     ? "none is registered"
                        : st.code() == Code::kUnauthorized          ? "not allowed by policy"
                        : st.code() == Code::kDestinationUnreachable ? "its machine cannot be reached"
                                                                     : "none accepted the connection";
      return refuse(st.code(), "no backend for " + selected_->name + ": " + why, st.message());
    }
    api::ProxyHeader h;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof peer, ll = sizeof local;
    if (::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &pl) == 0 &&
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&local), &ll) == 0 && peer.ss_family == local.ss_family) {
      h.family = peer.ss_family == AF_INET ? api::ProxyHeader::Family::kInet : api::ProxyHeader::Family::kInet6;
      splitAddr(peer, &h, true);
      splitAddr(local, &h, false);
    }
    h.tlvs.push_back({api::kTlvAuthority, selected_->name});
    h.tlvs.push_back({api::kTlvKithHostId, selected_->id.toString()});
    if (!identity_.empty()) h.tlvs.push_back({api::kTlvKithSpiffeId, identity_});
    auto enc = api::encodeProxyHeader(h);
    if (!enc.isOk()) return refuse(Code::kInternal, "PROXY header: " + enc.status().message());
    toBackend_ = *enc + in_;
    in_.clear();
    backend_ = std::move(backend);
    bpoll_ = std::make_unique<Poll>(l_.loop_, backend_.get());
    timer_.stop();
    ++l_.stats_.routed;
    log::debug(kMod, "routed", {{"conn", id_}, {"host", selected_->name}, {"identity", identity_}});
    state_ = State::kRelay;
    update();
  }

 private:
  // --- relay: TLS <-> backend ------------------------------------------------
  void update() {
    if (ended_) return;
    if (clientEof_ && backendEof_ && toBackend_.empty() && toClient_.empty()) {
      (void)wolfSSL_shutdown(ssl_.get());
      return end();
    }
    int c = 0, b = 0;
    if (!clientEof_ && toBackend_.empty()) c |= UV_READABLE;
    if (!toClient_.empty() || readWantsWrite_) c |= UV_WRITABLE;
    if (!backendEof_ && toClient_.empty()) b |= UV_READABLE;
    if (!toBackend_.empty()) b |= UV_WRITABLE;
    if (c) arm(c); else if (poll_) poll_->stop();
    if (b) {
      Status st = bpoll_->start(b, [this](int status, int ev) { relayBackend(status, ev); });
      if (!st.isOk()) return end();
    } else {
      bpoll_->stop();
    }
  }

  void relayClient(int status, int events) {
    if (status < 0) return end();
    if ((events & UV_WRITABLE) && !toClient_.empty() && !flushToClient()) return end();
    if (!clientEof_ && toBackend_.empty()) {
      readWantsWrite_ = false;
      for (;;) {
        std::string chunk;
        ReadResult r = readTls(&chunk, kChunk);
        if (r == ReadResult::kWait) {
          readWantsWrite_ = wolfSSL_want_write(ssl_.get()) != 0;
          break;
        }
        if (r == ReadResult::kEof) {
          clientEof_ = true;
          break;
        }
        if (r == ReadResult::kError) return end();
        toBackend_ = std::move(chunk);
        if (!flushToBackend()) return end();
        if (!toBackend_.empty()) break;
      }
      if (clientEof_ && toBackend_.empty()) ::shutdown(backend_.get(), SHUT_WR);
    }
    update();
  }

  void relayBackend(int status, int events) {
    if (status < 0) return end();
    if ((events & UV_WRITABLE) && !toBackend_.empty()) {
      if (!flushToBackend()) return end();
      if (clientEof_ && toBackend_.empty()) ::shutdown(backend_.get(), SHUT_WR);
    }
    if ((events & UV_READABLE) && !backendEof_ && toClient_.empty()) {
      for (;;) {
        char buf[kChunk];
        ssize_t n = ::recv(backend_.get(), buf, sizeof buf, 0);
        if (n > 0) {
          toClient_.assign(buf, static_cast<size_t>(n));
          if (!flushToClient()) return end();
          if (!toClient_.empty()) break;
          continue;
        }
        if (n == 0) {
          backendEof_ = true;
          (void)wolfSSL_shutdown(ssl_.get());  // close_notify: the client sees a clean end
          break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        return end();
      }
    }
    update();
  }

  bool flushToBackend() {
    while (!toBackend_.empty()) {
      ssize_t n = ::send(backend_.get(), toBackend_.data(), toBackend_.size(), MSG_NOSIGNAL);
      if (n > 0) {
        toBackend_.erase(0, static_cast<size_t>(n));
        continue;
      }
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
    return true;
  }

  // wolfSSL wants a retried write with the same buffer: toClient_ is kept
  // whole until wolfSSL takes it.
  bool flushToClient() {
    if (toClient_.empty()) return true;
    int n = wolfSSL_write(ssl_.get(), toClient_.data(), static_cast<int>(toClient_.size()));
    if (n > 0) {
      toClient_.erase(0, static_cast<size_t>(n));
      return true;
    }
    int err = wolfSSL_get_error(ssl_.get(), n);
    return err == WOLFSSL_ERROR_WANT_WRITE || err == WOLFSSL_ERROR_WANT_READ;
  }

  VhostListener& l_;
  uint64_t id_;
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  Timer timer_;
  Io io_;
  SslPtr ssl_{nullptr, &wolfSSL_free};
  State state_ = State::kHello;
  bool ended_ = false;
  std::string hello_;
  std::string sni_;
  const VhostHost* sniHost_ = nullptr;
  const VhostHost* selected_ = nullptr;  // valid only until the next wait
  std::string selectedName_;
  std::string identity_;
  std::string in_;  // decrypted client bytes not yet forwarded
  UniqueFd backend_;
  std::unique_ptr<Poll> bpoll_;
  std::string toBackend_, toClient_;
  bool clientEof_ = false, backendEof_ = false, readWantsWrite_ = false;
};

VhostListener::VhostListener(Loop& loop, VhostHosts& hosts, VhostRoute* route, VhostListenerOptions opts)
    : loop_(loop), hosts_(hosts), route_(route), opts_(std::move(opts)) {}

VhostListener::~VhostListener() {
  *alive_ = false;
  poll_.reset();
  conns_.clear();
}

std::string VhostListener::address() const {
  return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

Status VhostListener::start() {
  std::string hostPart, portPart;
  size_t colon = opts_.listen.rfind(':');
  if (colon == std::string::npos) return Status::config("vhost listen '" + opts_.listen + "' is not HOST:PORT");
  hostPart = opts_.listen.substr(0, colon);
  portPart = opts_.listen.substr(colon + 1);
  if (hostPart.size() >= 2 && hostPart.front() == '[' && hostPart.back() == ']') {
    hostPart = hostPart.substr(1, hostPart.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(hostPart.empty() ? nullptr : hostPart.c_str(), portPart.c_str(), &hints, &res);
  if (rc != 0) return Status::config("vhost listen '" + opts_.listen + "': " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
  fd_.reset(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_) return Status::fromErrno("vhost socket", errno);
  int one = 1;
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd_.get(), res->ai_addr, res->ai_addrlen) != 0) {
    return Status::fromErrno("vhost bind " + opts_.listen, errno);
  }
  if (::listen(fd_.get(), 1024) != 0) return Status::fromErrno("vhost listen", errno);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  char ip[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    port_ = ntohs(sin->sin_port);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
    port_ = ntohs(sin6->sin6_port);
  }
  host_ = ip;
  poll_ = std::make_unique<Poll>(loop_, fd_.get());
  KITH_RETURN_IF_ERROR(poll_->start(UV_READABLE, [this](int status, int) {
    if (status >= 0) onAccept();
  }));
  log::info(kMod, opts_.mode == VhostListenerOptions::Mode::kProbe ? "probe listener up" : "vhost listener up",
            {{"address", address()}});
  return Status::ok();
}

void VhostListener::onAccept() {
  for (int i = 0; i < 64; ++i) {
    int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    UniqueFd cfd(c);
    if (conns_.size() >= opts_.maxConnections) {
      ++stats_.refused;
      continue;  // closed at once
    }
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++stats_.accepted;
    uint64_t id = nextId_++;
    auto conn = std::make_unique<Conn>(*this, id, std::move(cfd));
    Conn* raw = conn.get();
    conns_[id] = std::move(conn);
    raw->start();
  }
}

size_t VhostListener::closeHost(const std::string& name) {
  std::vector<uint64_t> doomed;
  for (const auto& [id, c] : conns_) {
    if (c->hostName() == name) doomed.push_back(id);
  }
  for (uint64_t id : doomed) {
    auto it = conns_.find(id);
    if (it != conns_.end()) it->second->close("host " + name + " removed");
  }
  return doomed.size();
}

void VhostListener::finish(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  struct Holder : DeferredDeletable {
    std::unique_ptr<Conn> c;
  };
  auto h = std::make_unique<Holder>();
  h->c = std::move(it->second);
  conns_.erase(it);
  loop_.deferredDelete(std::move(h));
}

}  // namespace kith::daemon
