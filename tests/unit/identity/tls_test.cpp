// The identities identity/ makes, used the way the broker will use them: mutual
// TLS 1.3 with wolfSSL between two node certificates, and a workload SVID chain.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kith/common/unique_fd.h"
#include "kith/identity/ca.h"
#include "kith/identity/cert.h"

namespace id = kith::identity;
using id::CertificateAuthority;
using id::SigningKey;

namespace {

using CtxPtr = std::unique_ptr<WOLFSSL_CTX, decltype(&wolfSSL_CTX_free)>;
using SslPtr = std::unique_ptr<WOLFSSL, decltype(&wolfSSL_free)>;
using X509Ptr = std::unique_ptr<WOLFSSL_X509, decltype(&wolfSSL_X509_free)>;

struct Party {
  std::string chainPem;  // leaf first, then intermediates
  std::string keyPem;
  std::string trustPem;
};

CtxPtr makeCtx(const Party& p, bool server) {
  wolfSSL_Init();
  CtxPtr ctx(wolfSSL_CTX_new(server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method()),
             &wolfSSL_CTX_free);
  BOOST_REQUIRE(ctx);
  auto buf = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  BOOST_REQUIRE(wolfSSL_CTX_use_certificate_chain_buffer(ctx.get(), buf(p.chainPem),
                                                         static_cast<long>(p.chainPem.size())) ==
                WOLFSSL_SUCCESS);
  BOOST_REQUIRE(wolfSSL_CTX_use_PrivateKey_buffer(ctx.get(), buf(p.keyPem),
                                                  static_cast<long>(p.keyPem.size()),
                                                  WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS);
  BOOST_REQUIRE(wolfSSL_CTX_check_private_key(ctx.get()) == WOLFSSL_SUCCESS);
  BOOST_REQUIRE(wolfSSL_CTX_load_verify_buffer(ctx.get(), buf(p.trustPem),
                                               static_cast<long>(p.trustPem.size()),
                                               WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS);
  wolfSSL_CTX_set_verify(ctx.get(), WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         nullptr);
  return ctx;
}

struct Outcome {
  bool ok = false;
  std::string peerUri;
  std::string received;
  std::string error;  // wolfSSL's reason when the handshake failed
};

// One side of the handshake; on success sends `say` and reads the other side's line.
Outcome runSide(WOLFSSL_CTX* ctx, int fd, bool server, const std::string& say) {
  Outcome out;
  SslPtr ssl(wolfSSL_new(ctx), &wolfSSL_free);
  if (!ssl || wolfSSL_set_fd(ssl.get(), fd) != WOLFSSL_SUCCESS) return out;
  int rc = server ? wolfSSL_accept(ssl.get()) : wolfSSL_connect(ssl.get());
  if (rc != WOLFSSL_SUCCESS) {
    char reason[WOLFSSL_MAX_ERROR_SZ];
    int err = wolfSSL_get_error(ssl.get(), rc);
    out.error = std::to_string(err) + " " + wolfSSL_ERR_error_string(static_cast<unsigned long>(err), reason);
    return out;
  }
  // The peer's certificates as DER (SESSION_CERTS); see the canary test below
  // for why not wolfSSL_get_peer_certificate().
  WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl.get());
  if (chain == nullptr || wolfSSL_get_chain_count(chain) < 1) {
    out.error = "no peer certificate";
    return out;
  }
  const unsigned char* der = wolfSSL_get_chain_cert(chain, 0);
  int derSz = wolfSSL_get_chain_length(chain, 0);
  if (der == nullptr || derSz <= 0) {
    out.error = "peer certificate has no DER";
    return out;
  }
  auto info = id::parseCertificateDer(std::span<const uint8_t>(der, static_cast<size_t>(derSz)));
  if (!info || info->uriSans.empty()) {
    out.error = "peer certificate: " + (info ? std::string("no URI SAN") : info.status().toString());
    return out;
  }
  out.peerUri = info->uriSans.front();
  if (wolfSSL_write(ssl.get(), say.data(), static_cast<int>(say.size())) !=
      static_cast<int>(say.size())) {
    out.error = "write failed";
    return out;
  }
  char buf[256];
  int n = wolfSSL_read(ssl.get(), buf, sizeof buf);
  if (n <= 0) {
    out.error = "read failed: " + std::to_string(wolfSSL_get_error(ssl.get(), n));
    return out;
  }
  out.received.assign(buf, static_cast<size_t>(n));
  out.ok = true;
  return out;
}

std::pair<Outcome, Outcome> handshake(const Party& server, const Party& client) {
  // A side that gives up closes its socket; the other must see EPIPE, not die.
  ::signal(SIGPIPE, SIG_IGN);
  CtxPtr sctx = makeCtx(server, true);
  CtxPtr cctx = makeCtx(client, false);
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  kith::UniqueFd s(fds[0]), c(fds[1]);
  // A broken handshake must fail the test, not hang it.
  timeval tv{10, 0};
  for (int fd : fds) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  Outcome serverOut;
  std::thread t([&] {
    serverOut = runSide(sctx.get(), s.get(), true, "hello from server");
    ::shutdown(s.get(), SHUT_RDWR);  // unblocks the client if we failed
    // wolfSSL's FP_ECC point cache is per thread (the ECDHE key share uses it)
    // and is only freed by the thread itself.
    wc_ecc_fp_free();
  });
  Outcome clientOut = runSide(cctx.get(), c.get(), false, "hello from client");
  ::shutdown(c.get(), SHUT_RDWR);
  t.join();
  return {serverOut, clientOut};
}

CertificateAuthority makeRoot() {
  auto ca = CertificateAuthority::createRoot(SigningKey::generate(), "kith.test");
  BOOST_REQUIRE(ca.isOk());
  return std::move(ca).value();
}

Party nodeParty(const CertificateAuthority& ca, const char* machine, const std::string& trust) {
  SigningKey key = SigningKey::generate();
  auto cert = ca.issueNodeCertificate(key.publicKey(), machine);
  BOOST_REQUIRE(cert.isOk());
  return {*cert, key.toPkcs8Pem(), trust};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identity_tls)

BOOST_AUTO_TEST_CASE(two_nodes_of_one_ca_complete_mutual_tls13_and_see_each_others_ids) {
  CertificateAuthority ca = makeRoot();
  Party a = nodeParty(ca, "node-a", ca.certificatePem());
  Party b = nodeParty(ca, "node-b", ca.certificatePem());
  auto [server, client] = handshake(a, b);
  BOOST_TEST(server.ok, server.error);
  BOOST_TEST(client.ok, client.error);
  BOOST_TEST(server.peerUri == "spiffe://kith.test/node/node-b");
  BOOST_TEST(client.peerUri == "spiffe://kith.test/node/node-a");
  BOOST_TEST(server.received == "hello from client");
  BOOST_TEST(client.received == "hello from server");
}

BOOST_AUTO_TEST_CASE(node_of_another_ca_is_refused_by_tls) {
  CertificateAuthority ca = makeRoot();
  CertificateAuthority rogue = makeRoot();
  Party a = nodeParty(ca, "node-a", ca.certificatePem());
  Party intruder = nodeParty(rogue, "node-b", ca.certificatePem());
  auto [server, client] = handshake(a, intruder);
  BOOST_TEST(!server.ok);
  BOOST_TEST(server.peerUri.empty());
}

BOOST_AUTO_TEST_CASE(workload_svid_chain_authenticates_a_tls_client) {
  CertificateAuthority ca = makeRoot();
  SigningKey nodeKey = SigningKey::generate();
  auto nodeCaPem = ca.issueNodeCaCertificate(nodeKey.publicKey(), "node-b");
  BOOST_REQUIRE(nodeCaPem.isOk());
  auto nodeCa = CertificateAuthority::load(nodeKey.clone(), *nodeCaPem);
  BOOST_REQUIRE(nodeCa.isOk());
  SigningKey wl = SigningKey::generate();
  const std::string sid = "spiffe://kith.test/dev/web/app1/default/node-b";
  auto svid = nodeCa->issueSvid(wl.publicKey(), sid);
  BOOST_REQUIRE(svid.isOk());

  Party server = nodeParty(ca, "node-a", ca.certificatePem());
  Party workload{*svid + *nodeCaPem, wl.toPkcs8Pem(), ca.certificatePem()};
  auto [s, c] = handshake(server, workload);
  BOOST_TEST(s.ok, s.error);
  BOOST_TEST(c.ok, c.error);
  BOOST_TEST(s.peerUri == sid);
}

// Canary: wolfSSL 5.5.4's OpenSSL-compatible X509 objects cannot hold Ed25519
// certificates, so wolfSSL_get_peer_certificate() is NULL for every kith peer and
// the broker must read the peer chain as DER (wolfSSL_get_peer_chain). When this
// starts failing, a wolfSSL upgrade has lifted the limitation.
BOOST_AUTO_TEST_CASE(wolfssl_x509_objects_cannot_hold_ed25519_certificates) {
  wolfSSL_Init();
  CertificateAuthority ca = makeRoot();
  const std::string& pem = ca.certificatePem();
  X509Ptr x(wolfSSL_X509_load_certificate_buffer(reinterpret_cast<const unsigned char*>(pem.data()),
                                                 static_cast<int>(pem.size()), WOLFSSL_FILETYPE_PEM),
            &wolfSSL_X509_free);
  BOOST_TEST(!x);
}

BOOST_AUTO_TEST_SUITE_END()
