#include "kith/daemon/vhost_route.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"
#include "kith/daemon/local_broker.h"
#include "kith/daemon/target.h"
#include "kith/policy/pattern.h"

namespace kith::daemon {

struct LocalVhostRoute::Attempt {
  std::string destination;
  VhostStreamSource source;
  int64_t timeoutMs = 0;
  std::vector<std::string> candidates;
  size_t next = 0;
  Status lastError;
  Done done;
};

// A non-blocking connect to one target; `cb` runs exactly once from the loop.
class LocalVhostRoute::Dial {
 public:
  Dial(Loop& loop, UniqueFd fd, std::function<void(Status, UniqueFd)> cb)
      : fd_(std::move(fd)), poll_(std::make_unique<Poll>(loop, fd_.get())), timer_(loop), cb_(std::move(cb)) {}
  void start(int64_t timeoutMs) {
    timer_.start(static_cast<uint64_t>(timeoutMs), 0,
                 [this] { finish(Status(Code::kCannotConnect, "backend did not accept in time")); });
    Status st = poll_->start(UV_WRITABLE, [this](int status, int) {
      int err = 0;
      socklen_t len = sizeof err;
      if (status < 0) err = ECONNREFUSED;
      else ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      finish(err ? Status(Code::kCannotConnect, std::string("backend refused: ") + std::strerror(err))
                 : Status::ok());
    });
    if (!st.isOk()) finish(st);
  }

 private:
  void finish(Status st) {
    if (!cb_) return;
    timer_.stop();
    poll_.reset();  // before the descriptor changes hands
    auto cb = std::move(cb_);
    cb_ = nullptr;
    cb(st, st.isOk() ? std::move(fd_) : UniqueFd());
  }
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  Timer timer_;
  std::function<void(Status, UniqueFd)> cb_;
};

LocalVhostRoute::LocalVhostRoute(Loop& loop, Registry& registry, ApiServer& server)
    : loop_(loop), registry_(registry), server_(server) {}

LocalVhostRoute::~LocalVhostRoute() {
  *alive_ = false;
  dials_.clear();  // pending dials end without calling back (see the header)
}

void LocalVhostRoute::finishDial(uint64_t id) {
  auto it = dials_.find(id);
  if (it == dials_.end()) return;
  // Never destroyed inside its own callback: handed to the loop.
  struct Holder : DeferredDeletable {
    std::unique_ptr<Dial> d;
  };
  auto h = std::make_unique<Holder>();
  h->d = std::move(it->second);
  dials_.erase(it);
  loop_.deferredDelete(std::move(h));
}

void LocalVhostRoute::open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
                           Done done) {
  auto a = std::make_shared<Attempt>();
  a->destination = destination;
  a->source = source;
  a->timeoutMs = timeoutMs;
  a->done = std::move(done);
  auto pat = policy::Pattern::parse(destination);
  if (pat.isOk()) {
    auto matches = registry_.match(*pat);
    size_t n = matches.size();
    size_t start = n > 1 ? static_cast<size_t>(rr_++ % n) : 0;
    for (size_t i = 0; i < n; ++i) {
      const Registration* r = matches[(start + i) % n];
      bool tcp = false;
      for (const auto& p : r->row.protocols) tcp |= p == "tcp";
      if (tcp) a->candidates.push_back(r->row.address);
    }
    if (a->candidates.empty()) {
      a->lastError = Status(Code::kDestinationNotFound, "no backend workload matches " + destination);
    }
  } else {
    a->lastError = Status::badRequest("backend pattern: " + pat.status().message());
  }
  // Always answer from the loop, never from inside open().
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive, a] {
    if (alive.expired()) return;
    tryNext(a);
  });
}

void LocalVhostRoute::tryNext(std::shared_ptr<Attempt> a) {
  while (a->next < a->candidates.size()) {
    const std::string addr = a->candidates[a->next++];
    Registration* dst = registry_.findMutable(addr);
    if (!dst) continue;
    if (!dst->hasTarget()) {
      auto listener = dst->listenerConnId ? server_.find(dst->listenerConnId) : nullptr;
      if (!listener || listener->closed()) {
        a->lastError = Status(Code::kCannotConnect, addr + " is registered but not listening");
        continue;
      }
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        a->lastError = Status::internal(std::string("socketpair: ") + std::strerror(errno));
        break;
      }
      UniqueFd mine(sv[0]), theirs(sv[1]);
      // The listener's end is blocking, as from accept(2).
      int fl = ::fcntl(theirs.get(), F_GETFL);
      if (fl >= 0) ::fcntl(theirs.get(), F_SETFL, fl & ~O_NONBLOCK);
      listener->pushEvent({{"event", "incoming"}, {"fd", true}, {"source", a->source.name},
                           {"spiffe_id", a->source.identity}, {"proto", "tcp"}, {"vhost", true}},
                          std::move(theirs));
      a->done(Status::ok(), std::move(mine));
      return;
    }
    auto target = Target::parse(dst->row.target);
    if (!target.isOk()) {
      a->lastError = Status(Code::kCannotConnect, target.status().message());
      continue;
    }
    auto fd = startConnect(*target);
    if (!fd.isOk()) {
      if (fd.status().code() != Code::kCannotConnect) {
        a->lastError = fd.status();
        break;
      }
      a->lastError = Status(Code::kCannotConnect, addr + ": backend " + dst->row.target + " " + fd.status().message());
      continue;
    }
    uint64_t id = nextDial_++;
    auto dial = std::make_unique<Dial>(loop_, std::move(fd).value(), [this, a, id, addr](Status st, UniqueFd cfd) {
      finishDial(id);
      Registration* d = registry_.findMutable(addr);
      if (st.isOk() && !d) st = Status(Code::kDestinationNotFound, addr + " deregistered");
      if (st.isOk()) st = checkTargetOwner(*d, cfd.get());
      if (!st.isOk()) {
        a->lastError = Status(st.code(), addr + ": " + st.message());
        return tryNext(a);
      }
      a->done(Status::ok(), std::move(cfd));
    });
    Dial* raw = dial.get();
    dials_[id] = std::move(dial);
    raw->start(a->timeoutMs);
    return;
  }
  a->done(a->lastError.isOk() ? Status(Code::kCannotConnect, "no backend accepted") : a->lastError, UniqueFd());
}

}  // namespace kith::daemon
