// bench_kith_probe: the native (libkith) side of bench/tunnel_bench.sh — the
// same figures as bench_tcp_probe's rr and cps, but every stream is opened
// with kith_connect over the client's api.sock connection and handed over as
// a descriptor (SCM_RIGHTS), and the server takes its streams with
// kith_accept. No TCP connection is made per stream: across two daemons the
// path is client ⇄ socketpair ⇄ kithd a ⇄ TLS link ⇄ kithd b ⇄ socketpair ⇄
// server.
//
//   bench_kith_probe [--socket PATH] server NAME [PATTERN...]
//       registers NAME (four labels) with PATTERN... as its whitelist,
//       listens, echoes every stream it accepts (one thread takes streams
//       from the daemon, one epoll thread echoes them); prints
//       "ready ADDRESS" once listening; runs until killed
//   bench_kith_probe [--socket PATH] rr NAME DEST COUNT
//       registers NAME, one kith_connect to DEST, COUNT 64-byte
//       request/response round trips: "p50_us p99_us"
//   bench_kith_probe [--socket PATH] cps NAME DEST SECONDS
//       registers NAME; 4 client threads (each its own api.sock connection
//       acting for that registration) do kith_connect + 1-byte echo + close
//       for SECONDS: "N_per_s failed"
//
// The socket is --socket, else libkith's lookup ($KITH_SOCKET, then
// $KITH_HOME/run/api.sock). rr and cps are bench_tcp_probe's loops with
// dial() replaced by kith_connect, so their figures sit in the same table.
// Every loop is bounded by its count and by a deadline.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>

#include "kith.h"

#include "probe_io.h"

namespace {

using namespace kith::bench;

using Clock = std::chrono::steady_clock;

const char* gSocket = nullptr;  // nullptr: libkith's lookup

kith_client* openClient() {
  kith_client* c = nullptr;
  char err[256] = "";
  if (kith_open_ex(gSocket, &c, err, sizeof err) != KITH_OK) {
    std::fprintf(stderr, "bench_kith_probe: %s\n", err);
    return nullptr;
  }
  // No reply timeout, as a workload has by default (libkith then waits in
  // recvmsg alone, without a poll() first); main()'s alarm bounds the run.
  return c;
}

bool fail(kith_client* c, const char* what) {
  std::fprintf(stderr, "bench_kith_probe: %s: %s: %s\n", what, kith_error_code(c), kith_error_message(c));
  return false;
}

// Registers `name` on c (whitelist: patterns). Returns false with a message.
bool registerAs(kith_client* c, const char* name, const std::vector<const char*>& patterns) {
  kith_register_options o{};
  o.name = name;
  o.whitelist = patterns.empty() ? nullptr : patterns.data();
  o.whitelist_len = patterns.size();
  kith_registration r{};
  if (kith_register(c, &o, &r) != KITH_OK) return fail(c, "register");
  return true;
}

// Opens a stream to dest; -1 on failure (the reason is on c). The stream gets
// the same 10 s read timeout as bench_tcp_probe's dial().
int kithDial(kith_client* c, const char* dest) {
  kith_connection conn{};
  if (kith_connect(c, dest, nullptr, &conn) != KITH_OK) return -1;
  timeval tv{10, 0};
  ::setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return conn.fd;
}

// The echo side: the main thread blocks in kith_accept and hands each stream
// to an epoll thread that echoes it (as bench_tcp_probe's echo server does for
// TCP), so taking streams from the daemon and echoing bytes overlap.
int server(const char* name, const std::vector<const char*>& patterns) {
  raiseFdLimit();
  kith_client* c = openClient();
  if (c == nullptr) return 1;
  if (!registerAs(c, name, patterns)) return 1;
  if (kith_listen(c) != KITH_OK) return fail(c, "listen"), 1;
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::thread echo([ep] {
    std::vector<epoll_event> evs(256);
    char buf[65536];
    for (;;) {
      int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
      for (int i = 0; i < n; ++i) echoReadable(evs[i].data.fd, buf, sizeof buf);
    }
  });
  echo.detach();
  std::printf("ready %s\n", name);
  std::fflush(stdout);
  for (;;) {
    kith_incoming in{};
    kith_status st = kith_accept(c, -1, &in);
    if (st == KITH_AGAIN) continue;
    if (st != KITH_OK) return fail(c, "accept"), 1;
    ::fcntl(in.fd, F_SETFL, ::fcntl(in.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{EPOLLIN, {.fd = in.fd}};
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, in.fd, &ev) != 0) ::close(in.fd);
  }
}

int rr(const char* name, const char* dest, int count) {
  kith_client* c = openClient();
  if (c == nullptr || !registerAs(c, name, {})) return 1;
  int fd = kithDial(c, dest);
  if (fd < 0) return fail(c, "connect"), 1;
  int rc = roundTrips(fd, count);
  ::close(fd);
  kith_close(c);
  return rc;
}

// bench_tcp_probe cps with kith_connect for dial(): the same 4 threads, the
// same 1-byte echo. Each thread has its own api.sock connection (a
// kith_client is not thread-safe) acting for the one registration.
int cps(const char* name, const char* dest, double seconds) {
  kith_client* owner = openClient();
  if (owner == nullptr || !registerAs(owner, name, {})) return 1;
  std::string token = kith_token(owner);
  std::vector<kith_client*> clients;
  for (int t = 0; t < 4; ++t) {
    kith_client* c = openClient();
    if (c == nullptr) return 1;
    kith_set_token(c, token.c_str());
    clients.push_back(c);
  }
  std::atomic<long> done{0}, failed{0};
  std::atomic<bool> reported{false};
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  for (kith_client* c : clients) {
    ts.emplace_back([&, c] {
      char b = 'x';
      while (Clock::now() < end) {
        int fd = kithDial(c, dest);
        if (fd < 0 || ::write(fd, &b, 1) != 1 || !readFull(fd, &b, 1)) {
          ++failed;
          if (fd < 0 && !reported.exchange(true)) fail(c, "connect");
          if (fd >= 0) ::close(fd);
          // A broken client (a reply that never came) fails every later call.
          if (fd < 0 && std::strcmp(kith_error_code(c), "IO") == 0) return;
          continue;
        }
        ::close(fd);
        ++done;
      }
    });
  }
  for (auto& t : ts) t.join();
  for (kith_client* c : clients) kith_close(c);
  kith_close(owner);
  std::printf("%.0f %ld\n", static_cast<double>(done.load()) / seconds, failed.load());
  return done.load() > 0 ? 0 : 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_kith_probe [--socket PATH] server NAME [PATTERN...] | rr NAME DEST COUNT | "
               "cps NAME DEST SECONDS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  if (argc > 2 && std::strcmp(argv[1], "--socket") == 0) {
    gSocket = argv[2];
    i = 3;
  }
  std::string mode = argc > i ? argv[i] : "";
  int rest = argc - i - 1;  // arguments after the mode
  char** a = argv + i + 1;
  if (mode == "server" && rest >= 1) return server(a[0], std::vector<const char*>(a + 1, a + rest));
  // A daemon that stops answering must not hang the bench: SIGALRM ends it.
  if (mode == "rr" && rest == 3) return ::alarm(60), rr(a[0], a[1], std::atoi(a[2]));
  if (mode == "cps" && rest == 3) return ::alarm(static_cast<unsigned>(std::atof(a[2])) + 30), cps(a[0], a[1], std::atof(a[2]));
  return usage();
}
