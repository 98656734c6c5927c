// Target: where the daemon dials a server workload that registered one
// (`unix:/path` or `tcp:127.0.0.1:PORT` / `tcp:[::1]:PORT`). Loopback only: a
// registration must never turn the daemon into a dialler of arbitrary hosts.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "kith/common/status.h"

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

}  // namespace kith::daemon
