// ShellProcess: `sh -c CMD` in the background (its own process group), its
// output in a file, killed with the whole group when destroyed — for tests
// that run kithcat, openssl, nginx... beside real daemons.
#pragma once

#include <sys/types.h>

#include <string>

namespace kith::test {

class ShellProcess {
 public:
  explicit ShellProcess(const std::string& cmd, const std::string& outputPath = "");
  ~ShellProcess();
  ShellProcess(const ShellProcess&) = delete;
  ShellProcess& operator=(const ShellProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Waits up to timeoutMs for the exit; returns the waitpid status or -1.
  int wait(int timeoutMs);
  void kill(int sig);
  std::string output() const;

 private:
  pid_t pid_ = -1;
  std::string out_;
  bool reaped_ = false;
};

}  // namespace kith::test
