#include "daemon_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_client.h"

namespace kith::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/kith-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  path_ = p ? p : "/tmp/kith-test-fallback";
  ::chmod(path_.c_str(), 0755);  // tests switch to other uids that must reach sockets
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string binDir() {
  if (const char* b = std::getenv("KITH_BUILD"); b && *b) return std::string(b) + "/bin";
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<size_t>(n)) : ".";
  return std::filesystem::path(self).parent_path().parent_path().string() + "/bin";
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0) kill9();
}

Status DaemonProcess::spawn(const std::vector<std::string>& args) {
  std::filesystem::create_directories(home_);
  std::string bin = binDir() + "/kithd";
  pid_t pid = ::fork();
  if (pid < 0) return Status::fromErrno("fork", errno);
  if (pid == 0) {
    int fd = ::open(logPath().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (!netns_.empty()) {
      int ns = ::open(("/var/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
        std::perror(("setns " + netns_).c_str());
        ::_exit(126);
      }
      ::close(ns);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(bin.c_str()));
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    std::perror("execv kithd");
    ::_exit(127);
  }
  pid_ = pid;
  return Status::ok();
}

Status DaemonProcess::start(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--dev", "--home", home_, "--log-format", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  KITH_RETURN_IF_ERROR(spawn(args));
  return waitReady();
}

Status DaemonProcess::startWithConfig(const std::string& configPath) {
  KITH_RETURN_IF_ERROR(spawn({"--config", configPath, "--home", home_, "--log-format", "json"}));
  return waitReady();
}

Status DaemonProcess::waitReady() {
  for (int i = 0; i < 500; ++i) {  // up to 10 s
    auto c = TestClient::connect(apiSocket());
    if (c.isOk()) {
      auto r = c->request({{"op", "hello"}}, 2000);
      if (r.isOk()) return Status::ok();
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::internal("kithd exited during start: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::internal("kithd did not answer within 10 s: " + log());
}

int DaemonProcess::waitExit(int timeoutMs) {
  if (pid_ <= 0) return -1;
  for (int waited = 0; waited <= timeoutMs; waited += 10) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

int DaemonProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int st = waitExit(15000);
  if (st == -1 && pid_ > 0) kill9();
  return st;
}

void DaemonProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

std::string DaemonProcess::log() const {
  std::ifstream f(logPath());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

int runCommand(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (output) output->append(buf, n);
  }
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

}  // namespace kith::test
