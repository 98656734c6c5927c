#include "kith/daemon/config/state_dir.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"

namespace kith::daemon {

Status checkStateDir(const std::string& dbPath) {
  size_t slash = dbPath.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dbPath.substr(0, slash));
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) {
    if (errno == ENOENT) return Status::ok();  // made later, with its parents
    return Status::storage("state directory " + dir, std::strerror(errno));
  }
  if (vfs.f_flag & ST_RDONLY) {
    return Status::storage("state directory " + dir,
                           "it is on a read-only filesystem, so state.db cannot be written; remount it "
                           "read-write or point [store] path at a writable directory");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    return Status::storage("state directory " + dir,
                           std::string(std::strerror(errno)) + " for uid " + std::to_string(::geteuid()) +
                               "; give this user write access (e.g. chown) or run kithd as its owner");
  }
  unsigned long long freeBytes = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
  if (freeBytes < (16ull << 20)) {
    log::warn("store", "little free space under the state directory",
              {{"dir", dir}, {"free_bytes", freeBytes}});
  }
  return Status::ok();
}

}  // namespace kith::daemon
