// bench_vhost: the FOKS vhost listener's figures, against a real `kithd --dev`
// with `[vhost] listen` started by this program.
//
//   build/bin/bench_vhost [--quick]
//
//   1. TLS handshakes per second on the vhost listener: 1 host vs 100 hosts on
//      one port, SNI picked at random per connection (the ratio shows the SNI
//      lookup does not scan), 2 client threads; each connection: TCP connect,
//      TLS 1.3 handshake (Ed25519), close.
//   2. Added latency of the routing hop: a fresh connection up to its first
//      64-byte echo, and the echo round trip on an open connection, through the
//      vhost listener (TLS to kithd, PROXY v2 + plain TCP to the backend) side
//      by side with a direct TLS connection to an equivalent TLS echo server
//      (same wolfSSL, same key type), interleaved so noise hits both alike.
// Exit 1 when a phase could not run; figures are printed, never asserted.
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "kith/common/json.h"
#include "kith/identity/host_cert.h"
#include "kith/identity/host_id.h"
#include "kith/identity/keys.h"
#include "kith/socket-api/proxy_header.h"
#include "kithd_process.h"

namespace kith::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double usSince(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

UniqueFd listenLocal(uint16_t* port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd.get(), 512) != 0) return {};
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

UniqueFd dial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return {};
  return fd;
}

// Accepts and serves connections one at a time on one thread: `serve(fd)`.
// One thread on purpose: wolfSSL's ECC fixed-point cache is per thread, and a
// thread per connection would charge the direct baseline a cold cache each
// time while kithd's loop thread keeps a warm one. Phase 2's client is
// sequential, so one at a time is enough.
class Server {
 public:
  Server(std::function<void(UniqueFd)> serve) : serve_(std::move(serve)) {
    fd_ = listenLocal(&port_);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) continue;
        int one = 1;
        ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve_(std::move(c));
      }
    });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  std::function<void(UniqueFd)> serve_;
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The vhost backend: skips the PROXY v2 header, then echoes.
void proxiedEcho(UniqueFd c) {
  std::string in;
  char buf[4096];
  size_t used = 0;
  for (;;) {
    ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
    if (n <= 0) return;
    in.append(buf, static_cast<size_t>(n));
    auto h = api::parseProxyHeader(in, &used);
    if (h.isOk()) break;
    if (h.status().code() != Code::kNotFound) return;
  }
  in.erase(0, used);
  if (!in.empty() && ::send(c.get(), in.data(), in.size(), MSG_NOSIGNAL) < 0) return;
  for (;;) {
    ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
    if (n <= 0) return;
    if (::send(c.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL) < 0) return;
  }
}

using CtxPtr = std::unique_ptr<WOLFSSL_CTX, decltype(&wolfSSL_CTX_free)>;
using SslPtr = std::unique_ptr<WOLFSSL, decltype(&wolfSSL_free)>;

CtxPtr clientCtx() {
  CtxPtr ctx(wolfSSL_CTX_new(wolfTLSv1_3_client_method()), &wolfSSL_CTX_free);
  wolfSSL_CTX_set_verify(ctx.get(), WOLFSSL_VERIFY_NONE, nullptr);
  return ctx;
}

// One TLS connection; `sni` may be empty.
struct TlsConn {
  UniqueFd fd;
  SslPtr ssl{nullptr, &wolfSSL_free};
  bool open(WOLFSSL_CTX* ctx, uint16_t port, const std::string& sni) {
    fd = dial(port);
    if (!fd) return false;
    ssl.reset(wolfSSL_new(ctx));
    if (!sni.empty()) wolfSSL_UseSNI(ssl.get(), WOLFSSL_SNI_HOST_NAME, sni.data(), static_cast<uint16_t>(sni.size()));
    wolfSSL_set_fd(ssl.get(), fd.get());
    return wolfSSL_connect(ssl.get()) == WOLFSSL_SUCCESS;
  }
  bool echo(const std::string& msg) {
    if (wolfSSL_write(ssl.get(), msg.data(), static_cast<int>(msg.size())) != static_cast<int>(msg.size())) return false;
    std::string got;
    char buf[256];
    while (got.size() < msg.size()) {
      int n = wolfSSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return got == msg;
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double p99(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * 99 / 100)];
}

// Handshakes per second with `threads` clients for `count` connections.
double handshakesPerSecond(uint16_t port, const std::vector<std::string>& names, int count, int threads,
                           int* failures) {
  std::atomic<int> next{0}, failed{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      CtxPtr ctx = clientCtx();
      std::mt19937 rng(static_cast<unsigned>(t + 1));
      while (next.fetch_add(1) < count) {
        TlsConn c;
        if (!c.open(ctx.get(), port, names[rng() % names.size()])) ++failed;
        wolfSSL_shutdown(c.ssl.get());
      }
    });
  }
  for (auto& t : ts) t.join();
  double s = usSince(t0) / 1e6;
  *failures = failed.load();
  return count / s;
}

json admin(ApiClient& a, json req) {
  auto r = a.request(std::move(req), 30000);
  if (!r.isOk() || !r->json.value("ok", false)) {
    std::fprintf(stderr, "bench_vhost: %s failed: %s\n", kith::dumpJson(req).c_str(),
                 r.isOk() ? kith::dumpJson(r->json).c_str() : r.status().message().c_str());
    std::exit(1);
  }
  return r->json;
}

int run(bool quick) {
  wolfSSL_Init();
  BenchDir dir;
  std::string cfg = dir.path() + "/kithd.toml";
  std::string policy = dir.path() + "/policy.toml";
  // Vhost streams are connects from the listener's workload: the policy
  // (default deny) must let it reach the backend.
  FILE* p = std::fopen(policy.c_str(), "w");
  std::fputs("[[allow]]\nfrom = \"vhost.kithd.listener.default.*\"\nto = \"bench.be.*.*.*\"\ncross_scope = true\n", p);
  std::fclose(p);
  FILE* f = std::fopen(cfg.c_str(), "w");
  std::fprintf(f, "[vhost]\nlisten = \"127.0.0.1:0\"\n[policy]\nfile = \"%s\"\n", policy.c_str());
  std::fclose(f);
  KithdProcess kithd(selfDir() + "/kithd", dir.path() + "/home", {"--config", cfg});
  if (Status st = kithd.start(); !st.isOk()) {
    std::fprintf(stderr, "bench_vhost: kithd: %s\n", st.message().c_str());
    return 1;
  }
  auto adm = ApiClient::connect(dir.path() + "/home/run/admin.sock");
  auto api = ApiClient::connect(kithd.apiSocket());
  if (!adm.isOk() || !api.isOk()) return 1;
  Server backend(proxiedEcho);
  admin(*api, {{"op", "register"}, {"name", "bench.be.b1.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(backend.port())}});
  const int kHosts = 100;
  std::vector<std::string> names;
  for (int i = 0; i < kHosts; ++i) {
    names.push_back("h" + std::to_string(i) + ".bench.test");
    admin(*adm, {{"op", "host.init"}, {"name", names.back()}, {"backend", "bench.be.*.*.*"}});
  }
  json list = admin(*adm, {{"op", "host.list"}});
  std::string l = list["listen"].get<std::string>();
  uint16_t port = static_cast<uint16_t>(std::stoi(l.substr(l.rfind(':') + 1)));

  int count = quick ? 200 : 2000;
  std::printf("%-58s %12s %12s\n", "figure", "value", "unit");
  int f1 = 0, f100 = 0;
  // Interleave 1-host and 100-host rounds.
  double one = 0, hundred = 0;
  for (int round = 0; round < 2; ++round) {
    one += handshakesPerSecond(port, {names[0]}, count / 2, 2, &f1);
    hundred += handshakesPerSecond(port, names, count / 2, 2, &f100);
  }
  one /= 2;
  hundred /= 2;
  std::printf("%-58s %12.0f %12s\n", "vhost handshakes/s, SNI of 1 host (2 clients)", one, "conn/s");
  std::printf("%-58s %12.0f %12s\n", "vhost handshakes/s, SNI among 100 hosts (2 clients)", hundred, "conn/s");
  std::printf("%-58s %12.2f %12s\n", "ratio 100 hosts / 1 host (1.0 = lookup does not scan)", hundred / one, "x");
  if (f1 + f100) std::printf("%-58s %12d\n", "failed handshakes", f1 + f100);

  // --- phase 2: routing hop vs direct TLS ---
  auto caKey = identity::SigningKey::generate();
  auto hid = identity::HostId::fromHostKey(identity::SigningKey::generate().publicKey());
  auto caPem = identity::issueHostCaCertificate(caKey, hid);
  auto leaf = identity::SigningKey::generate();
  auto cert = identity::issueHostServerCertificate(caKey, *caPem, leaf.publicKey(), "direct.bench.test", hid);
  std::string chain = *cert + *caPem, key = leaf.toPkcs8Pem();
  CtxPtr sctx(wolfSSL_CTX_new(wolfTLSv1_3_server_method()), &wolfSSL_CTX_free);
  wolfSSL_CTX_use_certificate_chain_buffer(sctx.get(), reinterpret_cast<const unsigned char*>(chain.data()),
                                           static_cast<long>(chain.size()));
  wolfSSL_CTX_use_PrivateKey_buffer(sctx.get(), reinterpret_cast<const unsigned char*>(key.data()),
                                    static_cast<long>(key.size()), WOLFSSL_FILETYPE_PEM);
  Server direct([&](UniqueFd c) {
    SslPtr ssl(wolfSSL_new(sctx.get()), &wolfSSL_free);
    wolfSSL_set_fd(ssl.get(), c.get());
    if (wolfSSL_accept(ssl.get()) != WOLFSSL_SUCCESS) return;
    char buf[4096];
    for (;;) {
      int n = wolfSSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) return;
      if (wolfSSL_write(ssl.get(), buf, n) != n) return;
    }
  });
  CtxPtr cctx = clientCtx();
  std::string msg(64, 'x');
  std::vector<double> setupVia, setupDirect, rttVia, rttDirect;
  int rounds = quick ? 50 : 500;
  for (int i = 0; i < rounds; ++i) {
    for (int side = 0; side < 2; ++side) {
      auto t0 = Clock::now();
      TlsConn c;
      bool ok = side == 0 ? c.open(cctx.get(), port, names[static_cast<size_t>(i) % names.size()])
                          : c.open(cctx.get(), direct.port(), "direct.bench.test");
      ok = ok && c.echo(msg);
      if (!ok) {
        std::fprintf(stderr, "bench_vhost: %s echo failed\n", side == 0 ? "vhost" : "direct");
        return 1;
      }
      (side == 0 ? setupVia : setupDirect).push_back(usSince(t0));
      for (int k = 0; k < 10; ++k) {
        auto t1 = Clock::now();
        if (!c.echo(msg)) return 1;
        (side == 0 ? rttVia : rttDirect).push_back(usSince(t1));
      }
      wolfSSL_shutdown(c.ssl.get());
    }
  }
  std::printf("%-58s %12.1f %12s\n", "connect+handshake+first echo, direct TLS (median)", median(setupDirect), "us");
  std::printf("%-58s %12.1f %12s\n", "connect+handshake+first echo, via vhost (median)", median(setupVia), "us");
  std::printf("%-58s %12.1f %12s\n", "  added by the routing hop", median(setupVia) - median(setupDirect), "us");
  std::printf("%-58s %12.1f %12s\n", "64-byte echo RTT, direct TLS (median / p99)", median(rttDirect), "us");
  std::printf("%-58s %12.1f %12s\n", "", p99(rttDirect), "us p99");
  std::printf("%-58s %12.1f %12s\n", "64-byte echo RTT, via vhost (median / p99)", median(rttVia), "us");
  std::printf("%-58s %12.1f %12s\n", "", p99(rttVia), "us p99");
  std::printf("%-58s %12.1f %12s\n", "  added by the routing hop", median(rttVia) - median(rttDirect), "us");
  kithd.stop();
  return 0;
}

}  // namespace
}  // namespace kith::bench

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  return kith::bench::run(quick);
}
