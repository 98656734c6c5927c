// TestClient: a blocking socket-API client for tests, independent of libkith so
// that tests can send exactly the bytes they mean (malformed ones included).
#pragma once

#include <deque>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/socket-api/line_buffer.h"

namespace kith::test {

// A blocking connected AF_UNIX stream socket, or -1 with errno set.
int connectUnix(const std::string& path);

struct Message {
  nlohmann::json json;
  UniqueFd fd;  // set when the message said "fd": true
};

class TestClient {
 public:
  static Result<TestClient> connect(const std::string& path);
  TestClient(TestClient&&) = default;
  TestClient& operator=(TestClient&&) = default;

  // Sends raw bytes.
  Status sendRaw(std::string_view bytes);
  // Sends one request line and returns the next reply (events that arrive
  // first are queued for nextEvent).
  Result<Message> request(nlohmann::json req, int timeoutMs = 10000);
  // Next unsolicited message (or reply, when none is pending), within timeout.
  Result<Message> next(int timeoutMs = 10000);
  Result<Message> nextEvent(int timeoutMs = 10000);
  // Convenience: ok reply fields or the error as a Status.
  static Status statusOf(const Message& m);
  int fd() const { return fd_.get(); }
  void shutdownWrite();

 private:
  TestClient() = default;
  Result<Message> readOne(int timeoutMs);
  UniqueFd fd_;
  api::LineBuffer in_{api::kMaxReplyBytes};
  std::deque<UniqueFd> fds_;
  std::deque<Message> events_;
  int64_t nextId_ = 1;
};

}  // namespace kith::test
