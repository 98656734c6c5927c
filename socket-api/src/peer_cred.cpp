#include "kith/socket-api/peer_cred.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#include <sys/ucred.h>
#define KITH_BSD_PEERCRED 1
#endif

namespace kith::api {

Result<PeerCred> peerCredOf(int sock) {
  PeerCred out;
#if defined(SO_PEERCRED) && !defined(KITH_BSD_PEERCRED)
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Status::fromErrno("getsockopt(SO_PEERCRED)", errno);
  }
  out.uid = cred.uid;
  out.gid = cred.gid;
  out.pid = cred.pid;
#elif defined(KITH_BSD_PEERCRED)
  if (::getpeereid(sock, &out.uid, &out.gid) != 0) {
    return Status::fromErrno("getpeereid", errno);
  }
#if defined(LOCAL_PEERPID)
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  if (::getsockopt(sock, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0) out.pid = pid;
#endif
#else
#error "no way to read Unix socket peer credentials on this platform"
#endif
  return out;
}

std::optional<uint64_t> processStartTime(pid_t pid) {
#ifdef __linux__
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields after it
  // start after the LAST ')'.
  auto rp = stat.rfind(')');
  if (rp == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(rp + 2));
  std::string field;
  // Fields 3..21 precede starttime (field 22).
  for (int i = 3; i <= 21; ++i) {
    if (!(rest >> field)) return std::nullopt;
  }
  uint64_t start = 0;
  if (!(rest >> start)) return std::nullopt;
  return start;
#else
  (void)pid;
  return std::nullopt;
#endif
}

std::string processExe(pid_t pid) {
#ifdef __linux__
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/exe", static_cast<int>(pid));
  char buf[4096];
  ssize_t n = ::readlink(path, buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
#else
  (void)pid;
  return "";
#endif
}

std::string bootId() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (f) std::getline(f, id);
  return id;
}

Result<ProcessPin> ProcessPin::pin(pid_t pid) {
  if (pid <= 0) return Status::internal("cannot pin a process without a pid");
  ProcessPin p;
  p.pid_ = pid;
#if defined(__linux__) && defined(SYS_pidfd_open)
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    p.pidfd_.reset(fd);
  }
#endif
#ifdef __linux__
  // Read the start time after opening the pidfd: if the pid was recycled in
  // between, the start time belongs to the process the pidfd refers to.
  auto st = processStartTime(pid);
  if (!st) return Status::notFound("process " + std::to_string(pid) + " is gone");
  p.startTime_ = *st;
  if (!p.pidfd_) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
    int dfd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Status::fromErrno(path, errno);
    p.procDir_.reset(dfd);
  }
#endif
  return p;
}

Result<ProcessPin> ProcessPin::repin(pid_t pid, uint64_t startTime, const std::string& boot) {
  if (boot != bootId()) return Status::notFound("process is from an earlier boot");
  auto p = pin(pid);
  if (!p.isOk()) return p.status();
  if (p->startTime() != startTime) {
    return Status::notFound("pid " + std::to_string(pid) + " now names another process");
  }
  return p;
}

bool ProcessPin::alive() const {
#ifdef __linux__
  if (pidfd_) {
    // The pidfd polls readable once the process has exited; a zero-timeout
    // poll answers without blocking.
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, 0);
    return r == 0;
  }
  auto st = processStartTime(pid_);
  return st && *st == startTime_;
#else
  return ::kill(pid_, 0) == 0 || errno == EPERM;
#endif
}

}  // namespace kith::api
