#include "kith/daemon/pump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace kith::daemon {

Pump::Pump(Loop& loop, UniqueFd a, UniqueFd b) : loop_(loop) {
  fds_[0] = std::move(a);
  fds_[1] = std::move(b);
  for (int i = 0; i < 2; ++i) {
    polls_[i] = std::make_unique<Poll>(loop, fds_[i].get());
    dirs_[i].buf = std::make_unique<char[]>(kBufBytes);
  }
}

Pump::~Pump() {
  for (auto& p : polls_) p.reset();
}

void Pump::start(std::function<void()> done) {
  done_ = std::move(done);
  update();
}

void Pump::pumpDir(int d) {
  Dir& dir = dirs_[d];
  int src = fds_[d].get(), dst = fds_[1 - d].get();
  for (;;) {
    if (dir.off < dir.len) {
      ssize_t n = ::send(dst, dir.buf.get() + dir.off, dir.len - dir.off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR) continue;
        finish();
        return;
      }
      dir.off += static_cast<size_t>(n);
      dir.total += static_cast<uint64_t>(n);
      if (dir.off < dir.len) return;
      dir.off = dir.len = 0;
    }
    if (dir.eof) {
      if (!dir.shut) {
        ::shutdown(dst, SHUT_WR);
        dir.shut = true;
      }
      return;
    }
    ssize_t n = ::recv(src, dir.buf.get(), kBufBytes, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      finish();
      return;
    }
    if (n == 0) {
      dir.eof = true;
      continue;
    }
    dir.len = static_cast<size_t>(n);
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
    if (!rd.eof && rd.len == 0) events |= UV_READABLE;
    if (wr.off < wr.len) events |= UV_WRITABLE;
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

void Pump::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& p : polls_) p->stop();
  if (done_) {
    auto cb = std::move(done_);
    cb();  // typically hands this Pump to deferredDelete
  }
}

}  // namespace kith::daemon
