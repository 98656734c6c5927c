// Echo peers for the "connect + 1-byte echo" figure, each on its own thread:
//
//   PlainEchoServer  a Unix-socket or TCP 127.0.0.1 listener: accept, echo one
//                    byte, close. The baseline a kith connect is compared with.
//   KithEchoServer   a kith workload: registers, `listen`s on its API
//                    connection, and for each {"event":"incoming","fd":true}
//                    echoes one byte on the stream it was handed, then closes.
//
// Both serve one stream at a time (the client side is sequential), check their
// stop flag at least every 100 ms, and wait at most 2 s for a stream's byte, so
// stop() is bounded. The client side of each variant is a free function that
// does one whole connect + write 1 byte + read it back + close.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <sys/socket.h>

#include "api_client.h"
#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::bench {

class PlainEchoServer {
 public:
  enum class Kind { kUnix, kTcp };
  // kUnix listens on unixPath; kTcp on 127.0.0.1, port chosen by the kernel.
  static Result<std::unique_ptr<PlainEchoServer>> start(Kind kind, const std::string& unixPath);
  ~PlainEchoServer();
  PlainEchoServer(const PlainEchoServer&) = delete;
  PlainEchoServer& operator=(const PlainEchoServer&) = delete;

  // One client round: socket, connect, send 1 byte, read it back, close.
  Status echoOnce() const;
  int64_t served() const { return served_.load(); }

 private:
  PlainEchoServer() = default;
  void run();

  Kind kind_ = Kind::kUnix;
  UniqueFd listen_;
  sockaddr_storage addr_{};
  socklen_t addrLen_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> served_{0};
  std::thread thread_;
};

class KithEchoServer {
 public:
  // Registers `name` admitting `whitelist` (one pattern) and listens.
  static Result<std::unique_ptr<KithEchoServer>> start(const std::string& apiSocket,
                                                       const std::string& name,
                                                       const std::string& whitelist);
  ~KithEchoServer();
  KithEchoServer(const KithEchoServer&) = delete;
  KithEchoServer& operator=(const KithEchoServer&) = delete;

  const std::string& address() const { return address_; }
  int64_t served() const { return served_.load(); }
  // Set when the listener thread stopped on an error.
  std::string error() const;

 private:
  explicit KithEchoServer(ApiClient api) : api_(std::move(api)) {}
  void run();

  ApiClient api_;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> served_{0};
  std::atomic<bool> failed_{false};
  std::string error_;  // written by the thread before failed_ is set
  std::thread thread_;
};

// One kith client round: `connect` to destination (reply carries the stream
// fd), send 1 byte, read it back, close.
Status kithEchoOnce(ApiClient& api, const std::string& token, const std::string& destination);

}  // namespace kith::bench
