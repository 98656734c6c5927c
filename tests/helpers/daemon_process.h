// DaemonProcess: a real kithd started for a test (--dev, in its own temporary
// home), waited for until its API socket answers, and stopped (SIGTERM or
// SIGKILL). TempDir: a directory removed at the end of the test.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "kith/common/status.h"

namespace kith::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Directory holding kithd, kithctl, kithcat: $KITH_BUILD/bin, else beside the
// test binary (../bin).
std::string binDir();

class DaemonProcess {
 public:
  explicit DaemonProcess(std::string home) : home_(std::move(home)) {}
  ~DaemonProcess();  // SIGKILLs a daemon still running

  // Starts kithd --dev --home HOME [extra...] and waits until api.sock answers.
  Status start(const std::vector<std::string>& extra = {});
  // Starts kithd --config FILE (no --dev) and waits until api.sock answers.
  Status startWithConfig(const std::string& configPath);
  // Runs the next start in the network namespace /var/run/netns/NAME (made
  // with `ip netns add`; root only). "" = the test's own namespace.
  void setNetns(std::string name) { netns_ = std::move(name); }
  // Starts kithd with arbitrary arguments and does not wait (for failure tests).
  Status spawn(const std::vector<std::string>& args);
  // SIGTERM and wait; returns the exit status (waitpid form).
  int stop();
  void kill9();
  // Waits for the process to exit within timeoutMs; returns the status or -1.
  int waitExit(int timeoutMs);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  const std::string& home() const { return home_; }
  std::string apiSocket() const { return home_ + "/run/api.sock"; }
  std::string adminSocket() const { return home_ + "/run/admin.sock"; }
  std::string logPath() const { return home_ + "/kithd.log"; }
  std::string log() const;  // the daemon's stderr so far

 private:
  Status waitReady();

 public:

 private:
  std::string home_;
  std::string netns_;
  pid_t pid_ = -1;
};

// Writes (replaces) a file with `text`; test setup, so failure is the test's.
void writeFile(const std::string& path, const std::string& text);

// Runs a shell command, returns its exit status and captures stdout+stderr.
int runCommand(const std::string& cmd, std::string* output);

}  // namespace kith::test
