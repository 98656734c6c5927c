// Who is on the other end of a Unix socket, as the kernel says — never as the
// client says.
//
// PeerCred is read once, when the daemon accepts the connection: SO_PEERCRED on
// Linux, getpeereid + LOCAL_PEERPID on macOS/BSD. ProcessPin then pins the pid so
// that a recycled pid can never be mistaken for the original process: on Linux it
// holds a pidfd (pidfd_open, 5.3+) and the process start time from
// /proc/<pid>/stat; without pidfd it holds a /proc/<pid> directory fd plus the
// start time, re-checked on every liveness query (SPIRE's peertracker approach).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::api {

struct PeerCred {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  pid_t pid = 0;  // 0 when the platform cannot say
};

// Kernel-reported credentials of the peer of a connected Unix socket.
Result<PeerCred> peerCredOf(int sock);

// Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22),
// or nullopt if the process does not exist (or the platform has no /proc).
std::optional<uint64_t> processStartTime(pid_t pid);
// Absolute path of a process's executable ("" if unreadable).
std::string processExe(pid_t pid);
// The kernel's boot id (/proc/sys/kernel/random/boot_id); "" if unknown. Start
// times are only comparable within one boot.
std::string bootId();

class ProcessPin {
 public:
  // Pins `pid`, which must currently be alive. The start time read here is the
  // identity of the process for as long as the pin lives.
  static Result<ProcessPin> pin(pid_t pid);
  // Re-pins a process known from before a daemon restart: succeeds only if a
  // process with this pid and exactly this start time (same boot) still lives.
  static Result<ProcessPin> repin(pid_t pid, uint64_t startTime, const std::string& boot);

  ProcessPin(ProcessPin&&) = default;
  ProcessPin& operator=(ProcessPin&&) = default;

  pid_t pid() const { return pid_; }
  uint64_t startTime() const { return startTime_; }
  // A descriptor that becomes readable when the process exits (a pidfd), or -1
  // if the platform has none; then callers poll alive() on a timer.
  int pollFd() const { return pidfd_.get(); }
  // True while the pinned process lives (and has not been replaced by a new
  // process with the same pid).
  bool alive() const;

 private:
  ProcessPin() = default;
  pid_t pid_ = 0;
  uint64_t startTime_ = 0;
  UniqueFd pidfd_;
  UniqueFd procDir_;
};

}  // namespace kith::api
