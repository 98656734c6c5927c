#include "kith/daemon/broker/local_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/daemon/broker/target.h"
#include "kith/socket-api/peer_cred.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "broker";

Result<std::pair<UniqueFd, UniqueFd>> makePair(const std::string& proto) {
  int sv[2];
  // SEQPACKET keeps datagram boundaries and still has stream-like EOF.
  int type = proto == "udp" ? SOCK_SEQPACKET : SOCK_STREAM;
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::internal(std::string("socketpair: ") + std::strerror(errno));
  }
  return std::make_pair(UniqueFd(sv[0]), UniqueFd(sv[1]));
}

// FIONBIO: one syscall where fcntl needs F_GETFL and F_SETFL (this runs for
// every stream).
void setBlocking(int fd) {
  int off = 0;
  ::ioctl(fd, FIONBIO, &off);
}

void setNonBlocking(int fd) {
  int on = 1;
  ::ioctl(fd, FIONBIO, &on);
}

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

std::optional<uint16_t> targetPort(const Registration& r) {
  if (!r.hasTarget()) return std::nullopt;
  auto t = Target::parse(r.row.target);
  if (!t.isOk() || t->kind != Target::Kind::kTcp) return std::nullopt;
  return t->port;
}

// One connect request working through its candidates.
struct LocalBroker::Attempt {
  StreamOrigin origin;
  uid_t uid = 0;
  ConnectRequest req;
  std::vector<Candidate> candidates;  // allowed destinations, in try order
  size_t next = 0;
  Status lastError;
  LocalBroker::Done done;
};

// Non-blocking connect to a target, with timeout. Calls done exactly once.
class LocalBroker::Dial : public DeferredDeletable {
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

// A one-shot Unix socket path: accepts one connection from the caller's uid
// within the timeout and hands it on; then the path is removed.
class LocalBroker::PathRelay : public DeferredDeletable {
 public:
  PathRelay(Loop& loop, std::string path, UniqueFd listenFd, uid_t uid,
            std::function<void(UniqueFd conn)> done)
      : path_(std::move(path)), listen_(std::move(listenFd)), uid_(uid),
        poll_(std::make_unique<Poll>(loop, listen_.get())), timer_(loop), done_(std::move(done)) {}
  ~PathRelay() override {
    poll_.reset();
    ::unlink(path_.c_str());
  }

  void start(int64_t timeoutMs) {
    timer_.start(static_cast<uint64_t>(timeoutMs), 0, [this] {
      log::info(kMod, "path socket not used in time; removed", {{"path", path_}});
      end(UniqueFd());
    });
    (void)poll_->start(UV_READABLE, [this](int status, int) {
      if (status < 0) return end(UniqueFd());
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      UniqueFd conn(c);
      auto cr = api::peerCredOf(c);
      if (!cr.isOk() || (cr->uid != uid_ && cr->uid != 0)) {
        log::warn(kMod, "path socket: connection from another uid refused",
                  {{"path", path_}, {"uid", cr.isOk() ? static_cast<int64_t>(cr->uid) : -1}});
        return;  // keep waiting for the rightful caller
      }
      end(std::move(conn));
    });
  }

 private:
  void end(UniqueFd conn) {
    if (!done_) return;
    timer_.stop();
    poll_.reset();
    listen_.reset();
    ::unlink(path_.c_str());
    auto cb = std::move(done_);
    done_ = nullptr;
    cb(std::move(conn));
  }
  std::string path_;
  UniqueFd listen_;
  uid_t uid_;
  std::unique_ptr<Poll> poll_;
  Timer timer_;
  std::function<void(UniqueFd)> done_;
};

LocalBroker::LocalBroker(Loop& loop, Registry& registry, ApiServer& server, PolicyManager& policy,
                         Options opts)
    : loop_(loop), registry_(registry), server_(server), policy_(policy), opts_(std::move(opts)) {}

LocalBroker::~LocalBroker() { closeAll(); }

void LocalBroker::finishJob(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  loop_.deferredDelete(std::move(it->second));
  jobs_.erase(it);
}

void LocalBroker::connect(const Registration& src, const Caller& caller, ConnectRequest req, Reply reply) {
  auto r = std::make_shared<Reply>(std::move(reply));
  connectFor(src, caller.cred.uid, std::move(req), [r](Status st, nlohmann::json fields, UniqueFd fd) {
    if (!st.isOk()) return r->error(st);
    if (fd) return r->okWithFd(std::move(fields), std::move(fd));
    r->ok(std::move(fields));
  });
}

void LocalBroker::connectFor(const Registration& src, uid_t uid, ConnectRequest req, Done done) {
  auto fail = [&done](Status st) { done(std::move(st), nullptr, UniqueFd()); };
  ++stats_.connects;
  if (req.proto != "tcp" && req.proto != "udp") {
    return fail(Status::badRequest("proto must be tcp or udp"));
  }
  if (req.mode != "fd" && req.mode != "path") {
    return fail(Status::badRequest("mode must be fd or path"));
  }
  if (req.mode == "path" && req.proto == "udp") {
    return fail(Status::badRequest("mode path carries streams only; use fd for udp"));
  }
  if (req.timeoutMs <= 0 || req.timeoutMs > 600000) {
    return fail(Status::badRequest("timeout_ms must be between 1 and 600000"));
  }
  auto pat = policy::Pattern::parse(req.destination);
  if (!pat.isOk()) return fail(Status::badRequest("destination: " + pat.status().message()));
  auto matches = registry_.match(*pat);
  std::vector<RemoteWorkload> remote = remoteMatch_ ? remoteMatch_(*pat) : std::vector<RemoteWorkload>{};
  if (matches.empty() && remote.empty()) {
    return fail(Status(Code::kDestinationNotFound, "no workload matches " + req.destination));
  }
  auto a = std::make_shared<Attempt>();
  a->origin = {src.row.address, src.row.spiffeId, req.raw};
  a->uid = uid;
  a->req = std::move(req);
  Status firstDenial;
  auto consider = [&](const std::string& address, const std::string& machine,
                      const std::vector<std::string>& protocols, const policy::Address& dstAddr,
                      const std::vector<policy::Pattern>& whitelist, std::optional<uint16_t> port) {
    bool speaks = false;
    for (const auto& p : protocols) speaks |= p == a->req.proto;
    if (!speaks) {
      if (firstDenial.isOk()) firstDenial = Status(Code::kCannotConnect, address + " does not speak " + a->req.proto);
      return;
    }
    AuthDecision d = policy_.decide(src.address, dstAddr, a->req.proto, port, whitelist);
    if (!d.allowed) {
      if (firstDenial.isOk() || firstDenial.code() != Code::kUnauthorized) {
        firstDenial = Status(Code::kUnauthorized, d.message);
      }
      return;
    }
    a->candidates.push_back({address, machine});
  };
  for (const Registration* dst : matches) {
    consider(dst->row.address, "", dst->row.protocols, dst->address, dst->whitelist, targetPort(*dst));
  }
  for (const RemoteWorkload& w : remote) {
    auto addr = policy::Address::parse(w.address);
    if (!addr.isOk()) continue;
    std::vector<policy::Pattern> whitelist;
    for (const auto& text : w.whitelist) {
      if (auto p = policy::Pattern::parse(text); p.isOk()) whitelist.push_back(*p);
    }
    consider(w.address, w.machine, w.protocols, *addr, whitelist, std::nullopt);
  }
  if (a->candidates.empty()) {
    ++stats_.denied;
    return fail(firstDenial);
  }
  // Round robin over the group: each connect starts one further along.
  size_t n = a->candidates.size();
  if (n > 1) std::rotate(a->candidates.begin(), a->candidates.begin() + static_cast<long>(rr_++ % n), a->candidates.end());
  a->done = std::move(done);
  tryNext(std::move(a));
}

void LocalBroker::tryNext(std::shared_ptr<Attempt> a) {
  if (a->next >= a->candidates.size()) {
    ++stats_.failed;
    a->done(a->lastError.isOk() ? Status(Code::kCannotConnect, "no destination accepted") : a->lastError, nullptr,
            UniqueFd());
    return;
  }
  Candidate c = a->candidates[a->next++];
  if (!c.machine.empty()) return tryRemote(std::move(a), c);
  openLocal(c.address, a->origin, a->req.proto, a->req.timeoutMs, [this, a, c](Status st, UniqueFd serverEnd) {
    const Registration* dst = st.isOk() ? registry_.find(c.address) : nullptr;
    if (st.isOk() && dst == nullptr) st = Status(Code::kDestinationNotFound, c.address + " deregistered");
    if (!st.isOk()) {
      a->lastError = st;
      return tryNext(a);
    }
    StreamInfo info{nextStream_++, a->origin.address, dst->row.address, a->req.proto, targetPort(*dst),
                    systemClock().nowMicros()};
    nlohmann::json fields = {{"destination", dst->row.address}, {"spiffe_id", dst->row.spiffeId},
                             {"stream", info.id}};
    log::debug(kMod, "connected", {{"src", a->origin.address}, {"dst", dst->row.address}, {"mode", a->req.mode}});
    if (a->req.mode == "fd" && opts_.handoff && !a->req.callerFd) {
      ++stats_.handedOff;
      setBlocking(serverEnd.get());
      a->done(Status::ok(), std::move(fields), std::move(serverEnd));
      return;
    }
    auto server = std::make_shared<UniqueFd>(std::move(serverEnd));
    handToCaller(a, std::move(fields), [this, server, info](UniqueFd mine) mutable {
      if (!mine) return;  // never taken: the server end closes with `server`
      startRelay(std::move(info), std::move(mine), std::move(*server));
    });
  });
}

void LocalBroker::tryRemote(std::shared_ptr<Attempt> a, const Candidate& c) {
  if (remote_ == nullptr) {
    a->lastError = Status(Code::kDestinationUnreachable,
                          c.address + " is on machine " + c.machine +
                              " and tunnels between machines are off here ([broker] listen is not set)");
    return tryNext(std::move(a));
  }
  remote_->open(c.machine, c.address, a->origin, a->req.proto, a->req.timeoutMs,
                [this, a, c](Status st, RemoteOpener::Attach attach) {
                  if (!st.isOk()) {
                    a->lastError = st;
                    // A refusal by policy or a bad request is final for this
                    // destination but another group member may still take it.
                    return tryNext(a);
                  }
                  ++stats_.remote;
                  nlohmann::json fields = {{"destination", c.address}, {"machine", c.machine}};
                  handToCaller(a, std::move(fields), std::move(attach));
                });
}

void LocalBroker::openLocal(const std::string& dstAddress, const StreamOrigin& origin, const std::string& proto,
                            int64_t timeoutMs, std::function<void(Status, UniqueFd)> done) {
  Registration* dst = registry_.findMutable(dstAddress);
  if (!dst) return done(Status(Code::kDestinationNotFound, dstAddress + " is not registered here"), UniqueFd());
  if (!dst->hasTarget()) {
    auto listener = dst->listenerConnId ? server_.find(dst->listenerConnId) : nullptr;
    if (!listener || listener->closed()) {
      return done(Status(Code::kCannotConnect, dstAddress + " is registered but not listening"), UniqueFd());
    }
    auto pair = makePair(proto);
    if (!pair.isOk()) return done(pair.status(), UniqueFd());
    auto [mine, theirs] = std::move(pair).value();
    setNonBlocking(mine.get());  // theirs stays blocking, as from accept(2)
    listener->pushEvent({{"event", "incoming"}, {"fd", true}, {"stream", nextStream_}, {"source", origin.address},
                         {"spiffe_id", origin.spiffeId}, {"proto", proto}},
                        std::move(theirs));
    return done(Status::ok(), std::move(mine));
  }
  if (proto == "udp") {
    return done(Status(Code::kCannotConnect, dstAddress + ": targets carry tcp streams only"), UniqueFd());
  }
  dialTarget(*dst, origin, timeoutMs, std::move(done));
}

void LocalBroker::dialTarget(const Registration& dst, const StreamOrigin& origin, int64_t timeoutMs,
                             std::function<void(Status, UniqueFd)> done) {
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

void LocalBroker::handToCaller(std::shared_ptr<Attempt> a, nlohmann::json fields,
                               std::function<void(UniqueFd)> attach) {
  if (a->req.callerFd) {
    // The caller's end exists already (an [[upstream]] connection).
    attach(std::move(a->req.callerFd));
    return a->done(Status::ok(), std::move(fields), UniqueFd());
  }
  if (a->req.mode == "fd") {
    auto pair = makePair(a->req.proto);
    if (!pair.isOk()) {
      attach(UniqueFd());
      return a->done(pair.status(), nullptr, UniqueFd());
    }
    auto [callerEnd, relayEnd] = std::move(pair).value();
    // relayEnd is left blocking here: whoever attaches it polls it (a Pump,
    // PeerLink::attach), and a Poll makes its descriptor non-blocking.
    attach(std::move(relayEnd));
    a->done(Status::ok(), std::move(fields), std::move(callerEnd));  // blocking, as from socket(2)
    return;
  }
  // mode path: a one-shot socket owned by the caller's uid, 0600.
  uint8_t rnd[12];
  randombytes_buf(rnd, sizeof rnd);
  std::string path = opts_.streamsDir + "/" + toHex(rnd, sizeof rnd) + ".sock";
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (!l || path.size() >= sizeof sa.sun_path) {
    attach(UniqueFd());
    return a->done(Status::internal("cannot make a path socket under " + opts_.streamsDir), nullptr, UniqueFd());
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  mode_t old = ::umask(0177);
  int rc = ::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::chown(path.c_str(), a->uid, static_cast<gid_t>(-1)) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(l.get(), 1) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(path.c_str());
    attach(UniqueFd());
    return a->done(Status::internal("cannot make a path socket: " + err), nullptr, UniqueFd());
  }
  uint64_t job = nextJob_++;
  auto relay = std::make_unique<PathRelay>(loop_, path, std::move(l), a->uid,
                                           [this, job, attach = std::move(attach)](UniqueFd conn) {
                                             finishJob(job);
                                             if (conn) setNonBlocking(conn.get());
                                             attach(std::move(conn));
                                           });
  PathRelay* raw = relay.get();
  jobs_[job] = std::move(relay);
  raw->start(a->req.timeoutMs);
  fields["path"] = path;
  a->done(Status::ok(), std::move(fields), UniqueFd());
}

void LocalBroker::startRelay(StreamInfo info, UniqueFd a, UniqueFd b) {
  ++stats_.relayed;
  uint64_t id = info.id;
  Stream& s = streams_[id];
  s.info = std::move(info);
  s.pump = std::make_unique<Pump>(loop_, std::move(a), std::move(b));
  s.pump->start([this, id] { endStream(id, ""); });
}

void LocalBroker::endStream(uint64_t id, const std::string& why) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (!why.empty()) {
    ++stats_.revoked;
    log::info(kMod, "stream closed", {{"stream", id}, {"src", it->second.info.src},
                                      {"dst", it->second.info.dst}, {"reason", why}});
  }
  std::unique_ptr<Pump> pump = std::move(it->second.pump);
  streams_.erase(it);
  if (pump) {
    pump->close();  // no-op when it ended by itself
    // Never destroyed inside its own callback: deferred.
    loop_.deferredDelete(std::move(pump));
  }
}

void LocalBroker::revalidate() {
  std::vector<std::pair<uint64_t, std::string>> doomed;
  for (const auto& [id, s] : streams_) {
    const Registration* src = registry_.find(s.info.src);
    const Registration* dst = registry_.find(s.info.dst);
    if (!src || !dst) continue;  // deregistration closes those separately
    AuthDecision d = policy_.explain(src->address, dst->address, s.info.proto, s.info.port, dst->whitelist);
    if (!d.allowed) doomed.emplace_back(id, "policy: " + d.message);
  }
  for (auto& [id, why] : doomed) {
    auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    log::warn("policy", "open stream no longer allowed; closing",
              {{"stream", id}, {"src", it->second.info.src}, {"dst", it->second.info.dst}, {"reason", why}});
    endStream(id, why);
  }
}

void LocalBroker::closeStreamsOf(const std::string& address, const std::string& why) {
  std::vector<uint64_t> doomed;
  for (const auto& [id, s] : streams_) {
    if (s.info.src == address || s.info.dst == address) doomed.push_back(id);
  }
  for (auto id : doomed) endStream(id, why);
}

void LocalBroker::closeAll() {
  std::vector<uint64_t> ids;
  for (const auto& [id, s] : streams_) ids.push_back(id);
  for (auto id : ids) endStream(id, "daemon stopping");
  for (auto& [id, job] : jobs_) loop_.deferredDelete(std::move(job));
  jobs_.clear();
}

std::vector<LocalBroker::StreamInfo> LocalBroker::streams() const {
  std::vector<StreamInfo> out;
  for (const auto& [id, s] : streams_) out.push_back(s.info);
  return out;
}

}  // namespace kith::daemon
