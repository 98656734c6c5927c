#include "kithd_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "api_client.h"

namespace kith::bench {
namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

BenchDir::BenchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/kith-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  path_ = buf.data();
}

BenchDir::~BenchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string BenchDir::fsType() const {
  struct statfs s {};
  if (::statfs(path_.c_str(), &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x9123683E: return "btrfs";
    case 0x58465342: return "xfs";
    case 0x794c7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "fs 0x%lx", static_cast<unsigned long>(s.f_type));
      return hex;
    }
  }
}

std::string selfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  return std::filesystem::path(std::string(buf, static_cast<size_t>(n))).parent_path().string();
}

KithdProcess::KithdProcess(std::string kithd, std::string home, std::vector<std::string> extraArgs)
    : kithd_(std::move(kithd)), home_(std::move(home)), extraArgs_(std::move(extraArgs)) {}

KithdProcess::~KithdProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

Status KithdProcess::start() {
  std::filesystem::create_directories(home_);
  std::string log = home_ + ".log";
  std::vector<std::string> args = {kithd_, "--home", home_, "--log-format", "json"};
  if (dev_) args.insert(args.begin() + 1, "--dev");
  args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) return Status::fromErrno("fork", errno);
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kithd_.c_str(), argv.data());
    std::perror("execv kithd");
    ::_exit(127);
  }
  pid_ = pid;
  while (msSince(t0) < 15000) {
    auto c = ApiClient::connect(apiSocket());
    if (c.isOk()) {
      auto r = c->request({{"op", "hello"}}, 2000);
      if (r.isOk() && r->json.value("ok", false)) {
        startMs_ = msSince(t0);
        version_ = r->json.value("daemon", "");
        return Status::ok();
      }
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::internal("kithd exited during start: " + logTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::internal("kithd did not answer hello within 15 s: " + logTail());
}

bool KithdProcess::stop() {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGTERM);
  auto t0 = Clock::now();
  while (msSince(t0) < 10000) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  return false;
}

long KithdProcess::rssKiB() const {
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

namespace {

// utime + stime of a /proc/.../stat file, in milliseconds.
double statCpuMs(const std::string& path) {
  std::ifstream f(path);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start past the last ')'.
  auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // rest starts at field 3 (state); utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return 1000.0 * static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

double KithdProcess::cpuMs() const { return statCpuMs("/proc/" + std::to_string(pid_) + "/stat"); }

double KithdProcess::loopThreadCpuMs() const {
  return statCpuMs("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/stat");
}

std::string KithdProcess::logTail() const {
  std::ifstream f(home_ + ".log");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > 2048 ? s.substr(s.size() - 2048) : s;
}

}  // namespace kith::bench
