#include "kith/daemon/tunnel/peer_link.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "tunnel";
// One read from a stream's socket becomes at most one DATA frame this big.
constexpr size_t kChunk = kMaxFramePayload;
// One wolfSSL_write takes at most this much (it cuts 16 KiB records).
constexpr size_t kTlsWriteMax = 256 * 1024;
// A link whose peer lets this much pile up is closed.
constexpr size_t kMaxBacklog = 64 * 1024 * 1024;
// Reads from TLS go through one buffer shared by every link on the loop.
constexpr size_t kReadBuf = 256 * 1024;

char* readBuffer() {
  static thread_local std::unique_ptr<char[]> buf(new char[kReadBuf]);
  return buf.get();
}

}  // namespace

struct PeerLink::Stream {
  uint32_t id = 0;
  bool udp = false;
  bool opening = false;          // we sent OPEN, no answer yet
  bool accepting = false;        // the peer sent OPEN, we have not answered
  std::function<void(Status)> onOpen;
  UniqueFd fd;
  std::unique_ptr<Poll> poll;
  int armed = -1;
  uint64_t sendCredit = 0;       // DATA bytes we may still send
  uint64_t recvAllowed = 0;      // DATA bytes the peer may still send
  uint64_t unacked = 0;          // written locally, not yet granted back
  std::string pending;           // received, not yet written locally
  size_t pendingOff = 0;
  bool finSent = false;          // local EOF seen and FIN queued
  bool finReceived = false;
  bool shutWr = false;           // FIN passed on to the local socket
  int64_t lastActiveMs = 0;
};

PeerLink::PeerLink(Loop& loop, uint64_t id, std::shared_ptr<const TlsContext> tls, UniqueFd fd, bool dialer,
                   std::optional<std::string> expect, Owner& owner, Options opts)
    : loop_(loop), id_(id), ctx_(std::move(tls)), fd_(std::move(fd)), dialer_(dialer),
      expect_(std::move(expect)), owner_(owner), opts_(opts), nextStream_(dialer ? 1 : 2), timer_(loop) {}

PeerLink::~PeerLink() {
  if (flushScheduled_) loop_.cancelIterationEnd(this);
  // Streams' polls go before their descriptors (Stream member order), the
  // link's poll before its socket.
  streams_.clear();
  poll_.reset();
  tls_.reset();
}

void PeerLink::start() {
  startedMs_ = lastHeardMs_ = static_cast<int64_t>(loop_.nowMs());
  poll_ = std::make_unique<Poll>(loop_, fd_.get());
  tls_ = std::make_unique<TlsTransport>(ctx_, fd_.get(), !dialer_);
  if (!poll_->ok() || !tls_->ok()) {
    // Reported from the loop, never from inside the caller's start().
    loop_.post([this] { close(Status::internal("cannot set up the link: " + tls_->error())); });
    return;
  }
  timer_.start(500, 500, [this] { tick(); });
  handshakeStep();
}

void PeerLink::armLink() {
  if (state_ == State::kClosed) return;
  int want = UV_READABLE | (wantWrite_ || tls_->hasOutput() ? UV_WRITABLE : 0);
  if (want == armed_) return;
  armed_ = want;
  (void)poll_->start(want, [this](int status, int events) { onSocket(status, events); });
}

void PeerLink::onSocket(int status, int events) {
  if (state_ == State::kClosed) return;
  if (status < 0) {
    return close(Status(Code::kDestinationUnreachable, std::string("link socket: ") + uv_strerror(status)));
  }
  if (events & UV_READABLE) tls_->socketReadable();
  if (state_ == State::kHandshake) return handshakeStep();
  if (events & UV_WRITABLE) {
    wantWrite_ = false;
    if (!tls_->flushOutput()) return close(Status(Code::kDestinationUnreachable, tls_->error()));
    flush();
  }
  if (state_ == State::kUp && (events & UV_READABLE)) readLink();
  armLink();
}

void PeerLink::handshakeStep() {
  TlsTransport::Io io = tls_->handshake();
  if (!tls_->flushOutput()) io = TlsTransport::Io::kError;
  if (io == TlsTransport::Io::kWantRead || io == TlsTransport::Io::kWantWrite) {
    wantWrite_ = io == TlsTransport::Io::kWantWrite;
    armLink();
    return;
  }
  if (io != TlsTransport::Io::kOk) {
    // A refused or unreachable TCP connect shows up here first: say that.
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return close(Status(Code::kDestinationUnreachable, std::string("connect: ") + std::strerror(err)));
    return close(Status(Code::kDestinationUnreachable, "TLS " + tls_->error()));
  }
  auto peer = tls_->verifyPeer(expect_);
  if (!peer.isOk()) return close(peer.status());
  peer_ = std::move(peer).value();
  state_ = State::kUp;
  tls_->authenticated();
  wantWrite_ = false;
  lastHeardMs_ = static_cast<int64_t>(loop_.nowMs());
  log::info(kMod, "link up", {{"link", id_}, {"peer", peer_.machine}, {"dialled", dialer_},
                              {"tls", tls_->version()}, {"cipher", tls_->cipher()}});
  armLink();
  owner_.linkUp(*this);
  // Bytes may already wait inside TLS (sent with the handshake's last flight).
  if (state_ == State::kUp) readLink();
}

void PeerLink::close(const Status& why) {
  if (state_ == State::kClosed) return;
  bool wasUp = state_ == State::kUp;
  state_ = State::kClosed;
  timer_.stop();
  if (poll_) poll_->stop();
  std::vector<uint32_t> ids;
  ids.reserve(streams_.size());
  for (const auto& [sid, s] : streams_) ids.push_back(sid);
  for (uint32_t sid : ids) endStream(sid, "link to " + (peer_.machine.empty() ? std::string("peer") : peer_.machine) +
                                              " lost: " + why.message(), false);
  log::info(kMod, wasUp ? "link down" : "link failed",
            {{"link", id_}, {"peer", peer_.machine.empty() ? expect_.value_or("") : peer_.machine},
             {"reason", why.message()}, {"bytes_in", stats_.bytesIn}, {"bytes_out", stats_.bytesOut}});
  owner_.linkDown(*this, why);
}

void PeerLink::tick() {
  if (state_ == State::kClosed) return;
  auto now = static_cast<int64_t>(loop_.nowMs());
  if (state_ == State::kHandshake) {
    if (now - startedMs_ > opts_.handshakeMs) {
      close(Status(Code::kDestinationUnreachable, "TLS handshake did not finish in time"));
    }
    return;
  }
  if (now - lastHeardMs_ > opts_.deadAfterMs) {
    return close(Status(Code::kDestinationUnreachable,
                        "peer silent for " + std::to_string(now - lastHeardMs_) + " ms"));
  }
  if (now - lastHeardMs_ >= opts_.pingMs) queue(FrameType::kPing, 0, encodeU64(loop_.nowMs() * 1000));
  // UDP flows end after their idle timeout.
  std::vector<uint32_t> idle;
  for (const auto& [sid, s] : streams_) {
    if (s->udp && !s->opening && !s->accepting && now - s->lastActiveMs > opts_.udpIdleMs) idle.push_back(sid);
  }
  for (uint32_t sid : idle) endStream(sid, "udp flow idle", true);
}

// ---- link output ----

void PeerLink::queue(FrameType type, uint32_t stream, std::string_view payload) {
  if (state_ != State::kUp) return;
  // Stream data stops at highWater; what passes it is control frames (PONG,
  // WINDOW, OPEN_ERR...) answering a peer that does not read its side.
  if (backlog() > kMaxBacklog) {
    return close(Status(Code::kDestinationUnreachable, "peer stopped reading (" + std::to_string(backlog()) +
                                                           " bytes waiting)"));
  }
  appendFrame(out_, type, stream, payload);
  scheduleFlush();
}

void PeerLink::scheduleFlush() {
  // Streams read later in this iteration see the link congested at once.
  if (backlog() > opts_.highWater) setCongested(true);
  if (flushScheduled_) return;
  flushScheduled_ = true;
  loop_.atIterationEnd(this);
}

void PeerLink::onIterationEnd() {
  flushScheduled_ = false;
  flush();
}

void PeerLink::flush() {
  while (state_ == State::kUp && !wantWrite_ && outOff_ < out_.size()) {
    size_t n = inflight_ ? inflight_ : std::min(out_.size() - outOff_, kTlsWriteMax);
    TlsTransport::Io io = TlsTransport::Io::kOk;
    size_t w = tls_->write(out_.data() + outOff_, n, &io);
    if (w > 0) {
      outOff_ += w;
      stats_.tlsOut += w;
      inflight_ = 0;
      continue;
    }
    if (io == TlsTransport::Io::kWantWrite || io == TlsTransport::Io::kWantRead) {
      inflight_ = n;  // wolfSSL holds these bytes encrypted: repeat the call
      wantWrite_ = true;
      armLink();
      break;
    }
    return close(Status(Code::kDestinationUnreachable, "TLS " + tls_->error()));
  }
  if (state_ == State::kUp && !tls_->flushOutput()) {
    return close(Status(Code::kDestinationUnreachable, tls_->error()));
  }
  if (tls_->hasOutput()) armLink();
  if (outOff_ == out_.size()) {
    out_.clear();
    outOff_ = 0;
    if (out_.capacity() > 4 * opts_.highWater) out_.shrink_to_fit();
  } else if (outOff_ > opts_.highWater) {
    // Keep the unsent tail (identical bytes, so a repeated write stays valid).
    out_.erase(0, outOff_);
    outOff_ = 0;
  }
  setCongested(backlog() > opts_.highWater);
}

void PeerLink::setCongested(bool on) {
  if (on == congested_) return;
  // Hysteresis: resume only once the backlog is well below the mark.
  if (!on && backlog() > opts_.highWater / 4) return;
  congested_ = on;
  if (on) return;  // streams notice when they next read
  std::vector<uint32_t> resume(paused_.begin(), paused_.end());
  paused_.clear();
  for (uint32_t sid : resume) {
    if (Stream* s = find(sid)) armStream(*s);
  }
}

// ---- link input ----

void PeerLink::readLink() {
  char* buf = readBuffer();
  while (state_ == State::kUp) {
    TlsTransport::Io io = TlsTransport::Io::kOk;
    size_t n = tls_->read(buf, kReadBuf, &io);
    if (n == 0) {
      if (io == TlsTransport::Io::kWantRead) return;
      if (io == TlsTransport::Io::kWantWrite) {
        wantWrite_ = true;
        armLink();
        return;
      }
      return close(Status(Code::kDestinationUnreachable,
                          io == TlsTransport::Io::kClosed ? "the peer closed the link" : "TLS " + tls_->error()));
    }
    stats_.tlsIn += n;
    lastHeardMs_ = static_cast<int64_t>(loop_.nowMs());
    Status st = decoder_.feed(std::string_view(buf, n), [this](const Frame& f) { return onFrame(f); });
    if (!st.isOk()) return close(Status(Code::kDestinationUnreachable, "peer broke the protocol: " + st.message()));
  }
}

PeerLink::Stream* PeerLink::find(uint32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool PeerLink::onFrame(const Frame& f) {
  if (state_ != State::kUp) return false;
  auto violation = [this](const std::string& what) {
    close(Status(Code::kDestinationUnreachable, "peer broke the protocol: " + what));
    return false;
  };
  if (f.stream == 0) {
    if (f.type == FrameType::kPing) {
      queue(FrameType::kPong, 0, f.payload);
    } else if (f.type == FrameType::kPong) {
      auto sent = decodeU64(f.payload);
      if (sent.isOk() && *sent <= loop_.nowMs() * 1000) {
        stats_.rttMicros = static_cast<int64_t>(loop_.nowMs() * 1000 - *sent);
      }
    } else {
      return violation(std::string(frameTypeName(f.type)) + " on stream 0");
    }
    return true;
  }
  Stream* s = find(f.stream);
  switch (f.type) {
    case FrameType::kOpen: {
      // The peer's streams have the other parity; a reused id is a bug.
      if ((f.stream & 1) == (dialer_ ? 1u : 0u) || s != nullptr) {
        return violation("OPEN with stream id " + std::to_string(f.stream));
      }
      if (streams_.size() >= opts_.maxStreams) {
        queue(FrameType::kOpenErr, f.stream,
              encodeOpenErr(Code::kRateLimited, "too many streams on the link to " + opts_.machineForErrors));
        return state_ == State::kUp;
      }
      auto open = decodeOpen(f.payload);
      if (!open.isOk()) {
        queue(FrameType::kOpenErr, f.stream, encodeOpenErr(Code::kBadRequest, open.status().message()));
        return true;
      }
      auto ns = std::make_unique<Stream>();
      ns->id = f.stream;
      ns->udp = open->proto == "udp";
      ns->accepting = true;
      ns->sendCredit = ns->udp ? 0 : open->window;
      ns->lastActiveMs = static_cast<int64_t>(loop_.nowMs());
      streams_[f.stream] = std::move(ns);
      owner_.openRequested(*this, f.stream, std::move(open).value());
      return state_ == State::kUp;
    }
    case FrameType::kOpenOk:
    case FrameType::kOpenErr: {
      if (s == nullptr) return true;  // we gave up on it already (timeout)
      if (!s->opening) return violation("answer to a stream that is not opening");
      s->opening = false;
      auto done = std::move(s->onOpen);
      if (f.type == FrameType::kOpenOk) {
        auto w = decodeU32(f.payload);
        if (!w.isOk()) return violation("OPEN_OK: " + w.status().message());
        if (!s->udp) s->sendCredit = *w;
        ++stats_.streamsOpened;
        done(Status::ok());
      } else {
        ++stats_.streamsRefused;
        streams_.erase(f.stream);
        done(decodeOpenErr(f.payload));
      }
      return state_ == State::kUp;
    }
    case FrameType::kData: {
      if (s == nullptr) return true;  // reset by us while this was in flight
      if (s->udp || s->opening || s->accepting) return violation("DATA on a stream not open for it");
      if (s->finReceived) return violation("DATA after FIN");
      if (f.payload.size() > s->recvAllowed) {
        endStream(f.stream, "peer exceeded the stream window", true);
        return true;
      }
      s->recvAllowed -= f.payload.size();
      stats_.bytesIn += f.payload.size();
      deliverData(*s, f.payload);
      return state_ == State::kUp;
    }
    case FrameType::kDgram: {
      if (s == nullptr) return true;
      if (!s->udp) return violation("DGRAM on a TCP stream");
      ++stats_.dgramsIn;
      s->lastActiveMs = static_cast<int64_t>(loop_.nowMs());
      // A datagram nobody can take now is dropped, as the network would.
      if (!s->fd || ::send(s->fd.get(), f.payload.data(), f.payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        ++stats_.dgramsDropped;
      }
      return true;
    }
    case FrameType::kWindow: {
      if (s == nullptr) return true;
      auto w = decodeU32(f.payload);
      if (!w.isOk()) return violation("WINDOW: " + w.status().message());
      s->sendCredit += *w;
      armStream(*s);
      return true;
    }
    case FrameType::kFin: {
      if (s == nullptr) return true;
      s->finReceived = true;
      writeStream(*s);  // passes the FIN on once pending bytes are out
      return true;
    }
    case FrameType::kRst: {
      if (s == nullptr) return true;
      if (s->opening) {
        // A reset instead of an answer: treat as a refusal.
        auto done = std::move(s->onOpen);
        streams_.erase(f.stream);
        done(Status(Code::kCannotConnect, "the peer reset the stream: " + std::string(f.payload)));
        return state_ == State::kUp;
      }
      endStream(f.stream, "reset by " + peer_.machine + (f.payload.empty() ? "" : ": " + std::string(f.payload)),
                false);
      return true;
    }
    case FrameType::kPing:
    case FrameType::kPong:
      return violation("PING/PONG on a stream");
  }
  return true;
}

// ---- streams ----

uint32_t PeerLink::open(OpenPayload open, std::function<void(Status)> done) {
  uint32_t sid = nextStream_;
  nextStream_ += 2;
  auto s = std::make_unique<Stream>();
  s->id = sid;
  s->udp = open.proto == "udp";
  s->opening = true;
  s->onOpen = std::move(done);
  open.window = s->udp ? 0 : opts_.window;
  s->recvAllowed = open.window;
  s->lastActiveMs = static_cast<int64_t>(loop_.nowMs());
  streams_[sid] = std::move(s);
  queue(FrameType::kOpen, sid, encodeOpen(open));
  return sid;
}

bool PeerLink::attach(uint32_t stream, UniqueFd fd) {
  Stream* s = find(stream);
  if (s == nullptr || s->opening || s->fd) return false;
  s->fd = std::move(fd);
  s->poll = std::make_unique<Poll>(loop_, s->fd.get());
  s->armed = -1;
  writeStream(*s);  // what arrived before the caller took the stream
  if ((s = find(stream)) != nullptr) armStream(*s);
  return true;
}

bool PeerLink::accept(uint32_t stream, UniqueFd fd) {
  Stream* s = find(stream);
  if (s == nullptr || !s->accepting || state_ != State::kUp) return false;
  s->accepting = false;
  s->recvAllowed = s->udp ? 0 : opts_.window;
  ++stats_.streamsOpened;
  queue(FrameType::kOpenOk, stream, encodeU32(s->udp ? 0 : opts_.window));
  return attach(stream, std::move(fd));
}

void PeerLink::refuse(uint32_t stream, const Status& why) {
  Stream* s = find(stream);
  if (s == nullptr || !s->accepting) return;
  ++stats_.streamsRefused;
  streams_.erase(stream);
  queue(FrameType::kOpenErr, stream, encodeOpenErr(why.code(), why.message()));
}

void PeerLink::reset(uint32_t stream, const std::string& why) {
  Stream* s = find(stream);
  if (s == nullptr) return;
  if (s->opening) {
    auto done = std::move(s->onOpen);
    streams_.erase(stream);
    queue(FrameType::kRst, stream, why);
    if (done) done(Status(Code::kDestinationUnreachable, why));
    return;
  }
  endStream(stream, why, true);
}

void PeerLink::armStream(Stream& s) {
  if (!s.poll) return;
  int want = 0;
  bool canRead = !s.finSent && (s.udp || s.sendCredit > 0);
  if (canRead && congested_) {
    paused_.insert(s.id);
    canRead = false;
  }
  if (canRead) want |= UV_READABLE;
  if (s.pendingOff < s.pending.size()) want |= UV_WRITABLE;
  if (want == s.armed) return;
  s.armed = want;
  if (want == 0) {
    s.poll->stop();
    return;
  }
  uint32_t sid = s.id;
  (void)s.poll->start(want, [this, sid](int status, int events) { onStreamSocket(sid, status, events); });
}

void PeerLink::onStreamSocket(uint32_t id, int status, int events) {
  Stream* s = find(id);
  if (s == nullptr) return;
  if (status < 0) return endStream(id, std::string("local socket: ") + uv_strerror(status), true);
  if (events & UV_WRITABLE) {
    writeStream(*s);
    if ((s = find(id)) == nullptr) return;
  }
  if (events & UV_READABLE) {
    readStream(*s);
    if ((s = find(id)) == nullptr) return;
  }
  armStream(*s);
}

void PeerLink::readStream(Stream& s) {
  if (state_ != State::kUp) return;
  if (s.udp) {
    char* buf = readBuffer();
    ssize_t n = ::recv(s.fd.get(), buf, kMaxFramePayload, MSG_DONTWAIT);
    if (n > 0) {
      s.lastActiveMs = static_cast<int64_t>(loop_.nowMs());
      ++stats_.dgramsOut;
      queue(FrameType::kDgram, s.id, std::string_view(buf, static_cast<size_t>(n)));
    } else if (n == 0) {
      endStream(s.id, "", true);  // the local end closed the flow
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      endStream(s.id, std::string("local socket: ") + std::strerror(errno), true);
    }
    return;
  }
  size_t want = std::min<uint64_t>({s.sendCredit, kChunk});
  if (want == 0) return;  // no credit: a read of 0 bytes would look like EOF
  // Into the shared scratch buffer, then only what came is copied behind its
  // header (resizing the backlog first would zero-fill a whole chunk for a
  // one-byte message).
  char* buf = readBuffer();
  ssize_t n = ::read(s.fd.get(), buf, want);
  int err = errno;
  if (n > 0) {
    appendFrameHeader(out_, FrameType::kData, s.id, static_cast<uint32_t>(n));
    out_.append(buf, static_cast<size_t>(n));
    s.sendCredit -= static_cast<uint64_t>(n);
    stats_.bytesOut += static_cast<uint64_t>(n);
    scheduleFlush();
    return;
  }
  if (n == 0) {
    s.finSent = true;
    queue(FrameType::kFin, s.id, {});
    maybeFinish(s);
  } else if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
    endStream(s.id, std::string("local socket: ") + std::strerror(err), true);
  }
}

void PeerLink::deliverData(Stream& s, std::string_view data) {
  if (s.pendingOff == s.pending.size() && s.fd) {
    // Nothing queued: hand it to the local socket at once.
    ssize_t n = ::send(s.fd.get(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return endStream(s.id, std::string("local socket: ") + std::strerror(errno), true);
    }
    size_t took = n > 0 ? static_cast<size_t>(n) : 0;
    s.unacked += took;
    data.remove_prefix(took);
  }
  if (!data.empty()) {
    if (s.pendingOff == s.pending.size()) {
      s.pending.clear();
      s.pendingOff = 0;
    }
    s.pending.append(data.data(), data.size());
  }
  if (s.unacked >= opts_.window / 4) {
    queue(FrameType::kWindow, s.id, encodeU32(static_cast<uint32_t>(s.unacked)));
    s.recvAllowed += s.unacked;
    s.unacked = 0;
  }
  armStream(s);
}

void PeerLink::writeStream(Stream& s) {
  if (!s.fd) return;
  while (s.pendingOff < s.pending.size()) {
    ssize_t n = ::send(s.fd.get(), s.pending.data() + s.pendingOff, s.pending.size() - s.pendingOff,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      return endStream(s.id, std::string("local socket: ") + std::strerror(errno), true);
    }
    s.pendingOff += static_cast<size_t>(n);
    s.unacked += static_cast<size_t>(n);
  }
  if (s.pendingOff == s.pending.size()) {
    // A small buffer is kept for the next burst; a big one (a slow reader's
    // window) goes back as soon as the reader catches up.
    if (s.pending.capacity() > kChunk) std::string().swap(s.pending);
    else s.pending.clear();
    s.pendingOff = 0;
  }
  if (s.unacked > 0 && (s.unacked >= opts_.window / 4 || s.pending.empty())) {
    queue(FrameType::kWindow, s.id, encodeU32(static_cast<uint32_t>(s.unacked)));
    s.recvAllowed += s.unacked;
    s.unacked = 0;
  }
  if (s.finReceived && !s.shutWr && s.pending.empty()) {
    s.shutWr = true;
    // With our read side ended too, maybeFinish closes the socket now, and
    // the close says EOF to the local end by itself (nothing unread is left:
    // we read up to EOF, so a TCP socket sends FIN, not RST).
    if (!s.finSent || s.udp) ::shutdown(s.fd.get(), SHUT_WR);
  }
  maybeFinish(s);
}

void PeerLink::maybeFinish(Stream& s) {
  if (s.udp) return;
  if (s.finSent && s.shutWr) endStream(s.id, "", false);
}

void PeerLink::endStream(uint32_t id, const std::string& why, bool sendRst) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::unique_ptr<Stream> s = std::move(it->second);
  streams_.erase(it);
  paused_.erase(id);
  if (sendRst) {
    ++stats_.resets;
    queue(FrameType::kRst, id, why);
  }
  s->poll.reset();  // before the descriptor closes (see Poll)
  if (s->onOpen) {
    auto done = std::move(s->onOpen);
    done(Status(Code::kDestinationUnreachable, why));
    return;
  }
  bool wasOpen = !s->accepting;
  s.reset();
  if (wasOpen) owner_.streamEnded(*this, id, why);
}

size_t PeerLink::bufferedBytes() const {
  size_t n = 0;
  for (const auto& [sid, s] : streams_) n += s->pending.size() - s->pendingOff;
  return n;
}

}  // namespace kith::daemon
