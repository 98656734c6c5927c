// bench_tcp_probe: the client and echo server behind bench/tunnel_bench.sh.
//
//   bench_tcp_probe echo PORTFILE           echo server on 127.0.0.1:0 (epoll, any
//                                           number of connections); writes its
//                                           port to PORTFILE; runs until killed
//   bench_tcp_probe rr HOST:PORT COUNT      one connection, COUNT 64-byte
//                                           request/response round trips:
//                                           "p50_us P99_us"
//   bench_tcp_probe cps HOST:PORT SECONDS   new connections per second, each
//                                           connect + 1-byte echo + close, for
//                                           SECONDS (4 client threads): "N_per_s"
//   bench_tcp_probe relay PORTFILE HOST:PORT  the floor of any relay: one
//                                           thread, epoll, plain TCP, no
//                                           framing, no crypto; each accepted
//                                           connection dials HOST:PORT and
//                                           bytes are copied both ways
//   bench_tcp_probe freeport                a free port on 127.0.0.1
//   bench_tcp_probe hold HOST:PORT N        opens N connections (each echoes one
//                                           byte first), prints "held N", then
//                                           holds them until stdin closes
//
// Every loop is bounded by its count and by a deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "probe_io.h"

namespace {

using namespace kith::bench;

using Clock = std::chrono::steady_clock;

sockaddr_in parseAddr(const std::string& hp) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  size_t colon = hp.rfind(':');
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(hp.c_str() + colon + 1)));
  ::inet_pton(AF_INET, hp.substr(0, colon).c_str(), &sa.sin_addr);
  return sa;
}

int dial(const sockaddr_in& sa) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A non-blocking listener on 127.0.0.1:0 whose port goes to portFile, in a
// new epoll set: returns the epoll descriptor (-1 on failure) and *listener.
int listenLoopback(const char* portFile, int* listener) {
  raiseFdLimit();
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(l, 4096) != 0) return -1;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len);
  std::ofstream(portFile) << ntohs(sa.sin_port) << "\n";
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = l}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  *listener = l;
  return ep;
}

int echoServer(const char* portFile) {
  int l = -1;
  int ep = listenLoopback(portFile, &l);
  if (ep < 0) return 1;
  std::vector<epoll_event> evs(256);
  char buf[65536];
  for (;;) {
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == l) {
        for (;;) {
          int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c < 0) break;
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event ce{EPOLLIN, {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      // Echoes are small (rr, cps, hold): a blocking-ish write is fine.
      echoReadable(fd, buf, sizeof buf);
    }
  }
}

// Less work per connection and per message than any relay can do: what it
// measures bounds from above what kith's daemons could reach on this machine.
int relay(const char* portFile, const std::string& upstream) {
  sockaddr_in up = parseAddr(upstream);
  int l = -1;
  int ep = listenLoopback(portFile, &l);
  if (ep < 0) return 1;
  std::vector<int> peer(1 << 20, -1);  // fd -> the other end of its pair
  std::vector<char> eof(1 << 20, 0);   // fd has read EOF
  std::vector<epoll_event> evs(256);
  char buf[65536];
  auto closePair = [&](int fd) {
    int o = peer[fd];
    peer[fd] = -1;
    ::close(fd);
    if (o >= 0) {
      peer[o] = -1;
      ::close(o);
    }
  };
  for (;;) {
    int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == l) {
        for (;;) {
          int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c < 0) break;
          int u = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ::setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          // Blocking connect: on loopback it completes inside the call.
          if (u < 0 || c >= static_cast<int>(peer.size()) || u >= static_cast<int>(peer.size()) ||
              ::connect(u, reinterpret_cast<const sockaddr*>(&up), sizeof up) != 0) {
            ::close(c);
            if (u >= 0) ::close(u);
            continue;
          }
          int fl = SOCK_NONBLOCK;
          ::ioctl(u, FIONBIO, &fl);
          peer[c] = u;
          peer[u] = c;
          eof[c] = eof[u] = 0;
          epoll_event ce{EPOLLIN, {.fd = c}};
          epoll_event ue{EPOLLIN, {.fd = u}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
          ::epoll_ctl(ep, EPOLL_CTL_ADD, u, &ue);
        }
        continue;
      }
      if (peer[fd] < 0) continue;  // closed earlier in this batch
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) {
        eof[fd] = 1;
        if (r < 0 || eof[peer[fd]]) {
          closePair(fd);
        } else {
          ::shutdown(peer[fd], SHUT_WR);
          ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
        }
        continue;
      }
      writeAll(peer[fd], buf, static_cast<size_t>(r));
    }
  }
}

int rr(const std::string& hp, int count) {
  sockaddr_in sa = parseAddr(hp);
  int fd = dial(sa);
  if (fd < 0) return 1;
  int rc = roundTrips(fd, count);
  ::close(fd);
  return rc;
}

int cps(const std::string& hp, double seconds) {
  sockaddr_in sa = parseAddr(hp);
  std::atomic<long> done{0}, failed{0};
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      char b = 'x';
      while (Clock::now() < end) {
        int fd = dial(sa);
        if (fd < 0 || ::write(fd, &b, 1) != 1 || !readFull(fd, &b, 1)) {
          ++failed;
          if (fd >= 0) ::close(fd);
          continue;
        }
        // Linger 0: no TIME_WAIT pile-up on loopback across thousands of runs.
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
        ++done;
      }
    });
  }
  for (auto& t : ts) t.join();
  std::printf("%.0f %ld\n", static_cast<double>(done.load()) / seconds, failed.load());
  return done.load() > 0 ? 0 : 1;
}

int hold(const std::string& hp, int n) {
  raiseFdLimit();
  sockaddr_in sa = parseAddr(hp);
  std::vector<int> fds;
  auto deadline = Clock::now() + std::chrono::seconds(120);
  char b = 'h';
  for (int i = 0; i < n && Clock::now() < deadline; ++i) {
    int fd = dial(sa);
    if (fd < 0 || ::write(fd, &b, 1) != 1 || !readFull(fd, &b, 1)) {
      std::printf("failed at %d\n", i);
      std::fflush(stdout);
      if (fd >= 0) ::close(fd);
      break;
    }
    fds.push_back(fd);
  }
  std::printf("held %zu\n", fds.size());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  for (int fd : fds) ::close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo" && argc == 3) return echoServer(argv[2]);
  if (mode == "relay" && argc == 4) return relay(argv[2], argv[3]);
  if (mode == "freeport" && argc == 2) {
    // A port free on 127.0.0.1 now (for tools that cannot take port 0).
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    std::printf("%d\n", ntohs(sa.sin_port));
    ::close(fd);
    return 0;
  }
  if (mode == "rr" && argc == 4) return rr(argv[2], std::atoi(argv[3]));
  if (mode == "cps" && argc == 4) return cps(argv[2], std::atof(argv[3]));
  if (mode == "hold" && argc == 4) return hold(argv[2], std::atoi(argv[3]));
  std::fprintf(stderr, "usage: bench_tcp_probe echo PORTFILE | relay PORTFILE HOST:PORT | rr HOST:PORT N | cps HOST:PORT SECONDS | "
                       "hold HOST:PORT N\n");
  return 2;
}
