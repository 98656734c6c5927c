#include "kith/daemon/observability/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "kith/common/unique_fd.h"

namespace kith::daemon {

bool sdNotify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return false;
  size_t len = std::strlen(path);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@')) return false;
  std::memcpy(sa.sun_path, path, len);
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return false;
  socklen_t salen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), salen);
  return n == static_cast<ssize_t>(state.size());
}

}  // namespace kith::daemon
