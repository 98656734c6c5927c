#include "kith/daemon/broker/server_ends.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "kith/common/log.h"
#include "kith/daemon/broker/target.h"
#include "kith/daemon/registry/registry.h"
#include "kith/socket-api/peer_cred.h"
#include "kith/socket-api/proxy_header.h"
#include "stream_sockets.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "broker";

}  // namespace

// The daemon dials `unix:` targets with its own privileges, so a registration
// could otherwise name a socket its owner may not open (admin.sock, another
// user's or root's service socket) and reach it through the mesh. A unix
// target is therefore accepted only when the process serving it (the
// kernel's SO_PEERCRED of the listening end) runs as the registering uid;
// root's registrations may name any socket. TCP targets are loopback ports,
// which every local user can reach anyway.
Status checkTargetOwner(const Registration& dst, int connectedFd) {
  if (dst.row.uid == 0) return Status::ok();
  auto t = Target::parse(dst.row.target);
  if (!t.isOk() || t->kind != Target::Kind::kUnix) return Status::ok();
  auto server = api::peerCredOf(connectedFd);
  if (!server.isOk()) {
    return Status(Code::kCannotConnect, dst.row.address + ": cannot tell who serves " + dst.row.target);
  }
  if (server->uid != dst.row.uid) {
    log::warn(kMod, "unix target served by another uid; refused",
              {{"dst", dst.row.address}, {"target", dst.row.target}, {"registered_uid", dst.row.uid},
               {"serving_uid", server->uid}});
    return Status(Code::kCannotConnect, dst.row.address + ": target " + dst.row.target + " is served by uid " +
                                            std::to_string(server->uid) + ", not by the registering uid " +
                                            std::to_string(dst.row.uid));
  }
  return Status::ok();
}

// Non-blocking connect to a target, with timeout. Calls done exactly once.
class ServerEnds::Dial : public DeferredDeletable {
 public:
  Dial(Loop& loop, UniqueFd fd, std::function<void(Status, UniqueFd)> done)
      : fd_(std::move(fd)), poll_(std::make_unique<Poll>(loop, fd_.get())), timer_(loop),
        done_(std::move(done)) {}

  void start(int64_t timeoutMs) {
    timer_.start(static_cast<uint64_t>(timeoutMs), 0, [this] {
      finish(Status(Code::kCannotConnect, "target did not accept within the timeout"));
    });
    Status st = poll_->start(UV_WRITABLE, [this](int status, int) {
      int err = 0;
      socklen_t len = sizeof err;
      if (status < 0) err = ECONNREFUSED;
      else ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        finish(Status(Code::kCannotConnect, std::string("target refused: ") + std::strerror(err)));
      } else {
        finish(Status::ok());
      }
    });
    if (!st.isOk()) finish(st);
  }

 private:
  void finish(Status st) {
    if (!done_) return;
    timer_.stop();
    // The Poll goes before the descriptor changes hands (see Poll).
    poll_.reset();
    auto cb = std::move(done_);
    done_ = nullptr;
    cb(std::move(st), st.isOk() ? std::move(fd_) : UniqueFd());
  }
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  Timer timer_;
  std::function<void(Status, UniqueFd)> done_;
};

ServerEnds::ServerEnds(Loop& loop, Registry& registry, ListenerSink& listeners)
    : loop_(loop), registry_(registry), listeners_(listeners) {}

ServerEnds::~ServerEnds() { closeAll(); }

void ServerEnds::closeAll() {
  for (auto& [id, job] : jobs_) loop_.deferredDelete(std::move(job));
  jobs_.clear();
}

void ServerEnds::finishJob(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  loop_.deferredDelete(std::move(it->second));
  jobs_.erase(it);
}

void ServerEnds::open(const std::string& dstAddress, const StreamOrigin& origin, const std::string& proto,
                      int64_t timeoutMs, uint64_t stream, Done done) {
  Registration* dst = registry_.findMutable(dstAddress);
  if (!dst) return done(Status(Code::kDestinationNotFound, dstAddress + " is not registered here"), UniqueFd());
  if (!dst->hasTarget()) {
    if (dst->listenerConnId == 0) {
      return done(Status(Code::kCannotConnect, dstAddress + " is registered but not listening"), UniqueFd());
    }
    auto pair = makeStreamPair(proto);
    if (!pair.isOk()) return done(pair.status(), UniqueFd());
    auto [mine, theirs] = std::move(pair).value();
    // theirs stays blocking, as from accept(2).
    if (!listeners_.deliverIncoming(dst->listenerConnId, {stream, origin.address, origin.spiffeId, proto},
                                    std::move(theirs))) {
      return done(Status(Code::kCannotConnect, dstAddress + " is registered but not listening"), UniqueFd());
    }
    setNonBlocking(mine.get());
    return done(Status::ok(), std::move(mine));
  }
  if (proto == "udp") {
    return done(Status(Code::kCannotConnect, dstAddress + ": targets carry tcp streams only"), UniqueFd());
  }
  dialTarget(*dst, origin, timeoutMs, std::move(done));
}

void ServerEnds::dialTarget(const Registration& dst, const StreamOrigin& origin, int64_t timeoutMs, Done done) {
  const std::string addr = dst.row.address;
  auto target = Target::parse(dst.row.target);
  if (!target.isOk()) return done(Status(Code::kCannotConnect, target.status().message()), UniqueFd());
  auto fd = startConnect(*target);
  if (!fd.isOk()) {
    Status st = fd.status();
    return done(st.code() == Code::kCannotConnect
                    ? Status(st.code(), addr + ": target " + dst.row.target + " " + st.message())
                    : st,
                UniqueFd());
  }
  auto finished = [this, addr, origin, done](Status st, UniqueFd cfd) {
    Registration* d = registry_.findMutable(addr);
    if (st.isOk() && !d) st = Status(Code::kDestinationNotFound, addr + " deregistered");
    if (!st.isOk()) {
      std::string why = st.message().rfind(addr, 0) == 0 ? st.message() : addr + ": " + st.message();
      return done(Status(st.code(), why), UniqueFd());
    }
    if (Status owner = checkTargetOwner(*d, cfd.get()); !owner.isOk()) return done(owner, UniqueFd());
    if (d->row.proxyProtocol && !origin.raw) {
      api::ProxyHeader h;
      auto t = Target::parse(d->row.target);
      if (t->kind == Target::Kind::kUnix) {
        h.family = api::ProxyHeader::Family::kUnix;
        h.dstAddr = t->path;
      } else if (t->ipv6) {
        h.family = api::ProxyHeader::Family::kInet6;
        h.srcAddr = h.dstAddr = std::string(16, '\0');
        h.srcAddr[15] = h.dstAddr[15] = 1;
        h.dstPort = t->port;
      } else {
        h.family = api::ProxyHeader::Family::kInet;
        h.srcAddr = h.dstAddr = std::string("\x7f\x00\x00\x01", 4);
        h.dstPort = t->port;
      }
      h.tlvs = {{api::kTlvKithAddress, origin.address}, {api::kTlvKithSpiffeId, origin.spiffeId}};
      auto enc = api::encodeProxyHeader(h);
      // A fresh socket's send buffer always takes a header this small at once.
      if (!enc.isOk() || ::send(cfd.get(), enc->data(), enc->size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
                             static_cast<ssize_t>(enc->size())) {
        return done(Status(Code::kCannotConnect, addr + ": could not send the PROXY header"), UniqueFd());
      }
    }
    done(Status::ok(), std::move(cfd));
  };
  // A loopback handshake is usually complete already: then no Dial (poll
  // registration, timer, an iteration) is needed.
  auto now = connectFinished(fd->get());
  if (!now.isOk()) {
    return done(Status(Code::kCannotConnect, addr + ": target " + dst.row.target + " " + now.status().message()),
                UniqueFd());
  }
  if (*now) return finished(Status::ok(), std::move(fd).value());
  uint64_t job = nextJob_++;
  auto dial = std::make_unique<Dial>(loop_, std::move(fd).value(),
                                     [this, job, finished](Status st, UniqueFd cfd) {
                                       finishJob(job);
                                       finished(std::move(st), std::move(cfd));
                                     });
  Dial* raw = dial.get();
  jobs_[job] = std::move(dial);
  raw->start(timeoutMs);
}

}  // namespace kith::daemon
