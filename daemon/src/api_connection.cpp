#include "kith/daemon/api_connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "kith/common/log.h"
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

void Reply::error(const Status& st) { send(api::errorReply(id_, st), UniqueFd()); }

void Reply::send(nlohmann::json msg, UniqueFd fd) {
  if (sent_) return;
  sent_ = true;
  if (auto c = conn_.lock()) c->fillSlot(slot_, api::toLine(msg), std::move(fd));
}

// ---- ApiConnection ----------------------------------------------------------

ApiConnection::ApiConnection(Loop& loop, UniqueFd fd, Kind kind, Caller caller)
    : loop_(loop), fd_(std::move(fd)), kind_(kind), caller_(std::move(caller)), poll_(std::make_unique<Poll>(loop, fd_.get())) {}

ApiConnection::~ApiConnection() = default;

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
  if (events == 0) {
    poll_->stop();
    if (peerEof_ && slots_.empty() && out_.empty()) close();
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
  });
  if (!st.isOk()) close();
}

void ApiConnection::onReadable() {
  char buf[16384];
  // Bounded work per wakeup keeps one chatty client from starving others.
  for (int round = 0; round < 4 && !closed_; ++round) {
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
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
  }
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
  flush();
  updatePoll();
}

void ApiConnection::pushEvent(const nlohmann::json& msg, UniqueFd fd) {
  if (closed_) return;
  enqueue(api::toLine(msg), std::move(fd));
  flush();
  updatePoll();
}

void ApiConnection::enqueue(std::string line, UniqueFd fd) {
  queuedBytes_ += line.size();
  out_.push_back(Out{std::move(line), 0, std::move(fd)});
}

void ApiConnection::flush() {
  while (!out_.empty() && !closed_) {
    Out& o = out_.front();
    std::string_view rest(o.data.data() + o.off, o.data.size() - o.off);
    ssize_t n = o.fd && o.off == 0 ? api::sendWithFd(fd_.get(), rest, o.fd.get())
                                   : ::send(fd_.get(), rest.data(), rest.size(),
                                            MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      close();
      return;
    }
    if (o.off == 0) o.fd.reset();  // the descriptor went with the first byte
    o.off += static_cast<size_t>(n);
    queuedBytes_ -= static_cast<size_t>(n);
    if (o.off == o.data.size()) out_.pop_front();
  }
}

void ApiConnection::close() {
  if (closed_) return;
  closed_ = true;
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
