// Passing file descriptors over Unix stream sockets (SCM_RIGHTS).
//
// Contract of the socket API: a message with "fd": true carries exactly one
// descriptor, sent with the message's first byte. Receivers read with
// recvmsg + a control buffer on every read and queue descriptors in arrival
// order. Received descriptors are close-on-exec.
#pragma once

#include <sys/types.h>

#include <deque>
#include <string_view>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::api {

// sendmsg of `data` (or a prefix of it) with `fd` attached when fd >= 0.
// Returns bytes sent, or -1 with errno set (EAGAIN on a non-blocking socket).
// The descriptor travels with the first byte sent, so on a partial send the
// caller continues with plain writes.
ssize_t sendWithFd(int sock, std::string_view data, int fd);

// recvmsg into buf; every descriptor received is appended to `fds` (owned).
// Returns bytes read (0 at EOF) or -1 with errno set.
ssize_t recvWithFds(int sock, char* buf, size_t len, std::deque<UniqueFd>* fds);

}  // namespace kith::api
