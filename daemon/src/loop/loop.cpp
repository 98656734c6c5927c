#include "kith/daemon/loop/loop.h"

#include <cstdlib>
#include <string>

namespace kith::daemon {
namespace {

// Frees a handle allocated with new T, from its close callback.
template <typename T>
void closeAndFree(T* h) {
  if (!h) return;
  h->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* hh) { delete reinterpret_cast<T*>(hh); });
}

[[noreturn]] void fatal(const char* what, int rc) {
  // Impossible states crash loudly (STYLE 10): libuv refusing to create a
  // handle on a healthy loop is one.
  fprintf(stderr, "kithd: fatal: %s: %s\n", what, uv_strerror(rc));
  std::abort();
}

}  // namespace

Loop::Loop() : loop_(new uv_loop_t), async_(new uv_async_t), check_(new uv_check_t), idle_(new uv_idle_t) {
  if (int rc = uv_loop_init(loop_); rc != 0) fatal("uv_loop_init", rc);
  if (int rc = uv_async_init(loop_, async_, &Loop::onAsync); rc != 0) fatal("uv_async_init", rc);
  async_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(async_));
  uv_check_init(loop_, check_);
  check_->data = this;
  uv_check_start(check_, &Loop::onCheck);
  uv_unref(reinterpret_cast<uv_handle_t*>(check_));
  uv_idle_init(loop_, idle_);
  idle_->data = this;
}

Loop::~Loop() { close(); }

int Loop::close() {
  if (closed_) return closeRc_;
  // Run what was posted so far, then refuse more (post() checks under mu_).
  drainPosted();
  {
    std::lock_guard g(mu_);
    closed_ = true;
  }
  drainPosted();
  toDelete_.clear();
  closeAndFree(async_);
  closeAndFree(check_);
  closeAndFree(idle_);
  async_ = nullptr;
  check_ = nullptr;
  idle_ = nullptr;
  // Let close callbacks of every handle still closing run, then close the loop.
  // Twice: a stop() requested while the loop was not running leaves libuv's
  // stop flag set, and a run with it set returns at once (only clearing it).
  uv_run(loop_, UV_RUN_DEFAULT);
  uv_run(loop_, UV_RUN_DEFAULT);
  closeRc_ = uv_loop_close(loop_);
  if (closeRc_ != 0) {
    // A leaked handle: a programming error, reported (tests assert on it).
    fprintf(stderr, "kithd: uv_loop_close: %s (leaked handle)\n", uv_strerror(closeRc_));
    uv_walk(loop_, [](uv_handle_t* h, void*) {
      fprintf(stderr, "  leaked handle type %s\n", uv_handle_type_name(h->type));
    }, nullptr);
  } else {
    delete loop_;
    loop_ = nullptr;
  }
  return closeRc_;
}

void Loop::run() { uv_run(loop_, UV_RUN_DEFAULT); }
void Loop::stop() { uv_stop(loop_); }

void Loop::post(std::function<void()> fn) {
  std::lock_guard g(mu_);
  if (closed_) return;  // too late: the loop is gone
  posted_.push_back(std::move(fn));
  uv_async_send(async_);
}

void Loop::deferredDelete(std::unique_ptr<DeferredDeletable> obj) {
  toDelete_.push_back(std::move(obj));
  // The check phase of this iteration deletes it.
  keepPollShort();
}

void Loop::keepPollShort() {
  // When this runs before the poll phase (from a timer), the active idle
  // handle keeps the poll from blocking, so the check phase comes at once.
  if (idle_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(idle_))) {
    uv_idle_start(idle_, [](uv_idle_t*) {});
  }
}

void Loop::atIterationEnd(IterationEndHook* hook) {
  hooks_.push_back(hook);
  keepPollShort();
}

void Loop::cancelIterationEnd(IterationEndHook* hook) {
  for (auto& h : hooks_) {
    if (h == hook) h = nullptr;
  }
  for (auto& h : running_) {
    if (h == hook) h = nullptr;
  }
}

void Loop::onAsync(uv_async_t* h) {
  auto* self = static_cast<Loop*>(h->data);
  if (self) self->drainPosted();
}

void Loop::onCheck(uv_check_t* h) {
  auto* self = static_cast<Loop*>(h->data);
  if (!self) return;
  // Hooks may ask again (for the next iteration) while they run, and a hook
  // may cancel a later one of the batch (it destroyed that object).
  self->running_.swap(self->hooks_);
  for (size_t i = 0; i < self->running_.size(); ++i) {
    if (IterationEndHook* h = self->running_[i]) h->onIterationEnd();
  }
  self->running_.clear();
  // Destructors may defer more deletions; keep draining until quiet.
  while (!self->toDelete_.empty()) {
    auto batch = std::move(self->toDelete_);
    self->toDelete_.clear();
    batch.clear();
  }
  if (self->idle_ && self->hooks_.empty()) uv_idle_stop(self->idle_);
}

void Loop::drainPosted() {
  std::vector<std::function<void()>> fns;
  {
    std::lock_guard g(mu_);
    fns.swap(posted_);
  }
  for (auto& fn : fns) fn();
}

// ---- Timer ----------------------------------------------------------------

Timer::Timer(Loop& loop) : h_(new uv_timer_t) {
  uv_timer_init(loop.raw(), h_);
  h_->data = this;
}

Timer::~Timer() { closeAndFree(h_); }

void Timer::start(uint64_t timeoutMs, uint64_t repeatMs, std::function<void()> cb) {
  cb_ = std::move(cb);
  uv_timer_start(h_, &Timer::onTimer, timeoutMs, repeatMs);
}

void Timer::stop() { uv_timer_stop(h_); }
bool Timer::active() const { return uv_is_active(reinterpret_cast<uv_handle_t*>(h_)) != 0; }
void Timer::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(h_)); }

void Timer::onTimer(uv_timer_t* h) {
  auto* self = static_cast<Timer*>(h->data);
  if (!self) return;
  // Copy: the callback may re-arm the timer with a new callback.
  auto cb = self->cb_;
  if (cb) cb();
}

// ---- Poll -----------------------------------------------------------------

Poll::Poll(Loop& loop, int fd) : h_(new uv_poll_t) {
  initOk_ = uv_poll_init(loop.raw(), h_, fd) == 0;
  if (!initOk_) {
    delete h_;
    h_ = nullptr;
    return;
  }
  h_->data = this;
}

Poll::~Poll() { closeAndFree(h_); }

Status Poll::start(int events, std::function<void(int, int)> cb) {
  if (!h_) return Status::internal("uv_poll_init failed");
  cb_ = std::move(cb);
  int rc = uv_poll_start(h_, events, &Poll::onPoll);
  if (rc != 0) return Status::io("uv_poll_start", uv_strerror(rc));
  return Status::ok();
}

void Poll::stop() {
  if (h_) uv_poll_stop(h_);
}

void Poll::onPoll(uv_poll_t* h, int status, int events) {
  auto* self = static_cast<Poll*>(h->data);
  if (!self || !self->cb_) return;
  // Invoke a copy: the callback may destroy this Poll (see the header).
  auto cb = self->cb_;
  cb(status, events);
}

// ---- Signal ---------------------------------------------------------------

Signal::Signal(Loop& loop) : h_(new uv_signal_t) {
  uv_signal_init(loop.raw(), h_);
  h_->data = this;
}

Signal::~Signal() { closeAndFree(h_); }

Status Signal::start(int signum, std::function<void()> cb) {
  cb_ = std::move(cb);
  int rc = uv_signal_start(h_, &Signal::onSignal, signum);
  if (rc != 0) return Status::io("uv_signal_start", uv_strerror(rc));
  uv_unref(reinterpret_cast<uv_handle_t*>(h_));
  return Status::ok();
}

void Signal::onSignal(uv_signal_t* h, int) {
  auto* self = static_cast<Signal*>(h->data);
  if (self && self->cb_) self->cb_();
}

}  // namespace kith::daemon
