// Pump: relays bytes both ways between two connected stream descriptors, with
// half-close propagated (EOF on one side becomes shutdown(SHUT_WR) on the
// other) and bounded buffers (a slow reader stops the reading side; nothing is
// buffered without bound). Done runs once when both directions have ended or
// either side fails. Loop thread only; owns both descriptors.
#pragma once

#include <functional>
#include <memory>

#include "kith/common/unique_fd.h"
#include "kith/daemon/loop.h"

namespace kith::daemon {

class Pump : public DeferredDeletable {
 public:
  Pump(Loop& loop, UniqueFd a, UniqueFd b);
  ~Pump() override;
  void start(std::function<void()> done);
  uint64_t bytesAtoB() const { return dirs_[0].total; }
  uint64_t bytesBtoA() const { return dirs_[1].total; }

  static constexpr size_t kBufBytes = 256 * 1024;

 private:
  struct Dir {
    std::unique_ptr<char[]> buf;
    size_t len = 0, off = 0;
    bool eof = false, shut = false;
    uint64_t total = 0;
  };
  void onEvent(int side, int status, int events);
  void pumpDir(int d);
  void update();
  void finish();

  Loop& loop_;
  UniqueFd fds_[2];
  std::unique_ptr<Poll> polls_[2];
  Dir dirs_[2];  // 0: a -> b, 1: b -> a
  std::function<void()> done_;
  bool finished_ = false;
};

}  // namespace kith::daemon
