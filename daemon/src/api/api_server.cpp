#include "kith/daemon/api/api_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"
#include "kith/socket-api/peer_cred.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "api";

struct DeferredConn : DeferredDeletable {
  explicit DeferredConn(std::shared_ptr<ApiConnection> c) : c(std::move(c)) {}
  std::shared_ptr<ApiConnection> c;
};

}  // namespace

ApiServer::ApiServer(Loop& loop, Options opts) : loop_(loop), opts_(std::move(opts)), backoff_(loop) {}

ApiServer::~ApiServer() { stop(); }

Result<UniqueFd> ApiServer::bindSocket(const std::string& path, mode_t mode,
                                       std::optional<gid_t> group) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    return Status::config("socket path longer than 107 bytes: " + path);
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::fromErrno("socket", errno);
  // A stale socket from a crashed daemon is replaced; a live daemon is not.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    return Status::config("another daemon is serving " + path);
  }
  ::unlink(path.c_str());
  // Bind under a restrictive umask, then set the final mode: there is no
  // moment at which the socket is more open than intended.
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  ::umask(old);
  if (rc != 0) return Status::fromErrno("bind " + path, err);
  if (group && ::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) {
    return Status::fromErrno("chown " + path, errno);
  }
  if (::chmod(path.c_str(), mode) != 0) return Status::fromErrno("chmod " + path, errno);
  if (::listen(fd.get(), 1024) != 0) return Status::fromErrno("listen " + path, errno);
  return fd;
}

Status ApiServer::start(RequestHandler& handler) {
  handler_ = &handler;
  struct Spec {
    std::string path;
    mode_t mode;
    std::optional<gid_t> group;
    ApiConnection::Kind kind;
  };
  std::vector<Spec> specs = {
      {opts_.apiPath, 0666, std::nullopt, ApiConnection::Kind::kApi},
      {opts_.adminPath, static_cast<mode_t>(opts_.adminGroup ? 0660 : 0600), opts_.adminGroup, ApiConnection::Kind::kAdmin},
  };
  for (auto& s : specs) {
    auto fd = bindSocket(s.path, s.mode, s.group);
    if (!fd.isOk()) return fd.status();
    auto l = std::make_unique<Listener>();
    l->fd = std::move(fd).value();
    l->kind = s.kind;
    l->path = s.path;
    l->poll = std::make_unique<Poll>(loop_, l->fd.get());
    Listener* raw = l.get();
    KITH_RETURN_IF_ERROR(l->poll->start(UV_READABLE, [this, raw](int status, int) {
      if (status >= 0) onAcceptable(*raw);
    }));
    listeners_.push_back(std::move(l));
  }
  return Status::ok();
}

void ApiServer::pauseAccepting() {
  ++backoffs_;
  for (auto& l : listeners_) l->poll->stop();
  log::warn(kMod, "out of file descriptors; pausing accept for 100 ms",
            {{"connections", conns_.size()}});
  backoff_.start(100, 0, [this] {
    if (stopped_) return;
    for (auto& l : listeners_) {
      Listener* raw = l.get();
      (void)l->poll->start(UV_READABLE, [this, raw](int status, int) {
        if (status >= 0) onAcceptable(*raw);
      });
    }
  });
}

void ApiServer::onAcceptable(Listener& l) {
  for (int i = 0; i < 64; ++i) {
    int cfd = ::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pauseAccepting();
        return;
      }
      log::error(kMod, "accept failed", {{"error", std::strerror(errno)}});
      return;
    }
    UniqueFd fd(cfd);
    if (conns_.size() >= opts_.maxConnections) {
      log::warn(kMod, "connection limit reached; refusing", {{"limit", opts_.maxConnections}});
      continue;  // fd closes
    }
    auto cred = api::peerCredOf(fd.get());
    if (!cred.isOk()) {
      log::warn(kMod, "no peer credentials; refusing", {{"error", cred.status().toString()}});
      continue;
    }
    Caller caller;
    caller.cred = *cred;
    caller.connId = nextId_++;
    if (cred->pid > 0) {
      caller.startTime = api::processStartTime(cred->pid).value_or(0);
      caller.exe = api::processExe(cred->pid);
    }
    auto conn = std::make_shared<ApiConnection>(loop_, std::move(fd), l.kind, std::move(caller));
    uint64_t id = conn->id();
    conns_[id] = conn;
    RequestHandler* h = handler_;
    (void)conn->start(
        [h](ApiConnection& c, nlohmann::json req, Reply r) { h->handle(c, std::move(req), std::move(r)); },
        [this, id](ApiConnection& c) {
          handler_->connectionClosed(c);
          auto it = conns_.find(id);
          if (it == conns_.end()) return;
          // Never destroy a connection inside its own callback.
          loop_.deferredDelete(std::make_unique<DeferredConn>(std::move(it->second)));
          conns_.erase(it);
        });
  }
}

std::shared_ptr<ApiConnection> ApiServer::find(uint64_t connId) const {
  auto it = conns_.find(connId);
  return it == conns_.end() ? nullptr : it->second;
}

bool ApiServer::deliverIncoming(uint64_t connId, const IncomingStream& s, UniqueFd end) {
  auto conn = find(connId);
  if (!conn || conn->closed()) return false;
  conn->pushEvent({{"event", "incoming"}, {"fd", true}, {"stream", s.stream}, {"source", s.source},
                   {"spiffe_id", s.spiffeId}, {"proto", s.proto}},
                  std::move(end));
  return true;
}

void ApiServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  backoff_.stop();
  for (auto& l : listeners_) {
    l->poll.reset();
    ::unlink(l->path.c_str());
  }
  listeners_.clear();
  auto conns = conns_;
  for (auto& [id, c] : conns) c->close();
}

}  // namespace kith::daemon
