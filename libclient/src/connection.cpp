#include "connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "kith/common/json.h"
#include "kith/socket-api/fd_passing.h"
#include "kith/socket-api/protocol.h"

namespace kith::client {
namespace {

// Replies nest a few levels (workload lists, log records with fields); anything
// deeper than this is not something kithd sends, and refusing it up front keeps
// a hostile peer from costing us stack or time.
constexpr int kMaxReplyDepth = 64;
constexpr size_t kReadChunk = 65536;


int64_t monotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Remaining ms until `deadline` (-1: none) for poll().
int remainingMs(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - monotonicMs();
  return left <= 0 ? 0 : static_cast<int>(left > INT32_MAX ? INT32_MAX : left);
}

Status protocolError(const std::string& what) {
  return Status::io("protocol error", what);
}

bool carriesFd(const api::Json& j) {
  auto it = j.find("fd");
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

Result<Connection> Connection::open(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty()) return Status::io("cannot connect", "empty socket path");
  if (path.size() >= sizeof addr.sun_path) {
    return Status::io("cannot connect to " + path, "socket path too long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return Status::fromErrno("socket", errno);
  int rc;
  do {
    rc = ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    return Status(Code::kIo, "cannot connect to " + path + ": " + std::strerror(err));
  }
  return Connection(std::move(sock));
}

Connection::Connection(UniqueFd sock) : sock_(std::move(sock)) {}

Status Connection::fail(Status st) {
  if (brokenStatus_.isOk()) brokenStatus_ = std::move(st);
  return brokenStatus_;
}

Status Connection::sendAll(const std::string& line) {
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::send(sock_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Status::fromErrno("write to kithd", errno));
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

Result<Message> Connection::call(api::Json request, int extraWaitMs) {
  if (broken()) return brokenStatus_;
  if (!request.is_object()) return Status::badRequest("request must be a JSON object");
  auto idIt = request.find("id");
  if (idIt == request.end() || idIt->is_null()) {
    request["id"] = nextId_++;
  }
  api::Json id = request["id"];
  std::string line = api::toLine(request);
  if (line.size() > api::kMaxLineBytes) {
    return Status::badRequest("request is " + std::to_string(line.size()) +
                              " bytes; the limit is " + std::to_string(api::kMaxLineBytes));
  }
  // Replies are answered in order and requests are synchronous, so a reply
  // already queued now was never asked for.
  if (!replies_.empty()) return fail(protocolError("unsolicited reply from kithd"));
  KITH_RETURN_IF_ERROR(sendAll(line));

  int64_t deadline = -1;
  if (replyTimeoutMs_ >= 0) {
    deadline = monotonicMs() + replyTimeoutMs_ + (extraWaitMs > 0 ? extraWaitMs : 0);
  }
  while (replies_.empty()) {
    auto got = readOnce(remainingMs(deadline));
    if (!got.isOk()) return got.status();
    if (!*got && replies_.empty() && deadline >= 0 && remainingMs(deadline) == 0) {
      auto op = request.find("op");
      std::string opName = op != request.end() && op->is_string() ? op->get<std::string>() : "";
      int waited = replyTimeoutMs_ + (extraWaitMs > 0 ? extraWaitMs : 0);
      return fail(Status(Code::kIo, "no reply from kithd within " + std::to_string(waited) +
                                        " ms to '" + opName + "'"));
    }
  }
  Message reply = std::move(replies_.front());
  replies_.pop_front();
  auto rid = reply.json.find("id");
  // A reply with a null id answers a line the daemon could not parse; ours
  // always parse, but accept it rather than wedge on the daemon's word.
  if (rid != reply.json.end() && !rid->is_null() && *rid != id) {
    return fail(protocolError("reply id " + rid->dump() + " does not match request id " +
                              dumpJson(id)));
  }
  return reply;
}

Result<std::optional<Message>> Connection::nextIncoming(int timeoutMs) {
  return nextFrom(Queue::kIncoming, timeoutMs);
}

Result<std::optional<Message>> Connection::nextEvent(int timeoutMs) {
  return nextFrom(Queue::kEvent, timeoutMs);
}

Result<std::optional<Message>> Connection::nextFrom(Queue q, int timeoutMs) {
  std::deque<Message>& queue = q == Queue::kIncoming ? incoming_ : events_;
  int64_t deadline = timeoutMs < 0 ? -1 : monotonicMs() + timeoutMs;
  for (;;) {
    if (!queue.empty()) {
      Message m = std::move(queue.front());
      queue.pop_front();
      return std::optional<Message>(std::move(m));
    }
    if (broken()) return brokenStatus_;
    // Nothing is outstanding, so any reply now is one nobody asked for.
    if (!replies_.empty()) return fail(protocolError("unsolicited reply from kithd"));
    int wait = remainingMs(deadline);
    auto got = readOnce(wait);
    if (!got.isOk()) {
      if (!queue.empty()) continue;  // deliver what arrived before the failure
      return got.status();
    }
    if (!*got && queue.empty() && wait == 0) return std::optional<Message>();
  }
}

Result<bool> Connection::readOnce(int timeoutMs) {
  if (broken()) return brokenStatus_;
  // Without a deadline the read itself waits (the socket from open() is
  // blocking): one syscall per message instead of poll() + recvmsg(), which
  // is one of the few a kith_connect or kith_accept makes. A non-blocking
  // socket (adopted) says EAGAIN, and then poll() waits as with a deadline.
  bool waited = false;
  auto waitReadable = [&]() -> Result<bool> {
    pollfd p{sock_.get(), POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, timeoutMs);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return fail(Status::fromErrno("poll", errno));
    waited = true;
    return rc > 0;
  };
  if (timeoutMs >= 0) {
    auto ready = waitReadable();
    if (!ready.isOk() || !*ready) return ready;
  }
  char buf[kReadChunk];
  ssize_t n = api::recvWithFds(sock_.get(), buf, sizeof buf, &fds_);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !waited) {
    auto ready = waitReadable();
    if (!ready.isOk() || !*ready) return ready;
    n = api::recvWithFds(sock_.get(), buf, sizeof buf, &fds_);
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    return fail(Status::fromErrno("read from kithd", errno));
  }
  if (n == 0) {
    return fail(Status(Code::kIo, lines_.pending() > 0
                                      ? "kithd closed the connection mid-message"
                                      : "kithd closed the connection"));
  }
  lines_.append(std::string_view(buf, static_cast<size_t>(n)));
  api::LineBuffer::Item item;
  while (lines_.next(&item)) {
    if (item.kind == api::LineBuffer::Kind::kOversize) {
      return fail(protocolError("a message from kithd exceeds " +
                                std::to_string(kMaxReplyLineBytes) + " bytes"));
    }
    KITH_RETURN_IF_ERROR(fileLine(std::move(item.line)));
  }
  return true;
}

Status Connection::fileLine(std::string line) {
  if (line.empty()) return Status::ok();  // tolerate blank lines
  if (!api::jsonDepthWithin(line, kMaxReplyDepth)) return fail(protocolError("message from kithd nests too deep"));
  api::Json j = parseJson(line);
  if (j.is_discarded()) return fail(protocolError("message from kithd is not valid JSON"));
  if (!j.is_object()) return fail(protocolError("message from kithd is not a JSON object"));
  Message m;
  if (carriesFd(j)) {
    // The descriptor travels with the line's first byte, so by the time the
    // line is complete it has been received and queued in order.
    if (fds_.empty()) {
      return fail(protocolError("message says \"fd\": true but no descriptor arrived"));
    }
    m.fd = std::move(fds_.front());
    fds_.pop_front();
  }
  bool isEvent = j.contains("event") && !j.contains("ok");
  bool isIncoming = isEvent && j["event"].is_string() && j["event"] == "incoming";
  m.json = std::move(j);
  m.line = std::move(line);
  if (isIncoming) {
    if (!m.fd) return fail(protocolError("incoming stream without a descriptor"));
    incoming_.push_back(std::move(m));
  } else if (isEvent) {
    m.fd.reset();  // events other than incoming carry nothing we hand out
    events_.push_back(std::move(m));
  } else {
    replies_.push_back(std::move(m));
  }
  return Status::ok();
}

}  // namespace kith::client
