// Loop: the daemon's one libuv event loop and the small handle wrappers every
// other daemon component uses.
//
// Threading: one thread runs the loop and owns all mutable daemon state. Other
// threads (the SQLite writer, ZeroMQ) reach it only through post(), which is
// thread-safe. Everything else here is loop-thread only.
//
// Memory (STYLE 5, 6): a handle's memory is freed only in its close callback.
// Wrappers own a heap-allocated uv handle; destroying the wrapper detaches the
// callback and calls uv_close, and the close callback frees the memory. Objects
// that must die while one of their own callbacks runs are handed to
// deferredDelete(), which destroys them after the current loop iteration.
//
// Callback contract (STYLE 7): a start() that fails returns the error and never
// calls its callback; callbacks never run after the wrapper is destroyed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "kith/common/status.h"

namespace kith::daemon {

// Something that can be destroyed later, by the loop, rather than now.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

// Work an object wants done once, at the end of the loop iteration in which
// it asked (Loop::atIterationEnd): e.g. a tunnel link sends every frame its
// streams queued during one iteration as one TLS write and one send().
class IterationEndHook {
 public:
  virtual void onIterationEnd() = 0;

 protected:
  ~IterationEndHook() = default;
};

class Loop {
 public:
  Loop();
  ~Loop();  // close(), if not done already

  // Closes the loop's own handles, runs until every closing handle is freed,
  // and closes the loop. Returns uv_loop_close's result: 0, or UV_EBUSY if a
  // handle leaked (each is reported on stderr). Idempotent.
  int close();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  uv_loop_t* raw() { return loop_; }
  // Runs until stop() or until no handles remain.
  void run();
  void stop();

  // Thread-safe: runs fn on the loop thread soon. Functions posted after the
  // loop has been destroyed are dropped.
  void post(std::function<void()> fn);
  // Runs everything posted so far, now (loop thread only). For orderly
  // shutdown: completions posted by other threads reach their objects while
  // those still live.
  void runPosted() { drainPosted(); }
  // Destroys obj after the current iteration (loop thread only).
  void deferredDelete(std::unique_ptr<DeferredDeletable> obj);
  // Calls hook->onIterationEnd() once at the end of this iteration (check
  // phase; a hook asked for from a timer keeps the poll from blocking). The
  // hook must cancelIterationEnd() before it is destroyed. Loop thread only.
  void atIterationEnd(IterationEndHook* hook);
  void cancelIterationEnd(IterationEndHook* hook);
  // Monotonic milliseconds, cached per iteration (uv_now).
  uint64_t nowMs() { return uv_now(loop_); }

 private:
  static void onAsync(uv_async_t* h);
  static void onCheck(uv_check_t* h);
  void drainPosted();
  void keepPollShort();

  uv_loop_t* loop_;
  bool closed_ = false;
  int closeRc_ = 0;
  uv_async_t* async_;
  uv_check_t* check_;
  // Active while deletions or hooks wait: makes the poll phase return at
  // once, so the check phase that runs them comes this iteration, without
  // waking the loop through the async handle (a syscall pair and an extra
  // iteration). Stopped by the check phase once nothing waits.
  uv_idle_t* idle_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<DeferredDeletable>> toDelete_;
  std::vector<IterationEndHook*> hooks_;    // asked for this iteration
  std::vector<IterationEndHook*> running_;  // being run now
};

// A one-shot or repeating timer.
class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms the timer; repeatMs 0 = one shot.
  void start(uint64_t timeoutMs, uint64_t repeatMs, std::function<void()> cb);
  void stop();
  bool active() const;
  // Lets the loop exit while only this timer remains.
  void unref();

 private:
  static void onTimer(uv_timer_t* h);
  uv_timer_t* h_;
  std::function<void()> cb_;
};

// Readiness of a raw file descriptor (sockets, pidfds).
//
// Closing a Poll removes its fd NUMBER from epoll at once (libuv's uv_close ->
// EPOLL_CTL_DEL). So: destroy the Poll BEFORE the descriptor is closed or handed
// to anything else that polls it — otherwise a later close could deregister an
// unrelated socket that reused the number. A Poll may be destroyed from inside
// its own callback (the callback runs from a copy and nothing touches the
// wrapper afterwards).
class Poll {
 public:
  // fd stays owned by the caller and must outlive this; libuv's
  // uv_poll_init sets it non-blocking (documented), which callers rely on.
  Poll(Loop& loop, int fd);
  ~Poll();
  Poll(const Poll&) = delete;
  Poll& operator=(const Poll&) = delete;

  bool ok() const { return initOk_; }
  // events: UV_READABLE | UV_WRITABLE. cb(status, events); status < 0 on error.
  Status start(int events, std::function<void(int status, int events)> cb);
  void stop();

 private:
  static void onPoll(uv_poll_t* h, int status, int events);
  uv_poll_t* h_;
  bool initOk_ = false;
  std::function<void(int, int)> cb_;
};

// A POSIX signal delivered on the loop thread.
class Signal {
 public:
  explicit Signal(Loop& loop);
  ~Signal();
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;
  Status start(int signum, std::function<void()> cb);

 private:
  static void onSignal(uv_signal_t* h, int signum);
  uv_signal_t* h_;
  std::function<void()> cb_;
};

}  // namespace kith::daemon
