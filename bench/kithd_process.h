// KithdProcess: a real `kithd --dev --home DIR` started for one bench phase,
// waited for until its API socket answers `hello`, observed from /proc (RSS,
// CPU time) and stopped with SIGTERM (SIGKILL after a bound). BenchDir: a
// temporary directory removed when the bench ends.
//
// Single-threaded use; the bench process is the daemon's parent, so the daemon
// is reaped here and never outlives the bench (the destructor SIGKILLs).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kith/common/status.h"

namespace kith::bench {

class BenchDir {
 public:
  BenchDir();  // mkdtemp under $TMPDIR, else /tmp
  ~BenchDir();
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::string& path() const { return path_; }
  // The file system holding the directory ("ext4", "tmpfs", ...): fsync cost,
  // hence the durable-registration figures, depend on it.
  std::string fsType() const;

 private:
  std::string path_;
};

// The directory this executable lives in (build/bin), where kithd is too.
std::string selfDir();

class KithdProcess {
 public:
  // extraArgs follow `--dev --home HOME --log-format json` (e.g. --config FILE).
  KithdProcess(std::string kithd, std::string home, std::vector<std::string> extraArgs = {});
  ~KithdProcess();
  KithdProcess(const KithdProcess&) = delete;
  KithdProcess& operator=(const KithdProcess&) = delete;

  // Spawns kithd (stdout+stderr to HOME.log) and waits up to 15 s for a hello
  // reply on api.sock. Records how long that took.
  Status start();
  // SIGTERM, then waits up to 10 s; SIGKILL past that. True if it exited 0.
  bool stop();

  pid_t pid() const { return pid_; }
  // false: no --dev (a --config with a node directory from `kithctl ca`,
  // for several daemons of one trust domain). Call before start().
  void setDev(bool dev) { dev_ = dev; }
  std::string apiSocket() const { return home_ + "/run/api.sock"; }
  double startMs() const { return startMs_; }
  // The "daemon" field of the first hello reply ("kithd 0.1.0").
  const std::string& version() const { return version_; }
  // VmRSS from /proc/<pid>/status, in KiB (-1 if unreadable).
  long rssKiB() const;
  // utime + stime from /proc/<pid>/stat, in milliseconds (-1 if unreadable).
  double cpuMs() const;
  // The same for the main thread alone (tid == pid), kithd's loop thread; the
  // rest of cpuMs() is its other threads (the SQLite writer, ...).
  double loopThreadCpuMs() const;
  // The last ~2 KiB of the daemon's log, for error messages.
  std::string logTail() const;

 private:
  std::string kithd_;
  std::string home_;
  std::vector<std::string> extraArgs_;
  pid_t pid_ = -1;
  bool dev_ = true;
  double startMs_ = 0;
  std::string version_;
};

}  // namespace kith::bench
