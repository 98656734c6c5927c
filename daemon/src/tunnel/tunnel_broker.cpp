#include "kith/daemon/tunnel/tunnel_broker.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/daemon/broker/server_ends.h"
#include "kith/daemon/policy/stream_authorizer.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/machine_directory.h"
#include "kith/daemon/replication/remote_workload.h"
#include "kith/policy/address.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "tunnel";
constexpr int64_t kSweepMs = 100;
constexpr int64_t kMaxBackoffMs = 10000;
// A used link that died is redialled this many times before we wait for the
// next connect to need it.
constexpr int kMaxRedials = 8;
// Inbound connections still in their TLS handshake, at most.
constexpr size_t kMaxHandshaking = 256;

// 100 ms doubling per consecutive failure (200 ms after the first), at most
// kMaxBackoffMs.
int64_t backoffMs(int failures) { return std::min<int64_t>(kMaxBackoffMs, int64_t{100} << std::min(failures, 7)); }

void tuneSocket(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

std::string endpointOf(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
}

bool isWildcard(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    return IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
  }
  return reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
}

}  // namespace

Result<std::pair<sockaddr_storage, socklen_t>> parseEndpoint(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return Status::badRequest("'" + text + "': expected HOST:PORT");
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status::badRequest("'" + text + "': not a numeric HOST:PORT (" + ::gai_strerror(rc) + ")");
  }
  std::pair<sockaddr_storage, socklen_t> out{};
  std::memcpy(&out.first, res->ai_addr, res->ai_addrlen);
  out.second = res->ai_addrlen;
  ::freeaddrinfo(res);
  return out;
}

Result<TunnelListener> bindTunnelListener(const std::string& listen, const std::string& advertise) {
  auto ep = parseEndpoint(listen);
  if (!ep.isOk()) return Status::config("broker.listen " + ep.status().message());
  auto [ss, len] = *ep;
  if (isWildcard(ss) && advertise.empty()) {
    return Status::config("broker.listen " + listen +
                          " is a wildcard address: set broker.advertise to the address other daemons dial");
  }
  TunnelListener l;
  l.fd = UniqueFd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l.fd) return Status::fromErrno("tunnel listener socket", errno);
  int one = 1;
  ::setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    return Status::fromErrno("bind tunnel listener " + listen, errno);
  }
  if (::listen(l.fd.get(), 1024) != 0) return Status::fromErrno("listen " + listen, errno);
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
  l.bound = endpointOf(bound);
  l.endpoint = advertise.empty() ? l.bound : advertise;
  return l;
}

TunnelBroker::TunnelBroker(Loop& loop, TunnelDeps deps, TunnelListener listener, TunnelOptions opts)
    : loop_(loop), deps_(deps), opts_(std::move(opts)), listenFd_(std::move(listener.fd)),
      endpoint_(std::move(listener.endpoint)), sweepTimer_(loop), acceptRetry_(loop) {
  opts_.link.machineForErrors = opts_.machine;
  boundAt_ = std::move(listener.bound);
}

TunnelBroker::~TunnelBroker() { closeAll(); }

Result<std::unique_ptr<TunnelBroker>> TunnelBroker::create(Loop& loop, TunnelDeps deps, TunnelListener listener,
                                                           TunnelOptions opts) {
  std::unique_ptr<TunnelBroker> b(new TunnelBroker(loop, deps, std::move(listener), std::move(opts)));
  auto tls = TlsContext::create(b->opts_.tls);
  if (!tls.isOk()) return tls.status();
  b->tls_ = std::move(tls).value();
  KITH_RETURN_IF_ERROR(b->listen());
  b->sweepTimer_.start(kSweepMs, kSweepMs, [raw = b.get()] { raw->sweep(); });
  return b;
}

Status TunnelBroker::setTls(const TlsContext::Material& m) {
  auto tls = TlsContext::create(m);
  if (!tls.isOk()) {
    log::error(kMod, "rotated node identity not usable for tunnels; keeping the old one",
               {{"error", tls.status().toString()}});
    return tls.status();
  }
  tls_ = std::move(tls).value();
  opts_.tls = m;
  log::info(kMod, "tunnel links made from now on use the rotated node certificate");
  return Status::ok();
}

Status TunnelBroker::listen() {
  listenPoll_ = std::make_unique<Poll>(loop_, listenFd_.get());
  KITH_RETURN_IF_ERROR(listenPoll_->start(UV_READABLE, [this](int status, int) {
    if (status >= 0) onAccept();
  }));
  log::info(kMod, "tunnels listening", {{"listen", boundAt_}, {"advertise", endpoint_}});
  return Status::ok();
}

void TunnelBroker::onAccept() {
  for (int i = 0; i < 64 && !closed_; ++i) {
    int c = ::accept4(listenFd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a moment instead of spinning.
        log::warn(kMod, "accept: out of resources; pausing the tunnel listener",
                  {{"error", std::strerror(errno)}});
        listenPoll_->stop();
        acceptRetry_.start(250, 0, [this] {
          if (!closed_) {
            (void)listenPoll_->start(UV_READABLE, [this](int status, int) {
              if (status >= 0) onAccept();
            });
          }
        });
      }
      return;
    }
    ++stats_.accepts;
    UniqueFd fd(c);
    size_t unproven = 0;
    for (const auto& [id, l] : links_) unproven += !l->up();
    if (unproven >= kMaxHandshaking) {
      // Connections that have proved nothing get a bounded share.
      log::warn(kMod, "too many tunnel handshakes in progress; connection refused", {{"limit", kMaxHandshaking}});
      continue;
    }
    tuneSocket(fd.get());
    uint64_t id = nextLink_++;
    auto link = std::make_unique<PeerLink>(loop_, id, tls_, std::move(fd), /*dialer=*/false, std::nullopt, *this,
                                           opts_.link);
    PeerLink* raw = link.get();
    links_[id] = std::move(link);
    raw->start();
  }
}

PeerLink* TunnelBroker::findLink(uint64_t id) {
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : it->second.get();
}

void TunnelBroker::open(const std::string& machine, const std::string& dst, const StreamOrigin& origin,
                        const std::string& proto, int64_t timeoutMs, Done done) {
  ++stats_.opens;
  if (closed_) return done(Status(Code::kDestinationUnreachable, "the daemon is stopping"), nullptr, {});
  PendingOpen p{dst, origin, proto, timeoutMs, nowMs() + timeoutMs, std::move(done)};
  Machine& m = machines_[machine];
  if (PeerLink* l = findLink(m.link); l != nullptr && l->up()) return startOpen(*l, std::move(p));
  if (m.dialing == 0 && m.failures > 0 && nowMs() < m.retryAtMs) {
    // Fail fast while the machine is known not to answer.
    ++stats_.unreachable;
    deps_.machines.recheck(machine);
    return p.done(Status(Code::kDestinationUnreachable,
                         "machine " + machine + " is unreachable (" + m.lastError + "; next try in " +
                             std::to_string(m.retryAtMs - nowMs()) + " ms)"),
                  nullptr, {});
  }
  m.waiting.push_back(std::move(p));
  if (m.dialing == 0) dial(machine);
}

void TunnelBroker::dial(const std::string& machine) {
  Machine& m = machines_[machine];
  std::optional<std::string> ep = deps_.machines.tunnelEndpointOf(machine);
  if (!ep) return unreachable(machine, "machine " + machine + " publishes no tunnel endpoint");
  auto addr = parseEndpoint(*ep);
  if (!addr.isOk()) return unreachable(machine, "machine " + machine + ": " + addr.status().message());
  UniqueFd fd(::socket(addr->first.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return unreachable(machine, std::string("socket: ") + std::strerror(errno));
  tuneSocket(fd.get());
  ++stats_.dials;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr->first), addr->second) != 0 &&
      errno != EINPROGRESS) {
    return unreachable(machine, "cannot reach " + machine + " at " + *ep + ": " + std::strerror(errno));
  }
  uint64_t id = nextLink_++;
  // The TLS handshake waits for the connect to finish (its first write
  // blocks until the socket is writable).
  auto link = std::make_unique<PeerLink>(loop_, id, tls_, std::move(fd), /*dialer=*/true, machine, *this, opts_.link);
  PeerLink* raw = link.get();
  links_[id] = std::move(link);
  m.dialing = id;
  log::debug(kMod, "dialling", {{"machine", machine}, {"endpoint", *ep}, {"link", id}});
  raw->start();
}

void TunnelBroker::unreachable(const std::string& machine, const std::string& why) {
  Machine& m = machines_[machine];
  ++stats_.dialFailures;
  ++m.failures;
  m.lastError = why;
  m.retryAtMs = nowMs() + backoffMs(m.failures);
  // Restoring a lost link: the sweep dials again at retryAtMs, until it gives up.
  if (m.redial && (closed_ || m.failures >= kMaxRedials)) {
    m.redial = false;
    if (!closed_) {
      log::warn(kMod, "gave up redialling; the next connect dials again",
                {{"machine", machine}, {"attempts", m.failures}, {"reason", why}});
    }
  }
  auto waiting = std::move(m.waiting);
  m.waiting.clear();
  if (!waiting.empty()) {
    log::warn(kMod, "machine unreachable", {{"machine", machine}, {"reason", why}, {"connects", waiting.size()}});
  }
  deps_.machines.recheck(machine);
  for (auto& p : waiting) {
    ++stats_.unreachable;
    p.done(Status(Code::kDestinationUnreachable, why), nullptr, {});
  }
}

void TunnelBroker::startOpen(PeerLink& link, PendingOpen p) {
  OpenPayload open{p.origin.address, p.dst, p.proto, p.origin.spiffeId, 0, p.origin.raw};
  uint64_t linkId = link.id();
  std::string machine = link.peer().machine;
  StreamInfo info{linkId, 0, p.origin.address, p.dst, p.proto, machine, true, 0};
  auto done = std::move(p.done);
  auto sid = std::make_shared<uint32_t>(0);
  *sid = link.open(open, [this, linkId, sid, machine, info, done = std::move(done)](Status st) mutable {
    opening_.erase({linkId, *sid});
    if (!st.isOk()) {
      if (st.code() == Code::kDestinationUnreachable) {
        ++stats_.unreachable;
        deps_.machines.recheck(machine);
      }
      return done(st, nullptr, {});
    }
    ++stats_.opened;
    info.stream = *sid;
    info.openedAt = deps_.clock.nowMicros();
    streams_[{linkId, *sid}] = info;
    uint32_t stream = *sid;
    Attach attach = [this, linkId, stream](UniqueFd fd) {
      PeerLink* l = findLink(linkId);
      if (l == nullptr) return;  // the link died meanwhile; `fd` closes
      if (!fd) return l->reset(stream, "the caller never took the stream");
      if (!l->attach(stream, std::move(fd))) streams_.erase({linkId, stream});
    };
    done(Status::ok(), std::move(attach), RemoteStreamId{linkId, stream});
  });
  opening_[{linkId, *sid}] = p.deadlineMs;
}

void TunnelBroker::sweep() {
  int64_t now = nowMs();
  // OPENs the peer has not answered in time.
  std::vector<Key> late;
  for (const auto& [key, deadline] : opening_) {
    if (now >= deadline) late.push_back(key);
  }
  for (const Key& key : late) {
    PeerLink* l = findLink(key.first);
    std::string machine = l ? l->peer().machine : "?";
    opening_.erase(key);
    if (l) l->reset(key.second, "machine " + machine + " did not answer the connect in time");
  }
  // Connects waiting for a link; redials.
  std::vector<std::string> redial;
  for (auto& [name, m] : machines_) {
    std::vector<PendingOpen> expired;
    for (auto it = m.waiting.begin(); it != m.waiting.end();) {
      if (now >= it->deadlineMs) {
        expired.push_back(std::move(*it));
        it = m.waiting.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& p : expired) {
      ++stats_.unreachable;
      p.done(Status(Code::kDestinationUnreachable,
                    "no link to machine " + name + " within " + std::to_string(p.timeoutMs) + " ms"),
             nullptr, {});
    }
    if (m.redial && m.dialing == 0 && m.link == 0 && now >= m.retryAtMs) redial.push_back(name);
  }
  for (const auto& name : redial) dial(name);
}

void TunnelBroker::linkUp(PeerLink& link) {
  const std::string& machine = link.peer().machine;
  if (machine == opts_.machine) {
    return link.close(Status(Code::kUnauthorized, "a link from this machine's own certificate"));
  }
  Machine& m = machines_[machine];
  if (m.dialing == link.id()) m.dialing = 0;
  m.link = link.id();
  m.failures = 0;
  m.redial = false;
  m.lastError.clear();
  auto waiting = std::move(m.waiting);
  m.waiting.clear();
  for (auto& p : waiting) startOpen(link, std::move(p));
}

void TunnelBroker::linkDown(PeerLink& link, const Status& why) {
  uint64_t id = link.id();
  for (auto& [name, m] : machines_) {
    if (m.dialing == id) {
      m.dialing = 0;
      unreachable(name, "cannot reach " + name + ": " + why.message());
    }
    if (m.link == id) {
      m.link = 0;
      // Another up link to the same machine takes over.
      for (const auto& [lid, l] : links_) {
        if (lid != id && l->up() && l->peer().machine == name) m.link = lid;
      }
      if (m.link == 0 && !closed_ && m.failures < kMaxRedials) {
        m.redial = true;
        m.lastError = why.message();
        m.retryAtMs = nowMs() + backoffMs(m.failures);
      }
    }
  }
  for (auto it = opening_.begin(); it != opening_.end();) {
    it = it->first.first == id ? opening_.erase(it) : std::next(it);
  }
  auto it = links_.find(id);
  if (it != links_.end()) {
    loop_.deferredDelete(std::move(it->second));
    links_.erase(it);
  }
}

void TunnelBroker::openRequested(PeerLink& link, uint32_t stream, OpenPayload open) {
  const std::string& peer = link.peer().machine;
  auto refuse = [&](Status st) {
    ++stats_.refusedHere;
    log::info(kMod, "stream refused",
              {{"peer", peer}, {"src", open.src}, {"dst", open.dst}, {"code", std::string(codeName(st.code()))},
               {"reason", st.message()}});
    link.refuse(stream, st);
  };
  auto src = policy::Address::parse(open.src);
  if (!src.isOk()) return refuse(Status::badRequest("source: " + src.status().message()));
  auto dstAddr = policy::Address::parse(open.dst);
  if (!dstAddr.isOk()) return refuse(Status::badRequest("destination: " + dstAddr.status().message()));
  // A source of another machine is refused for that, whatever it asks for.
  if (Status st = StreamAuthorizer::checkSource(*src, peer); !st.isOk()) return refuse(std::move(st));
  const Registration* dst = deps_.registry.find(open.dst);
  if (dst == nullptr) {
    return refuse(Status(Code::kDestinationNotFound, open.dst + " is not registered on " + opts_.machine));
  }
  if (Status st = deps_.authorizer.authorize(*src, StreamTarget::of(*dst), open.proto, peer); !st.isOk()) {
    return refuse(std::move(st));
  }
  uint64_t linkId = link.id();
  StreamInfo info{linkId, stream, open.src, open.dst, open.proto, peer, false, 0};
  deps_.ends.open(open.dst, {open.src, open.spiffe, open.raw}, open.proto, opts_.acceptTimeoutMs, stream,
                  [this, linkId, stream, info](Status st, UniqueFd fd) mutable {
                     PeerLink* l = findLink(linkId);
                     if (l == nullptr) return;  // link gone; `fd` closes
                     if (!st.isOk()) {
                       ++stats_.refusedHere;
                       return l->refuse(stream, st);
                     }
                     info.openedAt = deps_.clock.nowMicros();
                     if (l->accept(stream, std::move(fd))) {
                       ++stats_.acceptedHere;
                       streams_[{linkId, stream}] = info;
                     }
                   });
}

void TunnelBroker::streamEnded(PeerLink& link, uint32_t stream, const std::string& why) {
  auto it = streams_.find({link.id(), stream});
  if (it == streams_.end()) return;
  // Streams end all the time (a client's reset included): debug. Closings
  // the daemon decides (revocations) are logged where they are decided.
  if (!why.empty() && log::enabled(log::Level::kDebug)) {
    log::debug(kMod, "stream closed", {{"peer", it->second.peer}, {"src", it->second.src}, {"dst", it->second.dst},
                                       {"reason", why}});
  }
  streams_.erase(it);
}

size_t TunnelBroker::revalidate() {
  std::vector<std::pair<Key, std::string>> doomed;
  for (const auto& [key, s] : streams_) {
    auto src = policy::Address::parse(s.src);
    if (!src.isOk()) continue;
    Status st;
    if (s.outbound) {
      std::optional<RemoteWorkload> w = deps_.remote.find(s.dst);
      if (!w) continue;  // its deregistration closes it from the other side
      st = deps_.authorizer.recheck(*src, StreamTarget::of(*w), s.proto);
    } else {
      const Registration* reg = deps_.registry.find(s.dst);
      if (reg == nullptr) continue;
      st = deps_.authorizer.recheck(*src, StreamTarget::of(*reg), s.proto, s.peer);
    }
    if (!st.isOk()) doomed.emplace_back(key, "policy: " + st.message());
  }
  for (auto& [key, why] : doomed) {
    log::warn("policy", "open tunnel stream no longer allowed; closing",
              {{"src", streams_[key].src}, {"dst", streams_[key].dst}, {"reason", why}});
    ++stats_.revoked;
    if (PeerLink* l = findLink(key.first)) l->reset(key.second, why);
    streams_.erase(key);
  }
  return doomed.size();
}

void TunnelBroker::closeStreamsOf(const std::string& address, const std::string& why) {
  std::vector<Key> doomed;
  for (const auto& [key, s] : streams_) {
    if (s.src == address || s.dst == address) doomed.push_back(key);
  }
  for (const Key& key : doomed) {
    ++stats_.revoked;
    const StreamInfo& s = streams_[key];
    log::info(kMod, "stream closed", {{"peer", s.peer}, {"src", s.src}, {"dst", s.dst}, {"reason", why}});
    if (PeerLink* l = findLink(key.first)) l->reset(key.second, why);
    streams_.erase(key);
  }
}

void TunnelBroker::closeAll() {
  if (closed_) return;
  closed_ = true;
  sweepTimer_.stop();
  acceptRetry_.stop();
  listenPoll_.reset();
  listenFd_.reset();
  std::vector<uint64_t> ids;
  for (const auto& [id, l] : links_) ids.push_back(id);
  for (uint64_t id : ids) {
    if (PeerLink* l = findLink(id)) l->close(Status(Code::kDestinationUnreachable, "daemon stopping"));
  }
  for (auto& [name, m] : machines_) {
    auto waiting = std::move(m.waiting);
    m.waiting.clear();
    for (auto& p : waiting) p.done(Status(Code::kDestinationUnreachable, "the daemon is stopping"), nullptr, {});
  }
}

std::map<std::string, std::string> TunnelBroker::redialling() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, m] : machines_) {
    if (m.redial || (m.dialing != 0 && !m.lastError.empty())) out[name] = m.lastError;
  }
  return out;
}

std::vector<TunnelBroker::StreamInfo> TunnelBroker::streams() const {
  std::vector<StreamInfo> out;
  out.reserve(streams_.size());
  for (const auto& [key, s] : streams_) out.push_back(s);
  return out;
}

nlohmann::json TunnelBroker::linksJson() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, l] : links_) {
    const auto& st = l->stats();
    list.push_back({{"link", id},
                    {"machine", l->peer().machine},
                    {"state", l->up() ? "up" : "connecting"},
                    {"dialled", l->dialer()},
                    {"tls", l->tlsVersion()},
                    {"cipher", l->tlsCipher()},
                    {"streams", l->streamCount()},
                    {"bytes_in", st.bytesIn},
                    {"bytes_out", st.bytesOut},
                    {"buffered", l->bufferedBytes()},
                    {"backlog", l->backlog()},
                    {"rtt_us", st.rttMicros},
                    {"dgrams_dropped", st.dgramsDropped}});
  }
  return list;
}

nlohmann::json TunnelBroker::statsJson() const {
  return {{"endpoint", endpoint_},
          {"links", links_.size()},
          {"streams", streams_.size()},
          {"opens", stats_.opens},
          {"opened", stats_.opened},
          {"accepted", stats_.acceptedHere},
          {"refused", stats_.refusedHere},
          {"unreachable", stats_.unreachable},
          {"dials", stats_.dials},
          {"dial_failures", stats_.dialFailures},
          {"revoked", stats_.revoked}};
}

}  // namespace kith::daemon
