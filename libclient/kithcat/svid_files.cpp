#include "svid_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kith::kithcat {
namespace {

std::string writeAtomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return "open " + tmp + ": " + std::strerror(errno);
  // An existing temp file keeps its mode through O_CREAT: set it.
  if (::fchmod(fd, mode) != 0) {
    int e = errno;
    ::close(fd);
    return "chmod " + tmp + ": " + std::strerror(e);
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      return "write " + tmp + ": " + std::strerror(e);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return "sync " + tmp + ": " + std::strerror(errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return "rename " + path + ": " + std::strerror(errno);
  return "";
}

}  // namespace

std::string writeSvidFiles(const std::string& dir, const Svid& svid) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return "mkdir " + dir + ": " + std::strerror(errno);
  // The key first: a reader that sees the new certificate finds its key.
  if (auto e = writeAtomically(dir + "/svid.key", svid.keyPem, 0600); !e.empty()) return e;
  if (auto e = writeAtomically(dir + "/svid.pem", svid.certPem, 0644); !e.empty()) return e;
  return writeAtomically(dir + "/bundle.pem", svid.bundlePem, 0644);
}

}  // namespace kith::kithcat
