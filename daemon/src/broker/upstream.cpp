#include "kith/daemon/broker/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"
#include "kith/daemon/tunnel/tunnel_broker.h"

namespace kith::daemon {
namespace {
constexpr const char* kMod = "upstream";
}  // namespace

Upstream::Upstream(Loop& loop, Registry& registry, LocalBroker& broker, UpstreamOptions opts)
    : loop_(loop), broker_(broker), opts_(std::move(opts)),
      self_(loop, registry, opts_.name, "kithd-upstream"), retry_(loop) {}

Upstream::~Upstream() {
  *alive_ = false;
  poll_.reset();
}

Result<std::unique_ptr<Upstream>> Upstream::create(Loop& loop, Registry& registry, LocalBroker& broker,
                                                   UpstreamOptions opts) {
  std::unique_ptr<Upstream> u(new Upstream(loop, registry, broker, std::move(opts)));
  auto ep = parseEndpoint(u->opts_.listen);
  if (!ep.isOk()) return Status::config("upstream " + u->opts_.name + ": listen " + ep.status().message());
  u->fd_ = UniqueFd(::socket(ep->first.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(u->fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!u->fd_ || ::bind(u->fd_.get(), reinterpret_cast<const sockaddr*>(&ep->first), ep->second) != 0 ||
      ::listen(u->fd_.get(), 512) != 0) {
    return Status::fromErrno("upstream " + u->opts_.name + ": listen on " + u->opts_.listen, errno);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(u->fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                    : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  u->endpoint_ = u->opts_.listen.substr(0, u->opts_.listen.rfind(':')) + ":" + std::to_string(port);
  u->poll_ = std::make_unique<Poll>(loop, u->fd_.get());
  Upstream* raw = u.get();
  // Connections are accepted while the registration is active.
  u->self_.start(
      [raw] {
        raw->startAccepting();
        log::info(kMod, "forwarding", {{"listen", raw->endpoint_}, {"destination", raw->opts_.destination},
                                       {"as", raw->self_.address()}});
      },
      [raw] { raw->poll_->stop(); });
  return u;
}

void Upstream::startAccepting() {
  (void)poll_->start(UV_READABLE, [this](int status, int) {
    if (status >= 0) onAccept();
  });
}

void Upstream::onAccept() {
  for (int i = 0; i < 64; ++i) {
    int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: pause instead of spinning on a ready listener.
        poll_->stop();
        retry_.start(250, 0, [this] { startAccepting(); });
      }
      return;
    }
    ++accepted_;
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const Registration* self = self_.registration();
    if (self == nullptr) {
      ::close(c);
      ++failed_;
      continue;
    }
    ConnectRequest req;
    req.destination = opts_.destination;
    req.timeoutMs = opts_.timeoutMs;
    req.callerFd = UniqueFd(c);
    std::weak_ptr<bool> alive = alive_;
    broker_.connect(*self, self_.uid(), std::move(req), [this, alive](Status st, ConnectResult) {
      if (alive.expired() || st.isOk()) return;
      ++failed_;
      // The accepted connection closes with the request: the client sees EOF.
      log::info(kMod, "connect failed", {{"as", self_.address()}, {"destination", opts_.destination},
                                         {"code", std::string(codeName(st.code()))}, {"reason", st.message()}});
    });
  }
}

}  // namespace kith::daemon
