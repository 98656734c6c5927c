// Pump: relays bytes both ways between two connected descriptors (stream or
// SOCK_SEQPACKET sockets), with half-close propagated (EOF on one side becomes
// shutdown(SHUT_WR) on the other) and bounded memory.
//
// Memory: reads go into one scratch buffer shared by every Pump on the loop
// thread and are written on at once; only what the receiver does not take
// immediately is kept, and while anything is kept for a direction that
// direction is not read (backpressure to the sender). An idle relay holds no
// data buffers at all. Record boundaries survive for SOCK_SEQPACKET (one recv
// is one record, one send is one record).
//
// Done runs once, when both directions have ended, either side fails, or
// close() is called. Loop thread only; owns both descriptors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kith/common/unique_fd.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class Pump : public DeferredDeletable {
 public:
  Pump(Loop& loop, UniqueFd a, UniqueFd b);
  ~Pump() override;
  void start(std::function<void()> done);
  // Ends the relay now: both sockets are shut down (peers see EOF/reset), and
  // done runs.
  void close();
  uint64_t bytesAtoB() const { return dirs_[0].total; }
  uint64_t bytesBtoA() const { return dirs_[1].total; }
  size_t bufferedBytes() const { return dirs_[0].pending.size() + dirs_[1].pending.size(); }

  static constexpr size_t kScratchBytes = 256 * 1024;

 private:
  struct Dir {
    std::string pending;  // read but not yet written
    size_t off = 0;
    bool eof = false, shut = false;
    uint64_t total = 0;
  };
  void onEvent(int side, int status, int events);
  void pumpDir(int d);
  bool flushPending(int d);
  void update();
  void finish();

  Loop& loop_;
  UniqueFd fds_[2];
  std::unique_ptr<Poll> polls_[2];
  int armed_[2] = {-1, -1};
  Dir dirs_[2];  // 0: a -> b, 1: b -> a
  std::function<void()> done_;
  bool finished_ = false;
};

}  // namespace kith::daemon
