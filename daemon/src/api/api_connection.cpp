#include "kith/daemon/api/api_connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include <cerrno>

#include "kith/common/log.h"
#include "kith/daemon/observability/metrics.h"
#include "kith/socket-api/fd_passing.h"
#include "kith/socket-api/protocol.h"

namespace kith::daemon {

// ---- Reply ------------------------------------------------------------------

Reply::Reply(std::weak_ptr<ApiConnection> conn, uint64_t slot, nlohmann::json id)
    : conn_(std::move(conn)), slot_(slot), id_(std::move(id)) {}

Reply::Reply(Reply&& o) noexcept
    : conn_(std::move(o.conn_)), slot_(o.slot_), id_(std::move(o.id_)), sent_(o.sent_) {
  o.sent_ = true;
}

Reply::~Reply() {
  if (!sent_) error(Status::internal("the daemon dropped this request"));
}

void Reply::ok(nlohmann::json fields) {
  nlohmann::json r = api::okReply(id_);
  for (auto& [k, v] : fields.items()) r[k] = std::move(v);
  send(std::move(r), UniqueFd());
}

void Reply::okWithFd(nlohmann::json fields, UniqueFd fd) {
  nlohmann::json r = api::okReply(id_);
  for (auto& [k, v] : fields.items()) r[k] = std::move(v);
  r["fd"] = true;
  send(std::move(r), std::move(fd));
}

void Reply::error(const Status& st) {
  if (!sent_) countApiError(st.code());
  send(api::errorReply(id_, st), UniqueFd());
}

void Reply::send(nlohmann::json msg, UniqueFd fd) {
  if (sent_) return;
  sent_ = true;
  if (auto c = conn_.lock()) c->fillSlot(slot_, api::toLine(msg), std::move(fd));
}

// ---- ApiConnection ----------------------------------------------------------

ApiConnection::ApiConnection(Loop& loop, UniqueFd fd, Kind kind, Caller caller)
    : loop_(loop), fd_(std::move(fd)), kind_(kind), caller_(std::move(caller)), poll_(std::make_unique<Poll>(loop, fd_.get())) {}

ApiConnection::~ApiConnection() {
  if (flushScheduled_) loop_.cancelIterationEnd(this);
}

Status ApiConnection::start(RequestFn onRequest, ClosedFn onClosed) {
  onRequest_ = std::move(onRequest);
  onClosed_ = std::move(onClosed);
  updatePoll();
  return Status::ok();
}

void ApiConnection::updatePoll() {
  if (closed_) return;
  int events = 0;
  bool backpressured = slots_.size() >= kMaxOutstanding || queuedBytes_ >= kMaxQueuedBytes;
  if (!peerEof_ && !backpressured) events |= UV_READABLE;
  if (!out_.empty()) events |= UV_WRITABLE;
  if (events == 0 && peerEof_ && slots_.empty() && out_.empty()) {
    close();
    return;
  }
  // libuv re-registers the descriptor with epoll on every uv_poll_start, so
  // only re-arm when the wanted events change.
  if (events == armed_) return;
  armed_ = events;
  if (events == 0) {
    poll_->stop();
    return;
  }
  auto self = weak_from_this();
  Status st = poll_->start(events, [self](int status, int ev) {
    auto c = self.lock();
    if (!c || c->closed_) return;
    if (status < 0) {
      c->close();
      return;
    }
    if (ev & UV_WRITABLE) c->flush();
    if (!c->closed_ && (ev & UV_READABLE)) c->onReadable();
    if (!c->closed_) c->updatePoll();
  });
  if (!st.isOk()) close();
}

void ApiConnection::onReadable() {
  // Replies made while reading are flushed together at the end of the burst.
  inRead_ = true;
  char buf[16384];
  // Bounded work per wakeup keeps one chatty client from starving others.
  for (int round = 0; round < 4 && !closed_; ++round) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      inRead_ = false;
      close();
      return;
    }
    if (n == 0) {
      // Half-close: answer what was asked, then close.
      peerEof_ = true;
      break;
    }
    in_.append(std::string_view(buf, static_cast<size_t>(n)));
    api::LineBuffer::Item item;
    while (!closed_ && in_.next(&item)) handleLine(item);
    if (slots_.size() >= kMaxOutstanding || queuedBytes_ >= kMaxQueuedBytes) break;
    // A short read took everything the socket held: another recv() would
    // only say EAGAIN (one wasted syscall per request); the poll is
    // level-triggered, so anything that arrives meanwhile wakes us again.
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  inRead_ = false;
  // Answers made synchronously while reading go out now, together.
  flush();
  updatePoll();
}

void ApiConnection::handleLine(const api::LineBuffer::Item& item) {
  uint64_t slot = firstSlot_ + slots_.size();
  slots_.emplace_back();
  auto fail = [&](const Status& st) { Reply(weak_from_this(), slot, nullptr).error(st); };
  if (item.kind == api::LineBuffer::Kind::kOversize) {
    fail(Status::badRequest("request line longer than " + std::to_string(api::kMaxLineBytes) +
                            " bytes"));
    return;
  }
  if (item.line.empty()) {
    fail(Status::badRequest("empty request line"));
    return;
  }
  auto req = api::parseRequest(item.line);
  if (!req.isOk()) {
    fail(req.status());
    return;
  }
  nlohmann::json id = req->contains("id") ? (*req)["id"] : nlohmann::json(nullptr);
  Reply reply(weak_from_this(), slot, std::move(id));
  onRequest_(*this, std::move(req).value(), std::move(reply));
}

void ApiConnection::fillSlot(uint64_t slot, std::string line, UniqueFd fd) {
  if (closed_ || slot < firstSlot_ || slot >= firstSlot_ + slots_.size()) return;
  Slot& s = slots_[slot - firstSlot_];
  if (s.filled) return;
  s.filled = true;
  s.line = std::move(line);
  s.fd = std::move(fd);
  while (!slots_.empty() && slots_.front().filled) {
    enqueue(std::move(slots_.front().line), std::move(slots_.front().fd));
    slots_.pop_front();
    ++firstSlot_;
  }
  // Inside a read burst, onReadable flushes at its end.
  if (!inRead_) scheduleFlush();
}

void ApiConnection::pushEvent(const nlohmann::json& msg, UniqueFd fd) {
  if (closed_) return;
  enqueue(api::toLine(msg), std::move(fd));
  if (!inRead_) scheduleFlush();
}

// Not sent at once, so that every reply and event completed in this loop
// iteration leaves together (one syscall), and not by arming for writability
// either: that re-registers the descriptor with epoll twice (on and off) and
// costs a loop iteration per answer (a `connect` reply waited for the next
// epoll_wait). A socket that cannot take it all is armed by updatePoll.
void ApiConnection::scheduleFlush() {
  if (flushScheduled_ || closed_) return;
  flushScheduled_ = true;
  loop_.atIterationEnd(this);
}

void ApiConnection::onIterationEnd() {
  flushScheduled_ = false;
  // close() (an error while writing) may let the server drop its reference.
  // (weak_from_this: never throws, also for a connection not owned by a
  // shared_ptr.)
  auto self = weak_from_this().lock();
  if (closed_) return;
  flush();
  updatePoll();
}

void ApiConnection::enqueue(std::string line, UniqueFd fd) {
  queuedBytes_ += line.size();
  out_.push_back(Out{std::move(line), 0, std::move(fd)});
}

void ApiConnection::flush() {
  while (!out_.empty() && !closed_) {
    Out& front = out_.front();
    ssize_t n;
    if (front.fd && front.off == 0) {
      // A descriptor travels alone, with its line's first byte.
      std::string_view rest(front.data.data(), front.data.size());
      n = api::sendWithFd(fd_.get(), rest, front.fd.get());
    } else {
      // Replies that pile up in one loop iteration leave in one syscall.
      iovec iov[64];
      int cnt = 0;
      for (auto it = out_.begin(); it != out_.end() && cnt < 64; ++it) {
        if (it != out_.begin() && it->fd) break;
        iov[cnt].iov_base = it->data.data() + it->off;
        iov[cnt].iov_len = it->data.size() - it->off;
        ++cnt;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(cnt);
      n = ::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      close();
      return;
    }
    size_t left = static_cast<size_t>(n);
    queuedBytes_ -= left;
    while (left > 0) {
      Out& o = out_.front();
      o.fd.reset();  // any descriptor went with the first byte
      size_t take = std::min(left, o.data.size() - o.off);
      o.off += take;
      left -= take;
      if (o.off < o.data.size()) break;  // then left == 0
      out_.pop_front();
    }
  }
}

void ApiConnection::close() {
  if (closed_) return;
  closed_ = true;
  if (flushScheduled_) {
    loop_.cancelIterationEnd(this);
    flushScheduled_ = false;
  }
  poll_.reset();  // before the descriptor closes: see Poll
  auto cleanups = std::move(cleanups_);
  for (auto& fn : cleanups) fn();
  out_.clear();
  slots_.clear();
  fd_.reset();
  if (onClosed_) {
    auto cb = std::move(onClosed_);
    cb(*this);
  }
}

}  // namespace kith::daemon
