#include "kith/daemon/broker/target.h"

#include <cerrno>

#include <poll.h>
#include <sys/socket.h>

#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

namespace kith::daemon {

Result<Target> Target::parse(const std::string& text) {
  Target t;
  if (text.rfind("unix:", 0) == 0) {
    t.kind = Kind::kUnix;
    t.path = text.substr(5);
    if (t.path.empty() || t.path[0] != '/') {
      return Status::badRequest("target '" + text + "': a unix target needs an absolute path");
    }
    if (t.path.size() >= sizeof(sockaddr_un::sun_path)) {
      return Status::badRequest("target '" + text + "': path longer than 107 bytes");
    }
    return t;
  }
  if (text.rfind("tcp:", 0) != 0) {
    return Status::badRequest("target '" + text + "' must be unix:/path or tcp:127.0.0.1:PORT");
  }
  std::string rest = text.substr(4);
  std::string host, port;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find("]:");
    if (close == std::string::npos) return Status::badRequest("target '" + text + "': bad IPv6 form");
    host = rest.substr(1, close - 1);
    port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return Status::badRequest("target '" + text + "': missing port");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    return Status::badRequest("target '" + text + "': port must be 1..65535");
  }
  t.kind = Kind::kTcp;
  t.port = static_cast<uint16_t>(std::stoul(port));
  if (host == "localhost") host = "127.0.0.1";
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    if ((ntohl(a4.s_addr) >> 24) != 127) {
      return Status::badRequest("target '" + text + "': only loopback addresses may be targets");
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr = a4;
    sin->sin_port = htons(t.port);
    t.addrLen = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&a6)) {
      return Status::badRequest("target '" + text + "': only loopback addresses may be targets");
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
    sin6->sin6_port = htons(t.port);
    t.addrLen = sizeof(sockaddr_in6);
    t.ipv6 = true;
  } else {
    return Status::badRequest("target '" + text + "': host must be a loopback IP address");
  }
  return t;
}

Result<UniqueFd> startConnect(const Target& t) {
  int domain = t.kind == Target::Kind::kUnix ? AF_UNIX : (t.ipv6 ? AF_INET6 : AF_INET);
  UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::internal(std::string("socket: ") + std::strerror(errno));
  int rc;
  if (t.kind == Target::Kind::kUnix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, t.path.c_str(), t.path.size() + 1);
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&t.addr), t.addrLen);
  }
  if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
    return Status(Code::kCannotConnect, std::string("refused: ") + std::strerror(errno));
  }
  return fd;
}

Result<bool> connectFinished(int fd) {
  pollfd p{fd, POLLOUT, 0};
  int n = ::poll(&p, 1, 0);
  if (n < 0) return Status::internal(std::string("poll: ") + std::strerror(errno));
  if (n == 0) return false;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return Status(Code::kCannotConnect, std::string("refused: ") + std::strerror(err));
  return true;
}

}  // namespace kith::daemon
