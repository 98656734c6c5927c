// Connection: libkith's side of one socket-API connection to kithd.
//
// It frames requests and replies (one JSON object per line: requests at most
// 64 KiB, replies and events at most kMaxReplyLineBytes),
// pairs descriptors received with SCM_RIGHTS with the "fd": true messages in
// arrival order, and sorts what arrives into three queues: replies, inbound
// streams ("incoming" events) and other events. Requests are synchronous: call()
// sends one and reads until its reply arrives, queueing whatever the daemon sends
// on its own meanwhile, so no event or stream is lost.
//
// A protocol violation (garbage, an oversize line, an unmatched reply id, a
// missing descriptor, a reply timeout) or the daemon closing the socket leaves
// the connection broken: every later call() fails with the same Code::kIo
// status. Already queued events and streams are still handed out.
//
// Owns its socket and every queued descriptor. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/socket-api/line_buffer.h"
#include "kith/socket-api/protocol.h"

namespace kith::client {

// The contract lets reply and event lines be longer than requests (a workloads
// list of a busy machine): clients accept up to 64 MiB.
inline constexpr size_t kMaxReplyLineBytes = api::kMaxReplyBytes;

// One message from the daemon: the parsed object, its original line, and the
// descriptor it carried (invalid unless the message said "fd": true).
struct Message {
  api::Json json;
  std::string line;
  UniqueFd fd;
};

class Connection {
 public:
  // Connects to the Unix socket at `path`. Failure is Code::kIo naming the path.
  static Result<Connection> open(const std::string& path);
  // Adopts an already connected stream socket (tests; socketpair).
  explicit Connection(UniqueFd sock);

  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;

  int fd() const { return sock_.get(); }
  // Per-reply deadline in ms; -1 waits forever.
  void setReplyTimeout(int ms) { replyTimeoutMs_ = ms; }
  bool broken() const { return !brokenStatus_.isOk(); }

  // Sends `request` (a JSON object; an "id" is assigned when it has none) and
  // waits for its reply. `extraWaitMs` extends the reply deadline (resolve's
  // wait_ms). The reply is returned whether ok or not: check
  // api::replyStatus(). An error Status means no usable reply (Code::kIo, or
  // kBadRequest for a request that is too long to send).
  Result<Message> call(api::Json request, int extraWaitMs = 0);

  // The next inbound stream ({"event":"incoming","fd":true,...}) or other event,
  // waiting up to timeoutMs (-1 forever). nullopt when none arrived in time.
  Result<std::optional<Message>> nextIncoming(int timeoutMs);
  Result<std::optional<Message>> nextEvent(int timeoutMs);

  size_t queuedEventsForTest() const { return events_.size(); }
  size_t queuedIncomingForTest() const { return incoming_.size(); }

 private:
  enum class Queue { kIncoming, kEvent };

  Result<std::optional<Message>> nextFrom(Queue q, int timeoutMs);
  // Waits up to timeoutMs for the socket to be readable, reads once and files
  // every complete message. Returns false on timeout. Breaks the connection on
  // EOF, read errors and protocol violations (and returns that status).
  Result<bool> readOnce(int timeoutMs);
  Status fileLine(std::string line);
  Status fail(Status st);
  Status sendAll(const std::string& line);

  UniqueFd sock_;
  api::LineBuffer lines_{kMaxReplyLineBytes};
  std::deque<UniqueFd> fds_;  // received, not yet paired with a message
  std::deque<Message> replies_, incoming_, events_;
  Status brokenStatus_;
  int replyTimeoutMs_ = -1;
  int64_t nextId_ = 1;
};

}  // namespace kith::client
