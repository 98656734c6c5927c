// Target: where the daemon dials a server workload that registered one
// (`unix:/path` or `tcp:127.0.0.1:PORT` / `tcp:[::1]:PORT`). Loopback only: a
// registration must never turn the daemon into a dialler of arbitrary hosts.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::daemon {

struct Target {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;       // kUnix
  sockaddr_storage addr{};  // kTcp
  socklen_t addrLen = 0;
  uint16_t port = 0;
  bool ipv6 = false;

  static Result<Target> parse(const std::string& text);
};

// Starts a non-blocking connect to `t` (TCP_NODELAY for tcp). The socket
// becomes writable when the connect finishes (SO_ERROR says how). An
// immediate refusal is CANNOT_CONNECT with errno's reason; no socket is INTERNAL.
Result<UniqueFd> startConnect(const Target& t);

// Whether the connect started by startConnect has finished, asked without
// waiting: true when connected, false when still in progress, CANNOT_CONNECT
// when it failed. Targets are loopback (or Unix) sockets, whose handshake the
// kernel has usually completed by the time connect(2) returns, so asking once
// spares a poll registration and a loop iteration per stream.
Result<bool> connectFinished(int fd);

}  // namespace kith::daemon
