#include "kith/daemon/broker/local_broker.h"

#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/daemon/policy/stream_authorizer.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/remote_workload.h"
#include "kith/identity/spiffe.h"
#include "kith/socket-api/peer_cred.h"
#include "stream_sockets.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "broker";

}  // namespace

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

LocalBroker::LocalBroker(Loop& loop, Registry& registry, ServerEnds& ends, StreamAuthorizer& authorizer,
                         const RemoteDirectory* remote, RemoteOpener* opener, Options opts, const Clock& clock)
    : loop_(loop), registry_(registry), ends_(ends), authorizer_(authorizer), remote_(remote), opener_(opener),
      opts_(std::move(opts)), clock_(clock) {}

LocalBroker::~LocalBroker() { closeAll(); }

void LocalBroker::finishJob(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  loop_.deferredDelete(std::move(it->second));
  jobs_.erase(it);
}

void LocalBroker::connect(const Registration& src, uid_t uid, ConnectRequest req, Done done) {
  auto fail = [&done](Status st) { done(std::move(st), {}); };
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
  std::vector<RemoteWorkload> remote = remote_ ? remote_->match(*pat) : std::vector<RemoteWorkload>{};
  if (matches.empty() && remote.empty()) {
    return fail(Status(Code::kDestinationNotFound, "no workload matches " + req.destination));
  }
  auto a = std::make_shared<Attempt>();
  a->origin = {src.row.address, src.row.spiffeId, req.raw};
  a->uid = uid;
  a->req = std::move(req);
  // Every allowed match is a candidate; the answer when none is allowed is
  // the first policy refusal (UNAUTHORIZED says more than CANNOT_CONNECT).
  Status firstDenial;
  auto consider = [&](const StreamTarget& dst, const std::string& machine) {
    Status st = authorizer_.authorize(src.address, dst, a->req.proto);
    if (st.isOk()) {
      a->candidates.push_back({dst.address.str(), machine});
    } else if (firstDenial.isOk() ||
               (firstDenial.code() != Code::kUnauthorized && st.code() == Code::kUnauthorized)) {
      firstDenial = std::move(st);
    }
  };
  for (const Registration* dst : matches) consider(StreamTarget::of(*dst), "");
  for (const RemoteWorkload& w : remote) consider(StreamTarget::of(w), w.machine);
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
    a->done(a->lastError.isOk() ? Status(Code::kCannotConnect, "no destination accepted") : a->lastError, {});
    return;
  }
  Candidate c = a->candidates[a->next++];
  if (!c.machine.empty()) return tryRemote(std::move(a), c);
  tryLocal(std::move(a), c);
}

void LocalBroker::tryLocal(std::shared_ptr<Attempt> a, const Candidate& c) {
  uint64_t id = nextStream_++;
  ends_.open(c.address, a->origin, a->req.proto, a->req.timeoutMs, id,
             [this, a, c, id](Status st, UniqueFd serverEnd) {
    const Registration* dst = st.isOk() ? registry_.find(c.address) : nullptr;
    if (st.isOk() && dst == nullptr) st = Status(Code::kDestinationNotFound, c.address + " deregistered");
    if (!st.isOk()) {
      a->lastError = st;
      return tryNext(a);
    }
    StreamInfo info{id, a->origin.address, dst->row.address, a->req.proto, dst->targetPort(),
                    clock_.nowMicros()};
    ConnectResult result;
    result.destination = dst->row.address;
    result.spiffeId = dst->row.spiffeId;
    result.stream = id;
    log::debug(kMod, "connected", {{"src", a->origin.address}, {"dst", dst->row.address}, {"mode", a->req.mode}});
    if (a->req.mode == "fd" && opts_.handoff && !a->req.callerFd) {
      ++stats_.handedOff;
      setNonBlocking(serverEnd.get(), false);
      result.callerEnd = std::move(serverEnd);
      a->done(Status::ok(), std::move(result));
      return;
    }
    auto server = std::make_shared<UniqueFd>(std::move(serverEnd));
    handToCaller(a, std::move(result), [this, server, info](UniqueFd mine) mutable {
      if (!mine) return;  // never taken: the server end closes with `server`
      startRelay(std::move(info), std::move(mine), std::move(*server));
    });
  });
}

void LocalBroker::tryRemote(std::shared_ptr<Attempt> a, const Candidate& c) {
  if (opener_ == nullptr) {
    a->lastError = Status(Code::kDestinationUnreachable,
                          c.address + " is on machine " + c.machine +
                              " and tunnels between machines are off here ([broker] listen is not set)");
    return tryNext(std::move(a));
  }
  opener_->open(c.machine, c.address, a->origin, a->req.proto, a->req.timeoutMs,
                [this, a, c](Status st, RemoteOpener::Attach attach, RemoteStreamId sid) {
                  if (!st.isOk()) {
                    a->lastError = st;
                    // A refusal by policy or a bad request is final for this
                    // destination but another group member may still take it.
                    return tryNext(a);
                  }
                  ++stats_.remote;
                  ConnectResult result;
                  result.destination = c.address;
                  result.machine = c.machine;
                  result.stream = sid.stream;
                  result.link = sid.link;
                  if (auto id = identity::spiffeIdForAddress(opts_.trustDomain, c.address); id.isOk()) {
                    result.spiffeId = std::move(id).value();
                  }
                  handToCaller(a, std::move(result), std::move(attach));
                });
}

void LocalBroker::handToCaller(std::shared_ptr<Attempt> a, ConnectResult result,
                               std::function<void(UniqueFd)> attach) {
  if (a->req.callerFd) {
    // The caller's end exists already (an [[upstream]] connection).
    attach(std::move(a->req.callerFd));
    return a->done(Status::ok(), std::move(result));
  }
  if (a->req.mode == "fd") {
    auto pair = makeStreamPair(a->req.proto);
    if (!pair.isOk()) {
      attach(UniqueFd());
      return a->done(pair.status(), {});
    }
    auto [callerEnd, relayEnd] = std::move(pair).value();
    // relayEnd is left blocking here: whoever attaches it polls it (a Pump,
    // PeerLink::attach), and a Poll makes its descriptor non-blocking.
    attach(std::move(relayEnd));
    result.callerEnd = std::move(callerEnd);  // blocking, as from socket(2)
    a->done(Status::ok(), std::move(result));
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
    return a->done(Status::internal("cannot make a path socket under " + opts_.streamsDir), {});
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
    return a->done(Status::internal("cannot make a path socket: " + err), {});
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
  result.path = path;
  a->done(Status::ok(), std::move(result));
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

size_t LocalBroker::revalidate() {
  std::vector<std::pair<uint64_t, std::string>> doomed;
  for (const auto& [id, s] : streams_) {
    const Registration* src = registry_.find(s.info.src);
    const Registration* dst = registry_.find(s.info.dst);
    if (!src || !dst) continue;  // deregistration closes those separately
    Status st = authorizer_.recheck(src->address, StreamTarget::of(*dst), s.info.proto);
    if (!st.isOk()) doomed.emplace_back(id, "policy: " + st.message());
  }
  for (auto& [id, why] : doomed) {
    auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    log::warn("policy", "open stream no longer allowed; closing",
              {{"stream", id}, {"src", it->second.info.src}, {"dst", it->second.info.dst}, {"reason", why}});
    endStream(id, why);
  }
  return doomed.size();
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
