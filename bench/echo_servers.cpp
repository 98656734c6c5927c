#include "echo_servers.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include "kith/common/json.h"

namespace kith::bench {
namespace {

constexpr int kByteWaitMs = 2000;

// Waits for one byte on fd and returns it (-1 on timeout, EOF or error).
int readByte(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kByteWaitMs) <= 0) return -1;
  unsigned char b;
  ssize_t n;
  do {
    n = ::recv(fd, &b, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n == 1 ? b : -1;
}

bool echoByte(int fd) {
  int b = readByte(fd);
  if (b < 0) return false;
  unsigned char c = static_cast<unsigned char>(b);
  return ::send(fd, &c, 1, MSG_NOSIGNAL) == 1;
}

// The client half shared by every variant: write 'k', expect it back.
Status pingByte(int fd) {
  const unsigned char c = 'k';
  if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) return Status::fromErrno("send", errno);
  int b = readByte(fd);
  if (b != c) return Status::io("echo", "no byte came back within 2 s");
  return Status::ok();
}

}  // namespace

// ---- PlainEchoServer ---------------------------------------------------------

Result<std::unique_ptr<PlainEchoServer>> PlainEchoServer::start(Kind kind, const std::string& unixPath) {
  std::unique_ptr<PlainEchoServer> s(new PlainEchoServer());
  s->kind_ = kind;
  if (kind == Kind::kUnix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (unixPath.size() >= sizeof sa.sun_path) return Status::badRequest("path too long: " + unixPath);
    std::memcpy(sa.sun_path, unixPath.data(), unixPath.size());
    std::memcpy(&s->addr_, &sa, sizeof sa);
    s->addrLen_ = sizeof sa;
    s->listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::memcpy(&s->addr_, &sa, sizeof sa);
    s->addrLen_ = sizeof sa;
    s->listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  if (!s->listen_) return Status::fromErrno("socket", errno);
  if (::bind(s->listen_.get(), reinterpret_cast<sockaddr*>(&s->addr_), s->addrLen_) != 0) {
    return Status::fromErrno("bind", errno);
  }
  // The kernel chose the TCP port: dial what getsockname says.
  if (::getsockname(s->listen_.get(), reinterpret_cast<sockaddr*>(&s->addr_), &s->addrLen_) != 0) {
    return Status::fromErrno("getsockname", errno);
  }
  if (::listen(s->listen_.get(), 128) != 0) return Status::fromErrno("listen", errno);
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

PlainEchoServer::~PlainEchoServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PlainEchoServer::run() {
  while (!stop_) {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    UniqueFd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!c) continue;
    if (echoByte(c.get())) ++served_;
  }
}

Status PlainEchoServer::echoOnce() const {
  UniqueFd fd(::socket(addr_.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::fromErrno("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr_), addrLen_) != 0) {
    return Status::fromErrno("connect", errno);
  }
  return pingByte(fd.get());
}

// ---- KithEchoServer ----------------------------------------------------------

Result<std::unique_ptr<KithEchoServer>> KithEchoServer::start(const std::string& apiSocket,
                                                              const std::string& name,
                                                              const std::string& whitelist) {
  auto api = ApiClient::connect(apiSocket);
  if (!api.isOk()) return api.status();
  std::unique_ptr<KithEchoServer> s(new KithEchoServer(std::move(api).value()));
  auto reg = s->api_.request({{"op", "register"}, {"name", name}, {"whitelist", {whitelist}}});
  if (!reg.isOk()) return reg.status();
  if (!reg->json.value("ok", false)) return Status::internal("register " + name + ": " + kith::dumpJson(reg->json));
  s->address_ = reg->json.value("address", "");
  auto lis = s->api_.request({{"op", "listen"}, {"token", reg->json["token"]}});
  if (!lis.isOk()) return lis.status();
  if (!lis->json.value("ok", false)) return Status::internal("listen: " + kith::dumpJson(lis->json));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

KithEchoServer::~KithEchoServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string KithEchoServer::error() const { return failed_ ? error_ : std::string(); }

void KithEchoServer::run() {
  while (!stop_) {
    auto m = api_.nextEvent(100);
    if (!m.isOk()) {
      if (m.status().code() == Code::kTimeout) continue;
      error_ = m.status().message();
      failed_ = true;
      return;
    }
    if (m->json.value("event", "") != "incoming" || !m->fd) continue;
    if (echoByte(m->fd.get())) ++served_;
  }
}

Status kithEchoOnce(ApiClient& api, const std::string& token, const std::string& destination) {
  auto r = api.request({{"op", "connect"}, {"token", token}, {"destination", destination}}, 5000);
  if (!r.isOk()) return r.status();
  if (!r->json.value("ok", false)) return Status::internal("connect: " + kith::dumpJson(r->json));
  if (!r->fd) return Status::internal("connect reply carried no descriptor");
  return pingByte(r->fd.get());
}

}  // namespace kith::bench
