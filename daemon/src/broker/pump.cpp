#include "kith/daemon/broker/pump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "kith/daemon/observability/metrics.h"

namespace kith::daemon {
namespace {

// kith_relayed_bytes_total: every byte a relay wrote on, both directions.
Counter& relayedBytes() {
  static Counter& c = metrics().counter("kith_relayed_bytes_total", "Bytes relayed by the local broker between workloads");
  return c;
}

// One scratch buffer for every Pump: they all run on the loop thread and a
// read is written on (or its rest copied aside) before the next read starts.
char* scratch() {
  static char* buf = new char[Pump::kScratchBytes];
  return buf;
}

}  // namespace

Pump::Pump(Loop& loop, UniqueFd a, UniqueFd b) : loop_(loop) {
  fds_[0] = std::move(a);
  fds_[1] = std::move(b);
  for (int i = 0; i < 2; ++i) polls_[i] = std::make_unique<Poll>(loop, fds_[i].get());
}

Pump::~Pump() {
  for (auto& p : polls_) p.reset();  // before the descriptors close
}

void Pump::start(std::function<void()> done) {
  done_ = std::move(done);
  update();
}

// Writes what is kept for direction d; true when nothing is left.
bool Pump::flushPending(int d) {
  Dir& dir = dirs_[d];
  while (dir.off < dir.pending.size()) {
    ssize_t n = ::send(fds_[1 - d].get(), dir.pending.data() + dir.off, dir.pending.size() - dir.off,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) finish();
      return false;
    }
    dir.off += static_cast<size_t>(n);
    dir.total += static_cast<uint64_t>(n);
    relayedBytes().add(static_cast<uint64_t>(n));
  }
  std::string().swap(dir.pending);  // release the memory, not just the size
  dir.off = 0;
  return true;
}

void Pump::pumpDir(int d) {
  Dir& dir = dirs_[d];
  int src = fds_[d].get(), dst = fds_[1 - d].get();
  // Bounded work per wakeup so one busy relay cannot starve the loop.
  for (int round = 0; round < 16 && !finished_; ++round) {
    if (!flushPending(d)) return;
    if (dir.eof) {
      if (!dir.shut) {
        ::shutdown(dst, SHUT_WR);
        dir.shut = true;
      }
      return;
    }
    ssize_t n = ::recv(src, scratch(), kScratchBytes, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) finish();
      return;
    }
    if (n == 0) {
      dir.eof = true;
      continue;
    }
    size_t len = static_cast<size_t>(n);
    ssize_t w = ::send(dst, scratch(), len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        finish();
        return;
      }
      w = 0;
    }
    dir.total += static_cast<uint64_t>(w);
    relayedBytes().add(static_cast<uint64_t>(w));
    if (static_cast<size_t>(w) < len) {
      dir.pending.assign(scratch() + w, len - static_cast<size_t>(w));
      dir.off = 0;
      return;  // wait until the receiver takes it
    }
  }
}

void Pump::update() {
  if (finished_) return;
  if (dirs_[0].shut && dirs_[1].shut) {
    finish();
    return;
  }
  // Side i is read for direction i and written for direction 1-i.
  for (int i = 0; i < 2; ++i) {
    int events = 0;
    const Dir& rd = dirs_[i];
    const Dir& wr = dirs_[1 - i];
    if (!rd.eof && rd.pending.empty()) events |= UV_READABLE;
    if (!wr.pending.empty() || (wr.eof && !wr.shut)) events |= UV_WRITABLE;
    if (events == armed_[i] || !polls_[i]) continue;
    armed_[i] = events;
    if (events == 0) {
      polls_[i]->stop();
      continue;
    }
    Status st = polls_[i]->start(events, [this, i](int status, int ev) { onEvent(i, status, ev); });
    if (!st.isOk()) {
      finish();
      return;
    }
  }
}

void Pump::onEvent(int side, int status, int events) {
  if (finished_) return;
  if (status < 0) {
    finish();
    return;
  }
  if (events & UV_READABLE) pumpDir(side);
  if (!finished_ && (events & UV_WRITABLE)) pumpDir(1 - side);
  update();
}

void Pump::close() {
  if (finished_) return;
  for (auto& fd : fds_) ::shutdown(fd.get(), SHUT_RDWR);
  finish();
}

void Pump::finish() {
  if (finished_) return;
  finished_ = true;
  // Release the sockets now so peers see the end at once, even if this object
  // is destroyed only later (deferred). Polls go first: see Poll.
  for (auto& p : polls_) p.reset();
  for (auto& fd : fds_) fd.reset();
  if (done_) {
    auto cb = std::move(done_);
    cb();  // typically hands this Pump to deferredDelete
  }
}

}  // namespace kith::daemon
