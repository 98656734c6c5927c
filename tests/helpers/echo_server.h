// EchoServer: a TCP server on 127.0.0.1 (port chosen by the kernel) that
// echoes every byte back, on its own thread, for any number of connections —
// the target of tests that open many streams at once. Stops when destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "kith/common/unique_fd.h"

namespace kith::test {

class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  uint16_t port() const { return port_; }
  // Connections accepted so far / open now.
  size_t accepted() const { return accepted_.load(); }
  size_t open() const { return open_.load(); }

 private:
  void run();
  UniqueFd listen_;
  UniqueFd wake_[2];
  uint16_t port_ = 0;
  std::atomic<size_t> accepted_{0}, open_{0};
  std::thread thread_;
};

// Raises this process's descriptor limit to at least `n` (tests with many
// sockets); returns false if the hard limit is lower.
bool raiseFdLimit(size_t n);

}  // namespace kith::test
