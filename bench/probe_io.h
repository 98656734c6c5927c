// Socket helpers and the request/response loop shared by bench_tcp_probe and
// bench_kith_probe, so both measure exactly the same thing: only how the
// connection is opened differs (TCP connect or kith_connect).
#pragma once

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

namespace kith::bench {

// Reads exactly n bytes; false on EOF or an error.
inline bool readFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Writes all of buf to a non-blocking socket, waiting (up to a second at a
// time) while it is full; gives up on an error.
inline void writeAll(int fd, const char* buf, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = ::write(fd, buf + off, n - off);
    if (w < 0) {
      if (errno != EAGAIN) return;
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    off += static_cast<size_t>(w);
  }
}

// One readable echo socket (non-blocking, in an epoll set): reads what it
// holds and writes it back; closes it (leaving the set) at EOF or an error.
inline void echoReadable(int fd, char* buf, size_t size) {
  ssize_t r = ::read(fd, buf, size);
  if (r < 0 && errno == EAGAIN) return;
  if (r <= 0) {
    ::close(fd);
    return;
  }
  writeAll(fd, buf, static_cast<size_t>(r));
}

inline void raiseFdLimit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

// `count` 64-byte round trips on fd (after 100 not measured, at most 30 s),
// then prints "P50 P99" in microseconds. 0 on success.
inline int roundTrips(int fd, int count) {
  using Clock = std::chrono::steady_clock;
  char req[64], resp[64];
  std::memset(req, 'r', sizeof req);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  auto deadline = Clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < count + 100 && Clock::now() < deadline; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, req, sizeof req) != sizeof req || !readFull(fd, resp, sizeof resp)) return 1;
    if (i >= 100) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  if (us.empty()) return 1;
  std::sort(us.begin(), us.end());
  std::printf("%.1f %.1f\n", us[us.size() / 2], us[us.size() * 99 / 100]);
  return 0;
}

}  // namespace kith::bench
