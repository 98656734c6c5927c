#include "kith/daemon/upstream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"
#include "kith/daemon/tunnel_broker.h"
#include "kith/socket-api/peer_cred.h"

namespace kith::daemon {
namespace {
constexpr const char* kMod = "upstream";
}  // namespace

Upstream::Upstream(Loop& loop, Registry& registry, LocalBroker& broker, UpstreamOptions opts)
    : loop_(loop), registry_(registry), broker_(broker), opts_(std::move(opts)), heartbeat_(loop), retry_(loop),
      uid_(::getuid()) {}

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
  u->registerSelf();
  return u;
}

void Upstream::registerSelf() {
  Caller caller;
  caller.cred.pid = ::getpid();
  caller.cred.uid = uid_;
  caller.cred.gid = ::getgid();
  caller.startTime = api::processStartTime(caller.cred.pid).value_or(0);
  caller.exe = api::processExe(caller.cred.pid);
  RegisterRequest req;
  req.name = opts_.name;
  req.app = "kithd-upstream";
  std::weak_ptr<bool> alive = alive_;
  Status st = registry_.registerWorkload(caller, std::move(req), [this, alive](Result<RegisterResult> r) {
    if (alive.expired()) return;
    if (!r.isOk()) {
      // ALREADY_REGISTERED after a restart whose old lease still runs, or a
      // store hiccup: try again shortly.
      log::warn(kMod, "cannot register; retrying", {{"name", opts_.name}, {"error", r.status().toString()}});
      retry_.start(1000, 0, [this] { registerSelf(); });
      return;
    }
    address_ = r->address;
    token_ = r->token;
    uint64_t every = static_cast<uint64_t>(std::max<int64_t>(r->ttlMs / 3, 100));
    heartbeat_.start(every, every, [this] {
      if (!registry_.heartbeat(token_, uid_).isOk()) {
        heartbeat_.stop();
        poll_->stop();
        log::warn(kMod, "registration lost; registering again", {{"name", opts_.name}});
        registerSelf();
      }
    });
    (void)poll_->start(UV_READABLE, [this](int status, int) {
      if (status >= 0) onAccept();
    });
    log::info(kMod, "forwarding", {{"listen", endpoint_}, {"destination", opts_.destination}, {"as", address_}});
  });
  if (!st.isOk()) {
    log::error(kMod, "cannot register", {{"name", opts_.name}, {"error", st.toString()}});
  }
}

void Upstream::onAccept() {
  for (int i = 0; i < 64; ++i) {
    int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: pause instead of spinning on a ready listener.
        poll_->stop();
        retry_.start(250, 0, [this] {
          (void)poll_->start(UV_READABLE, [this](int status, int) {
            if (status >= 0) onAccept();
          });
        });
      }
      return;
    }
    ++accepted_;
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const Registration* self = registry_.find(address_);
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
    broker_.connectFor(*self, uid_, std::move(req), [this, alive](Status st, nlohmann::json, UniqueFd) {
      if (alive.expired() || st.isOk()) return;
      ++failed_;
      // The accepted connection closes with the request: the client sees EOF.
      log::info(kMod, "connect failed", {{"as", address_}, {"destination", opts_.destination},
                                         {"code", std::string(codeName(st.code()))}, {"reason", st.message()}});
    });
  }
}

}  // namespace kith::daemon
