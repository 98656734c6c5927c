// ApiClient: a small socket-API client for the benches — one Unix stream
// connection, newline JSON, SCM_RIGHTS descriptors queued in arrival order and
// paired with "fd": true messages (docs/SOCKET-API.md, "Framing").
//
// Two ways to use it:
//   - request()/next(): blocking with a deadline, replies parsed to JSON;
//   - sendSome()/readAvailable()/nextLine(): non-blocking, raw lines, for the
//     pipelined load driver that polls many connections from one thread and must
//     spend as little CPU as possible on its side of the measurement.
// The socket is non-blocking in both cases. Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/socket-api/line_buffer.h"

namespace kith::bench {

struct Message {
  nlohmann::json json;
  UniqueFd fd;  // set when the message said "fd": true
};

class ApiClient {
 public:
  static Result<ApiClient> connect(const std::string& path);
  ApiClient(ApiClient&&) = default;
  ApiClient& operator=(ApiClient&&) = default;

  int fd() const { return fd_.get(); }

  // Writes all of `bytes`, waiting for room up to timeoutMs.
  Status sendAll(std::string_view bytes, int timeoutMs = 10000);
  // Writes what the socket takes now; returns the byte count (0 when full).
  Result<size_t> sendSome(std::string_view bytes);
  // One non-blocking read into the line buffer (descriptors are queued).
  // EOF and errors are non-ok; nothing to read is ok.
  Status readAvailable();
  // The next complete line already read, without its newline. Does not pair
  // descriptors: for replies that carry none.
  bool nextLine(std::string* line);

  // Waits up to timeoutMs for the next message (reply or event), parsed.
  Result<Message> next(int timeoutMs);
  // Sends one request (an "id" is added when missing) and returns its reply;
  // events that arrive first are kept for nextEvent().
  Result<Message> request(nlohmann::json req, int timeoutMs = 10000);
  // The next event (queued by request(), else read), within timeoutMs.
  Result<Message> nextEvent(int timeoutMs);

 private:
  ApiClient() = default;
  Result<Message> parse(const std::string& line);

  UniqueFd fd_;
  api::LineBuffer in_{api::kMaxReplyBytes};
  std::deque<UniqueFd> fds_;
  std::deque<Message> events_;
  int64_t nextId_ = 1;
};

// A single-line register request with a caller-chosen id, built without
// nlohmann (the load driver formats tens of thousands of them).
std::string registerLine(int64_t id, std::string_view name);

// Cheap check of a compact reply line: true for {"...","ok":true,...}.
inline bool lineIsOk(std::string_view line) { return line.find("\"ok\":true") != line.npos; }

// The error code of a reply line ("OK" when ok; "?" when it cannot be read).
std::string errorCodeOf(std::string_view line);

}  // namespace kith::bench
