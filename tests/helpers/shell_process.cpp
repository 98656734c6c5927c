#include "shell_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace kith::test {

ShellProcess::ShellProcess(const std::string& cmd, const std::string& outputPath) : out_(outputPath) {
  if (out_.empty()) out_ = "/dev/null";
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid_ > 0) ::setpgid(pid_, pid_);
}

ShellProcess::~ShellProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

int ShellProcess::wait(int timeoutMs) {
  if (pid_ <= 0 || reaped_) return -1;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  do {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      reaped_ = true;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < end);
  return -1;
}

void ShellProcess::kill(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(-pid_, sig);
}

std::string ShellProcess::output() const {
  std::ifstream f(out_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace kith::test
