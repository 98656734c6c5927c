#include "files.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "kith/common/unique_fd.h"

namespace kith::identity::files {
namespace {

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status writeAll(int fd, std::string_view content, const std::string& what) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno("write " + what, errno);
    }
    off += static_cast<size_t>(n);
  }
  return Status::ok();
}

Result<std::string> readFd(int fd, const std::string& path, size_t sizeHint = 0) {
  std::string out;
  // Sized up front so a secret is not left behind in buffers given up by growth.
  out.reserve(std::min(sizeHint, kMaxFileBytes) + 1);
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno("read " + path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    sodium_memzero(buf, sizeof buf);
    if (out.size() > kMaxFileBytes) {
      return Status::badRequest(path + ": larger than " + std::to_string(kMaxFileBytes) +
                                " bytes; not a kith key or certificate file");
    }
  }
  return out;
}

Result<UniqueFd> openForRead(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return Status::notFound(path + ": no such file");
    return Status::fromErrno("open " + path, err);
  }
  return fd;
}

}  // namespace

std::string modeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status makeDir(const std::string& path, mode_t mode) {
  int rc = ::mkdir(path.c_str(), mode);
  if (rc != 0 && errno == ENOENT) {
    // Missing parents are made too (as `mkdir -p`), with the same mode: an
    // operator's `--out /srv/kith/n1/node` should just work.
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return Status::fromErrno("mkdir " + path, ENOENT);
    KITH_RETURN_IF_ERROR(makeDir(path.substr(0, slash), mode));
    rc = ::mkdir(path.c_str(), mode);
  }
  if (rc == 0) {
    // mkdir's mode is filtered by the umask; the caller asked for exactly `mode`.
    if (::chmod(path.c_str(), mode) != 0) return Status::fromErrno("chmod " + path, errno);
    return Status::ok();
  }
  if (errno != EEXIST) return Status::fromErrno("mkdir " + path, errno);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::fromErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::badRequest(path + ": exists and is not a directory");
  return Status::ok();
}

Status writeAtomic(const std::string& path, std::string_view content, mode_t mode,
                   bool replace) {
  std::string tmp = path + ".tmp.XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return Status::fromErrno("create temporary file for " + path, errno);
  // mkostemp creates 0600; set the final mode before any content is written.
  Status st;
  if (::fchmod(fd.get(), mode) != 0) {
    st = Status::fromErrno("chmod " + tmp, errno);
  } else {
    st = writeAll(fd.get(), content, tmp);
  }
  if (st.isOk() && ::fsync(fd.get()) != 0) st = Status::fromErrno("fsync " + tmp, errno);
  fd.reset();
  if (st.isOk()) {
    if (replace) {
      if (::rename(tmp.c_str(), path.c_str()) != 0) {
        st = Status::fromErrno("rename " + tmp + " to " + path, errno);
      }
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      // link(2) never replaces: of two racing writers exactly one wins.
      st = errno == EEXIST ? Status::badRequest(path + " already exists; refusing to replace it")
                           : Status::fromErrno("link " + tmp + " to " + path, errno);
    }
  }
  if (!st.isOk() || !replace) ::unlink(tmp.c_str());
  if (!st.isOk()) return st;
  // The rename is durable only once the directory entry is.
  std::string dir = dirOf(path);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return Status::fromErrno("open directory " + dir, errno);
  if (::fsync(dfd.get()) != 0) return Status::fromErrno("fsync directory " + dir, errno);
  return Status::ok();
}

Result<std::string> read(const std::string& path) {
  auto fd = openForRead(path);
  if (!fd) return fd.status();
  return readFd(fd->get(), path);
}

Result<std::string> readSecret(const std::string& path) {
  auto fd = openForRead(path);
  if (!fd) return fd.status();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return Status::fromErrno("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::badRequest(path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Status::badRequest("key file " + path + " has mode " + modeString(st.st_mode) +
                              ", which lets group or others access it; refusing to use it "
                              "(run: chmod 600 " + path + ")");
  }
  return readFd(fd->get(), path, static_cast<size_t>(st.st_size));
}

}  // namespace kith::identity::files
