#include "kith/daemon/local_broker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/daemon/pump.h"
#include "kith/daemon/target.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "broker";

std::string joinPatterns(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

}  // namespace

Status whitelistAuthorizer(const Registration& src, const Registration& dst, const std::string&) {
  if (src.address.scope() != dst.address.scope()) {
    return Status(Code::kUnauthorized,
                  src.row.address + " may not reach " + dst.row.address + ": scopes differ (" +
                      std::string(src.address.scope()) + " vs " + std::string(dst.address.scope()) +
                      "; rule: default deny)");
  }
  for (const auto& p : dst.whitelist) {
    if (p.matches(src.address)) return Status::ok();
  }
  return Status(Code::kUnauthorized, src.row.address + " may not reach " + dst.row.address +
                                         ": not in its whitelist [" +
                                         joinPatterns(dst.row.whitelist) + "] (rule: default deny)");
}

// One connect request working through its candidates.
struct LocalBroker::Attempt {
  std::string srcAddress;
  std::string srcSpiffe;
  uid_t uid = 0;
  ConnectRequest req;
  std::vector<std::string> candidates;  // allowed destinations, in try order
  size_t next = 0;
  Status lastError;
  std::unique_ptr<Reply> reply;
};

// Non-blocking connect to a target, with timeout. Calls done exactly once.
class LocalBroker::Dial : public DeferredDeletable {
 public:
  Dial(Loop& loop, UniqueFd fd, std::function<void(Status, UniqueFd)> done)
      : fd_(std::move(fd)), poll_(loop, fd_.get()), timer_(loop), done_(std::move(done)) {}

  void start(int64_t timeoutMs) {
    timer_.start(static_cast<uint64_t>(timeoutMs), 0, [this] {
      finish(Status(Code::kCannotConnect, "target did not accept within the timeout"));
    });
    Status st = poll_.start(UV_WRITABLE, [this](int status, int) {
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
    poll_.stop();
    timer_.stop();
    auto cb = std::move(done_);
    done_ = nullptr;
    cb(std::move(st), st.isOk() ? std::move(fd_) : UniqueFd());
  }
  UniqueFd fd_;
  Poll poll_;
  Timer timer_;
  std::function<void(Status, UniqueFd)> done_;
};

// A one-shot Unix socket path: accepts one connection from the caller's uid,
// then relays it to the destination stream.
class LocalBroker::PathRelay : public DeferredDeletable {
 public:
  PathRelay(Loop& loop, std::string path, UniqueFd listenFd, UniqueFd stream, uid_t uid,
            std::function<void()> done)
      : loop_(loop), path_(std::move(path)), listen_(std::move(listenFd)), stream_(std::move(stream)),
        uid_(uid), poll_(loop, listen_.get()), timer_(loop), done_(std::move(done)) {}
  ~PathRelay() override { ::unlink(path_.c_str()); }

  void start(int64_t timeoutMs) {
    timer_.start(static_cast<uint64_t>(timeoutMs), 0, [this] {
      log::info(kMod, "path socket not used in time; removed", {{"path", path_}});
      end();
    });
    (void)poll_.start(UV_READABLE, [this](int status, int) {
      if (status < 0) return end();
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) return;
      UniqueFd conn(c);
      ucred cr{};
      socklen_t len = sizeof cr;
      if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || (cr.uid != uid_ && cr.uid != 0)) {
        log::warn(kMod, "path socket: connection from another uid refused", {{"path", path_}});
        return;  // keep waiting for the rightful caller
      }
      poll_.stop();
      timer_.stop();
      ::unlink(path_.c_str());
      listen_.reset();
      pump_ = std::make_unique<Pump>(loop_, std::move(conn), std::move(stream_));
      pump_->start([this] { end(); });
    });
  }

 private:
  void end() {
    poll_.stop();
    timer_.stop();
    if (done_) {
      auto cb = std::move(done_);
      done_ = nullptr;
      cb();
    }
  }
  Loop& loop_;
  std::string path_;
  UniqueFd listen_;
  UniqueFd stream_;
  uid_t uid_;
  Poll poll_;
  Timer timer_;
  std::unique_ptr<Pump> pump_;
  std::function<void()> done_;
};

LocalBroker::LocalBroker(Loop& loop, Registry& registry, ApiServer& server, Options opts)
    : loop_(loop), registry_(registry), server_(server), opts_(std::move(opts)),
      authorize_(whitelistAuthorizer) {}

LocalBroker::~LocalBroker() = default;

void LocalBroker::finishJob(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  loop_.deferredDelete(std::move(it->second));
  jobs_.erase(it);
}

void LocalBroker::connect(const Registration& src, const Caller& caller, ConnectRequest req, Reply reply) {
  ++stats_.connects;
  if (req.proto != "tcp" && req.proto != "udp") {
    return reply.error(Status::badRequest("proto must be tcp or udp"));
  }
  if (req.mode != "fd" && req.mode != "path") {
    return reply.error(Status::badRequest("mode must be fd or path"));
  }
  if (req.mode == "path" && req.proto == "udp") {
    return reply.error(Status::badRequest("mode path carries streams only; use fd for udp"));
  }
  if (req.timeoutMs <= 0 || req.timeoutMs > 600000) {
    return reply.error(Status::badRequest("timeout_ms must be between 1 and 600000"));
  }
  auto pat = policy::Pattern::parse(req.destination);
  if (!pat.isOk()) return reply.error(Status::badRequest("destination: " + pat.status().message()));
  auto matches = registry_.match(*pat);
  if (matches.empty()) {
    return reply.error(Status(Code::kDestinationNotFound, "no workload matches " + req.destination));
  }
  auto a = std::make_shared<Attempt>();
  a->srcAddress = src.row.address;
  a->srcSpiffe = src.row.spiffeId;
  a->uid = caller.cred.uid;
  a->req = std::move(req);
  Status firstDenial;
  // Round-robin start among matches; denied ones are skipped.
  size_t n = matches.size();
  size_t start = n > 1 ? static_cast<size_t>(rr_++ % n) : 0;
  for (size_t i = 0; i < n; ++i) {
    const Registration* dst = matches[(start + i) % n];
    bool speaks = false;
    for (const auto& p : dst->row.protocols) speaks |= p == a->req.proto;
    if (!speaks) {
      if (firstDenial.isOk()) {
        firstDenial = Status(Code::kCannotConnect, dst->row.address + " does not speak " + a->req.proto);
      }
      continue;
    }
    Status st = authorize_(src, *dst, a->req.proto);
    if (!st.isOk()) {
      log::info(kMod, "connect denied", {{"src", src.row.address}, {"dst", dst->row.address},
                                         {"reason", st.message()}});
      if (firstDenial.isOk()) firstDenial = st;
      continue;
    }
    a->candidates.push_back(dst->row.address);
  }
  if (a->candidates.empty()) {
    ++stats_.denied;
    return reply.error(firstDenial);
  }
  a->reply = std::make_unique<Reply>(std::move(reply));
  tryNext(std::move(a));
}

void LocalBroker::tryNext(std::shared_ptr<Attempt> a) {
  while (a->next < a->candidates.size()) {
    const std::string& addr = a->candidates[a->next++];
    Registration* dst = registry_.findMutable(addr);
    if (!dst) {
      a->lastError = Status(Code::kDestinationNotFound, addr + " deregistered");
      continue;
    }
    if (!dst->hasTarget()) {
      auto listener = dst->listenerConnId ? server_.find(dst->listenerConnId) : nullptr;
      if (!listener || listener->closed()) {
        a->lastError = Status(Code::kCannotConnect, addr + " is registered but not listening");
        continue;
      }
      int sv[2];
      int type = a->req.proto == "udp" ? SOCK_DGRAM : SOCK_STREAM;
      if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
        a->lastError = Status::fromErrno("socketpair", errno);
        a->lastError = Status(Code::kInternal, a->lastError.message());
        break;
      }
      UniqueFd mine(sv[0]), theirs(sv[1]);
      uint64_t stream = nextStream_++;
      listener->pushEvent({{"event", "incoming"}, {"fd", true}, {"stream", stream},
                           {"source", a->srcAddress}, {"spiffe_id", a->srcSpiffe},
                           {"proto", a->req.proto}},
                          std::move(theirs));
      ++stats_.handedOff;
      deliver(a, std::move(mine), *dst);
      return;
    }
    // Dial the target.
    auto target = Target::parse(dst->row.target);
    if (!target.isOk()) {
      a->lastError = Status(Code::kCannotConnect, target.status().message());
      continue;
    }
    int domain = target->kind == Target::Kind::kUnix ? AF_UNIX : (target->ipv6 ? AF_INET6 : AF_INET);
    UniqueFd fd(::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      a->lastError = Status(Code::kInternal, std::string("socket: ") + std::strerror(errno));
      break;
    }
    int rc;
    if (target->kind == Target::Kind::kUnix) {
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::memcpy(sa.sun_path, target->path.c_str(), target->path.size() + 1);
      rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    } else {
      int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&target->addr), target->addrLen);
    }
    if (rc != 0 && errno != EINPROGRESS && errno != EAGAIN) {
      a->lastError = Status(Code::kCannotConnect,
                            addr + ": target " + dst->row.target + " refused: " + std::strerror(errno));
      continue;
    }
    uint64_t job = nextJob_++;
    auto dial = std::make_unique<Dial>(loop_, std::move(fd), [this, a, job, addr](Status st, UniqueFd cfd) {
      finishJob(job);
      Registration* d = registry_.findMutable(addr);
      if (!st.isOk() || !d) {
        a->lastError = st.isOk() ? Status(Code::kDestinationNotFound, addr + " deregistered")
                                 : Status(st.code(), addr + ": " + st.message());
        tryNext(a);
        return;
      }
      deliver(a, std::move(cfd), *d);
    });
    Dial* raw = dial.get();
    jobs_[job] = std::move(dial);
    raw->start(a->req.timeoutMs);
    return;
  }
  ++stats_.failed;
  a->reply->error(a->lastError.isOk() ? Status(Code::kCannotConnect, "no destination accepted")
                                      : a->lastError);
}

void LocalBroker::deliver(std::shared_ptr<Attempt> a, UniqueFd fd, const Registration& dst) {
  if (dst.hasTarget() && dst.row.proxyProtocol) {
    api::ProxyHeader h;
    auto target = Target::parse(dst.row.target);
    if (target->kind == Target::Kind::kUnix) {
      h.family = api::ProxyHeader::Family::kUnix;
      h.dstAddr = target->path;
    } else if (target->ipv6) {
      h.family = api::ProxyHeader::Family::kInet6;
      h.srcAddr = h.dstAddr = std::string(16, '\0');
      h.srcAddr[15] = h.dstAddr[15] = 1;
      h.dstPort = target->port;
    } else {
      h.family = api::ProxyHeader::Family::kInet;
      h.srcAddr = h.dstAddr = std::string("\x7f\x00\x00\x01", 4);
      h.dstPort = target->port;
    }
    h.tlvs = {{api::kTlvKithAddress, a->srcAddress}, {api::kTlvKithSpiffeId, a->srcSpiffe}};
    auto enc = api::encodeProxyHeader(h);
    // A fresh socket's send buffer always takes a header this small at once.
    if (!enc.isOk() ||
        ::send(fd.get(), enc->data(), enc->size(), MSG_DONTWAIT | MSG_NOSIGNAL) !=
            static_cast<ssize_t>(enc->size())) {
      a->lastError = Status(Code::kCannotConnect, dst.row.address + ": could not send the PROXY header");
      tryNext(a);
      return;
    }
  }
  nlohmann::json fields = {{"destination", dst.row.address}, {"spiffe_id", dst.row.spiffeId}};
  log::debug(kMod, "connected", {{"src", a->srcAddress}, {"dst", dst.row.address}, {"mode", a->req.mode}});
  if (a->req.mode == "fd") {
    // The caller gets a blocking descriptor, as from socket(2).
    int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    a->reply->okWithFd(std::move(fields), std::move(fd));
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
    a->reply->error(Status::internal("cannot make a path socket under " + opts_.streamsDir));
    return;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  mode_t old = ::umask(0177);
  int rc = ::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::chown(path.c_str(), a->uid, static_cast<gid_t>(-1)) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(l.get(), 1) != 0) {
    ::unlink(path.c_str());
    a->reply->error(Status::internal("cannot make a path socket: " + std::string(std::strerror(errno))));
    return;
  }
  uint64_t job = nextJob_++;
  auto relay = std::make_unique<PathRelay>(loop_, path, std::move(l), std::move(fd), a->uid,
                                           [this, job] { finishJob(job); });
  PathRelay* raw = relay.get();
  jobs_[job] = std::move(relay);
  ++stats_.relayed;
  raw->start(a->req.timeoutMs);
  fields["path"] = path;
  a->reply->ok(std::move(fields));
}

}  // namespace kith::daemon
