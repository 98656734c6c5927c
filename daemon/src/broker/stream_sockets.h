// Socket helpers the broker's parts share (private to daemon/src/broker/).
#pragma once

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::daemon {

// A connected pair for one stream: SOCK_STREAM for tcp, SOCK_SEQPACKET for
// udp (datagram boundaries kept, and still a stream-like EOF). Both blocking.
inline Result<std::pair<UniqueFd, UniqueFd>> makeStreamPair(const std::string& proto) {
  int sv[2];
  int type = proto == "udp" ? SOCK_SEQPACKET : SOCK_STREAM;
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::internal(std::string("socketpair: ") + std::strerror(errno));
  }
  return std::make_pair(UniqueFd(sv[0]), UniqueFd(sv[1]));
}

// FIONBIO: one syscall where fcntl needs F_GETFL and F_SETFL (this runs for
// every stream).
inline void setNonBlocking(int fd, bool on = true) {
  int v = on ? 1 : 0;
  ::ioctl(fd, FIONBIO, &v);
}

}  // namespace kith::daemon
