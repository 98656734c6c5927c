#include "kith/replication/transport.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/common/unique_fd.h"

namespace kith::replication {

std::string_view eventKindName(Event::Kind k) {
  switch (k) {
    case Event::Kind::kMessage: return "message";
    case Event::Kind::kPeerUp: return "peer_up";
    case Event::Kind::kPeerDown: return "peer_down";
    case Event::Kind::kHelloRejected: return "hello_rejected";
  }
  return "unknown";
}

namespace {

constexpr std::string_view kMod = "replication";
// RFC 27: the one ZAP endpoint of a context. The context is ours alone.
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kZapDomain = "kith";
constexpr const char* kRouterMonitorEndpoint = "inproc://kith-router-monitor";
// Connections whose HELLO was rejected, remembered so that a rejected link
// cannot make us re-run the verifier (and re-raise kHelloRejected) per message.
constexpr size_t kMaxRejectedRemembered = 1024;
// Messages read from one socket per poll round, so one busy peer cannot starve
// the others (zmq_poll is level-triggered: the rest is read next round).
constexpr int kMaxMessagesPerRound = 256;
// While a HELLO could not be queued yet (pipe not attached), retry this often.
constexpr int64_t kHelloRetryMs = 20;
constexpr size_t kMaxQueuedCommands = size_t{1} << 16;
// ZeroMQ drops (and disconnects) a peer sending a frame over this; frames just
// over kMaxFrameBytes still arrive and are counted as frame_too_large.
constexpr int64_t kZmqMaxMsgSize = static_cast<int64_t>(kMaxFrameBytes) + 4096;
constexpr int kHandshakeIvlMs = 5000;

constexpr int kHandshakeFailedEvents = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

std::string zmqError(std::string_view what) {
  return std::string(what) + ": " + zmq_strerror(zmq_errno());
}

// Owns one zmq_msg_t.
struct ZmqMsg {
  zmq_msg_t m;
  ZmqMsg() { zmq_msg_init(&m); }
  ~ZmqMsg() { zmq_msg_close(&m); }
  ZmqMsg(const ZmqMsg&) = delete;
  ZmqMsg& operator=(const ZmqMsg&) = delete;
  std::string_view view() {
    return {static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m)};
  }
  bool more() { return zmq_msg_more(&m) != 0; }
};

// Collects setsockopt failures so a socket is configured in one readable block.
class Opts {
 public:
  explicit Opts(void* s) : s_(s) {}
  Opts& i(int opt, int v) { return raw(opt, &v, sizeof v); }
  Opts& i64(int opt, int64_t v) { return raw(opt, &v, sizeof v); }
  Opts& bytes(int opt, const void* p, size_t n) { return raw(opt, p, n); }
  Opts& str(int opt, const std::string& v) { return raw(opt, v.data(), v.size()); }
  Status status() const { return status_; }

 private:
  Opts& raw(int opt, const void* p, size_t n) {
    if (status_.isOk() && zmq_setsockopt(s_, opt, p, n) != 0) {
      status_ = Status::internal(zmqError("zmq_setsockopt " + std::to_string(opt)));
    }
    return *this;
  }
  void* s_;
  Status status_;
};

void closeSocket(void*& s) {
  if (s != nullptr) {
    zmq_close(s);
    s = nullptr;
  }
}

// One multipart read without waiting.
struct Incoming {
  std::string rid;      // ROUTER: the routing id frame
  std::string user_id;  // "User-Id" metadata (ZAP) of the first payload frame
  size_t bytes = 0;     // all payload frames
  Decoded decoded;
};

// False when no message is waiting (or the socket failed).
bool receive(void* s, bool router, Incoming* in) {
  MessageReader reader;
  size_t index = 0;
  bool more = true;
  while (more) {
    ZmqMsg part;
    // The first frame without waiting; the rest of a multipart is already here
    // (ZeroMQ delivers multiparts atomically).
    if (zmq_msg_recv(&part.m, s, index == 0 ? ZMQ_DONTWAIT : 0) < 0) {
      if (index == 0) return false;
      break;
    }
    more = part.more();
    if (router && index == 0) {
      in->rid.assign(part.view());
    } else {
      if (in->user_id.empty()) {
        if (const char* u = zmq_msg_gets(&part.m, "User-Id")) in->user_id = u;
      }
      in->bytes += part.view().size();
      reader.add(part.view());
    }
    ++index;
  }
  in->decoded = reader.finish();
  return true;
}

// 0 on success, else the ZeroMQ errno (EAGAIN: high-water mark or no completed
// connection; EHOSTUNREACH: ROUTER routing id gone).
int sendParts(void* s, const std::string* rid, const Message& m) {
  const size_t n = m.frames.size();
  if (rid != nullptr &&
      zmq_send(s, rid->data(), rid->size(), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
    return zmq_errno();
  }
  // Once the first part of a multipart is accepted, ZeroMQ accepts the rest.
  if (zmq_send(s, m.type.data(), m.type.size(), ZMQ_DONTWAIT | (n > 0 ? ZMQ_SNDMORE : 0)) < 0) {
    return zmq_errno();
  }
  for (size_t i = 0; i < n; ++i) {
    const int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
    if (zmq_send(s, m.frames[i].data(), m.frames[i].size(), flags) < 0) return zmq_errno();
  }
  return 0;
}

uint64_t payloadBytes(const Message& m) {
  uint64_t b = m.type.size();
  for (const auto& f : m.frames) b += f.size();
  return b;
}

// One socket-monitor event (two frames: [u16 event, u32 value], endpoint).
bool readMonitorEvent(void* mon, uint16_t* event) {
  ZmqMsg head;
  if (zmq_msg_recv(&head.m, mon, ZMQ_DONTWAIT) < 0) return false;
  bool more = head.more();
  const bool ok = head.view().size() >= 6;
  if (ok) std::memcpy(event, head.view().data(), sizeof *event);
  while (more) {
    ZmqMsg rest;
    if (zmq_msg_recv(&rest.m, mon, 0) < 0) break;
    more = rest.more();
  }
  if (!ok) *event = 0;
  return true;
}

bool isCurve(void* s) {
  int mech = 0;
  size_t len = sizeof mech;
  return zmq_getsockopt(s, ZMQ_MECHANISM, &mech, &len) == 0 && mech == ZMQ_CURVE;
}

bool validMachineName(const std::string& m) {
  if (m.empty() || m.size() > 63) return false;
  return std::all_of(m.begin(), m.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

struct OutLink {
  enum class State { kConnecting, kHelloDue, kHelloSent, kVerified, kRejected };
  std::string machine;
  std::string endpoint;
  identity::PublicKey node_key{};
  identity::X25519PublicKey server_key{};
  void* dealer = nullptr;
  void* monitor = nullptr;
  State state = State::kConnecting;
  bool curve = false;
  int64_t next_ping_ms = 0;
  int64_t hello_sent_ms = 0;
  bool warned_handshake = false;
};

struct InLink {
  std::string machine;
  std::string curve_key_hex;
  // False once the machine went down (silent for down_after_ms): the
  // connection is probably gone (ROUTER cannot tell us), so the link is no
  // longer listed or counted. It stays routable, and its next message makes it
  // live again, so a peer that was only slow does not need a new HELLO.
  bool live = true;
};

struct Command {
  enum class Kind { kAddPeer, kRemovePeer, kSend, kBroadcast, kSetHello };
  Kind kind;
  std::string machine;
  std::string endpoint;
  identity::PublicKey key{};
  Message message;
};

}  // namespace

struct Transport::Impl {
  Impl(const identity::SigningKey& nodeKey, TransportConfig cfg, EventHandler handler)
      : config(std::move(cfg)),
        clock(config.clock != nullptr ? config.clock : &systemClock()),
        on_event(std::move(handler)),
        secret(nodeKey.x25519SecretKey()),
        pub(nodeKey.x25519PublicKey()),
        membership(config.membership, *clock),
        hello(config.hello) {}

  // ---- immutable after start() ----
  TransportConfig config;
  const Clock* clock;
  EventHandler on_event;
  identity::X25519SecretKey secret;
  identity::X25519PublicKey pub;
  std::string endpoint;
  Membership membership;  // internally synchronised

  // ---- replication thread only (after start) ----
  void* ctx = nullptr;
  void* router = nullptr;
  void* router_monitor = nullptr;
  void* zap = nullptr;
  UniqueFd wake_read;
  std::map<std::string, std::unique_ptr<OutLink>> out;
  std::unordered_map<std::string, InLink> in_by_rid;
  std::map<std::string, std::string> in_rid_by_machine;
  std::deque<std::string> rejected_order;
  std::unordered_set<std::string> rejected;
  Message hello;
  uint64_t monitor_seq = 0;

  // ---- command queue (any thread) ----
  std::mutex qmu;
  std::deque<Command> queue;
  bool stopping = false;  // under qmu
  UniqueFd wake_write;    // written under qmu

  // ---- lifetime ----
  std::mutex stop_mu;
  std::thread thread;
  std::atomic<std::thread::id> thread_id{};
  bool stopped = false;  // under stop_mu

  // ---- snapshots (written by the thread, read anywhere) ----
  mutable std::mutex stats_mu;
  TransportStats stats;
  mutable std::mutex links_mu;
  std::vector<LinkInfo> link_snapshot;

  // ---------------------------------------------------------------------------
  Status setUp();
  void run();
  void closeSockets();

  Status enqueue(Command c);
  bool drainCommands();  // false = stop
  void apply(Command& c);

  void addOut(const std::string& machine, const std::string& ep, const identity::PublicKey& key);
  void removeOut(std::string machine);  // by value: callers may pass a link's own name

  void timers();
  int pollTimeoutMs();

  void handleZap();
  void handleRouterMonitor();
  void handleRouter();
  void handleDealerMonitor(OutLink& l);
  void handleDealer(OutLink& l);

  void onInbound(Incoming& in);
  void verifyInbound(const std::string& rid, const std::string& userId, Message& m,
                     uint64_t bytes);
  void onOutbound(OutLink& l, Incoming& in);
  void verifyOutbound(OutLink& l, Message& m, uint64_t bytes);
  void rejectRid(const std::string& rid);
  void dropInbound(std::string machine);  // by value: see removeOut

  void trySendHello(OutLink& l);
  bool sendOn(void* s, const std::string* rid, const std::string& machine, const Message& m);
  void sendTo(const std::string& machine, const Message& m);
  void heardFrom(const std::string& machine, uint64_t bytes);

  void updateLinks(const std::string& machine);
  Result<PeerIdentity> runVerifier(const Message& m);
  void emit(Event e);
  void emitRejected(const std::string& machine, const std::string& why, bool keyMismatch);

  template <typename F>
  void bump(F f) {
    std::lock_guard<std::mutex> g(stats_mu);
    f(stats);
  }
};

// ---------------------------------------------------------------------------
// Set-up and tear-down

Status Transport::Impl::setUp() {
  ctx = zmq_ctx_new();
  if (ctx == nullptr) return Status::internal(zmqError("zmq_ctx_new"));
  // Never block termination on unsent messages (every socket also has linger 0).
  zmq_ctx_set(ctx, ZMQ_BLOCKY, 0);

  // The ZAP handler must exist before any CURVE client reaches the ROUTER:
  // without it libzmq accepts every client and reports no User-Id.
  zap = zmq_socket(ctx, ZMQ_REP);
  if (zap == nullptr) return Status::internal(zmqError("zmq_socket REP"));
  KITH_RETURN_IF_ERROR(Opts(zap).i(ZMQ_LINGER, 0).status());
  if (zmq_bind(zap, kZapEndpoint) != 0) return Status::internal(zmqError("zap bind"));

  router = zmq_socket(ctx, ZMQ_ROUTER);
  if (router == nullptr) return Status::internal(zmqError("zmq_socket ROUTER"));
  const auto& mc = config.membership;
  KITH_RETURN_IF_ERROR(Opts(router)
                           .i(ZMQ_LINGER, 0)
                           .i(ZMQ_CURVE_SERVER, 1)
                           .bytes(ZMQ_CURVE_PUBLICKEY, pub.data(), pub.size())
                           .bytes(ZMQ_CURVE_SECRETKEY, secret.data(), secret.size())
                           .str(ZMQ_ZAP_DOMAIN, kZapDomain)
                           .i(ZMQ_ROUTER_MANDATORY, 1)
                           .i64(ZMQ_MAXMSGSIZE, kZmqMaxMsgSize)
                           .i(ZMQ_SNDHWM, config.send_hwm)
                           .i(ZMQ_HANDSHAKE_IVL, kHandshakeIvlMs)
                           .i(ZMQ_HEARTBEAT_IVL, static_cast<int>(mc.heartbeat_ms))
                           .i(ZMQ_HEARTBEAT_TIMEOUT, static_cast<int>(mc.down_after_ms))
                           .i(ZMQ_HEARTBEAT_TTL, static_cast<int>(mc.down_after_ms))
                           .status());
  if (zmq_socket_monitor(router, kRouterMonitorEndpoint, kHandshakeFailedEvents) != 0) {
    return Status::internal(zmqError("zmq_socket_monitor ROUTER"));
  }
  router_monitor = zmq_socket(ctx, ZMQ_PAIR);
  if (router_monitor == nullptr) return Status::internal(zmqError("zmq_socket PAIR"));
  KITH_RETURN_IF_ERROR(Opts(router_monitor).i(ZMQ_LINGER, 0).status());
  if (zmq_connect(router_monitor, kRouterMonitorEndpoint) != 0) {
    return Status::internal(zmqError("router monitor connect"));
  }
  if (zmq_bind(router, config.bind_endpoint.c_str()) != 0) {
    return Status::io("replication bind " + config.bind_endpoint, zmq_strerror(zmq_errno()));
  }
  char buf[256];
  size_t len = sizeof buf;
  if (zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, buf, &len) != 0) {
    return Status::internal(zmqError("ZMQ_LAST_ENDPOINT"));
  }
  endpoint.assign(buf, strnlen(buf, len));

  int fds[2];
  if (::pipe(fds) != 0) return Status::fromErrno("replication wake pipe", errno);
  wake_read.reset(fds[0]);
  wake_write.reset(fds[1]);
  for (int fd : fds) {
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
        ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      return Status::fromErrno("replication wake pipe fcntl", errno);
    }
  }
  return Status::ok();
}

void Transport::Impl::closeSockets() {
  for (auto& [machine, l] : out) {
    closeSocket(l->monitor);
    closeSocket(l->dealer);
  }
  out.clear();
  in_by_rid.clear();
  in_rid_by_machine.clear();
  closeSocket(router_monitor);
  closeSocket(router);
  closeSocket(zap);
}

// ---------------------------------------------------------------------------
// Commands

Status Transport::Impl::enqueue(Command c) {
  std::lock_guard<std::mutex> g(qmu);
  if (stopping) return Status::internal("replication transport stopped");
  if (queue.size() >= kMaxQueuedCommands) {
    return Status(Code::kRateLimited, "replication transport queue full");
  }
  const bool wasEmpty = queue.empty();
  queue.push_back(std::move(c));
  if (wasEmpty) {
    // One byte per empty->non-empty transition: the pipe never fills. EAGAIN
    // would only mean a wake is already pending.
    const char b = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_write.get(), &b, 1);
  }
  return Status::ok();
}

bool Transport::Impl::drainCommands() {
  char buf[64];
  while (::read(wake_read.get(), buf, sizeof buf) > 0) {
  }
  std::deque<Command> batch;
  {
    std::lock_guard<std::mutex> g(qmu);
    if (stopping) return false;
    batch.swap(queue);
  }
  for (auto& c : batch) apply(c);
  return true;
}

void Transport::Impl::apply(Command& c) {
  switch (c.kind) {
    case Command::Kind::kAddPeer:
      addOut(c.machine, c.endpoint, c.key);
      break;
    case Command::Kind::kRemovePeer:
      removeOut(c.machine);
      dropInbound(c.machine);
      membership.forget(c.machine);
      updateLinks(c.machine);
      break;
    case Command::Kind::kSend:
      sendTo(c.machine, c.message);
      break;
    case Command::Kind::kBroadcast: {
      std::set<std::string> targets;
      for (const auto& [m, l] : out) {
        if (l->state == OutLink::State::kVerified) targets.insert(m);
      }
      for (const auto& [m, rid] : in_rid_by_machine) targets.insert(m);
      for (const auto& m : targets) sendTo(m, c.message);
      break;
    }
    case Command::Kind::kSetHello:
      hello = std::move(c.message);
      break;
  }
}

void Transport::Impl::addOut(const std::string& machine, const std::string& ep,
                             const identity::PublicKey& key) {
  // The same endpoint and key again (a seed whose infra record just arrived,
  // say) keeps the link: tearing down a verified DEALER loses what is queued
  // on it and what is sent before the new one verifies, and costs another
  // HELLO round (and another PULL) for nothing.
  if (auto it = out.find(machine);
      it != out.end() && it->second->endpoint == ep && it->second->node_key == key &&
      it->second->state != OutLink::State::kRejected) {
    return;
  }
  removeOut(machine);
  auto serverKey = identity::x25519FromEd25519(key);
  if (!serverKey.isOk()) return;  // checked by addPeer
  auto l = std::make_unique<OutLink>();
  l->machine = machine;
  l->endpoint = ep;
  l->node_key = key;
  l->server_key = *serverKey;
  membership.track(machine, ep, toHex(key.data(), key.size()));

  auto fail = [&](const std::string& what) {
    log::error(kMod, "cannot dial peer", {{"machine", machine}, {"endpoint", ep}, {"error", what}});
    closeSocket(l->monitor);
    closeSocket(l->dealer);
  };
  l->dealer = zmq_socket(ctx, ZMQ_DEALER);
  if (l->dealer == nullptr) return fail(zmqError("zmq_socket DEALER"));
  const auto& mc = config.membership;
  Status st = Opts(l->dealer)
                  .i(ZMQ_LINGER, 0)
                  .i(ZMQ_IMMEDIATE, 1)
                  .bytes(ZMQ_CURVE_PUBLICKEY, pub.data(), pub.size())
                  .bytes(ZMQ_CURVE_SECRETKEY, secret.data(), secret.size())
                  .bytes(ZMQ_CURVE_SERVERKEY, l->server_key.data(), l->server_key.size())
                  .i64(ZMQ_MAXMSGSIZE, kZmqMaxMsgSize)
                  .i(ZMQ_SNDHWM, config.send_hwm)
                  .i(ZMQ_RECONNECT_IVL, config.reconnect_ivl_ms)
                  .i(ZMQ_RECONNECT_IVL_MAX, config.reconnect_ivl_max_ms)
                  .i(ZMQ_HANDSHAKE_IVL, kHandshakeIvlMs)
                  .i(ZMQ_HEARTBEAT_IVL, static_cast<int>(mc.heartbeat_ms))
                  .i(ZMQ_HEARTBEAT_TIMEOUT, static_cast<int>(mc.down_after_ms))
                  .i(ZMQ_HEARTBEAT_TTL, static_cast<int>(mc.down_after_ms))
                  .status();
  if (!st.isOk()) return fail(st.message());
  l->curve = isCurve(l->dealer);
  const std::string monEp = "inproc://kith-dealer-monitor-" + std::to_string(++monitor_seq);
  if (zmq_socket_monitor(l->dealer, monEp.c_str(),
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                             kHandshakeFailedEvents) != 0) {
    return fail(zmqError("zmq_socket_monitor DEALER"));
  }
  l->monitor = zmq_socket(ctx, ZMQ_PAIR);
  if (l->monitor == nullptr) return fail(zmqError("zmq_socket PAIR"));
  if (!Opts(l->monitor).i(ZMQ_LINGER, 0).status().isOk() ||
      zmq_connect(l->monitor, monEp.c_str()) != 0) {
    return fail(zmqError("dealer monitor connect"));
  }
  if (zmq_connect(l->dealer, ep.c_str()) != 0) return fail(zmqError("zmq_connect " + ep));
  log::debug(kMod, "dialling peer", {{"machine", machine}, {"endpoint", ep}});
  out.emplace(machine, std::move(l));
}

void Transport::Impl::removeOut(std::string machine) {
  auto it = out.find(machine);
  if (it == out.end()) return;
  // Our PAIR first: the DEALER's close then stops its monitor.
  closeSocket(it->second->monitor);
  closeSocket(it->second->dealer);
  out.erase(it);
  updateLinks(machine);
}

void Transport::Impl::dropInbound(std::string machine) {
  auto it = in_rid_by_machine.find(machine);
  if (it == in_rid_by_machine.end()) return;
  in_by_rid.erase(it->second);
  in_rid_by_machine.erase(it);
  updateLinks(machine);
}

// ---------------------------------------------------------------------------
// The loop

void Transport::Impl::run() {
  pthread_setname_np(pthread_self(), "kith-replicate");
  std::vector<zmq_pollitem_t> items;
  std::vector<OutLink*> order;
  while (drainCommands()) {
    timers();
    items.clear();
    order.clear();
    items.push_back({nullptr, wake_read.get(), ZMQ_POLLIN, 0});
    items.push_back({zap, 0, ZMQ_POLLIN, 0});
    items.push_back({router_monitor, 0, ZMQ_POLLIN, 0});
    items.push_back({router, 0, ZMQ_POLLIN, 0});
    for (auto& [machine, l] : out) {
      order.push_back(l.get());
      items.push_back({l->monitor, 0, ZMQ_POLLIN, 0});
      items.push_back({l->dealer, 0, ZMQ_POLLIN, 0});
    }
    const int rc = zmq_poll(items.data(), static_cast<int>(items.size()), pollTimeoutMs());
    if (rc < 0) {
      if (zmq_errno() != EINTR) {
        log::error(kMod, "zmq_poll failed", {{"error", zmq_strerror(zmq_errno())}});
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // never spin
      }
      continue;
    }
    if (rc == 0) continue;
    // ZAP first: handshakes wait for its answers.
    if (items[1].revents & ZMQ_POLLIN) handleZap();
    if (items[2].revents & ZMQ_POLLIN) handleRouterMonitor();
    if (items[3].revents & ZMQ_POLLIN) handleRouter();
    for (size_t i = 0; i < order.size(); ++i) {
      // Monitor before data: a reconnect must reset the link before its data.
      if (items[4 + 2 * i].revents & ZMQ_POLLIN) handleDealerMonitor(*order[i]);
      if (items[5 + 2 * i].revents & ZMQ_POLLIN) handleDealer(*order[i]);
    }
  }
  closeSockets();
}

void Transport::Impl::timers() {
  const int64_t now = clock->monotonicMillis();
  const auto& mc = config.membership;
  for (auto& [machine, lp] : out) {
    OutLink& l = *lp;
    if (l.state == OutLink::State::kHelloDue) {
      trySendHello(l);
    } else if (l.state == OutLink::State::kHelloSent && now - l.hello_sent_ms >= mc.down_after_ms) {
      // No answer: send it again (harmless if it was only slow).
      l.state = OutLink::State::kHelloDue;
      trySendHello(l);
    } else if (l.state == OutLink::State::kVerified && now >= l.next_ping_ms) {
      l.next_ping_ms = now + mc.heartbeat_ms;
      sendOn(l.dealer, nullptr, machine, makePing(now));
    }
  }
  for (const auto& machine : membership.sweep()) {
    if (auto r = in_rid_by_machine.find(machine); r != in_rid_by_machine.end()) {
      in_by_rid.at(r->second).live = false;
      updateLinks(machine);
    }
    log::info(kMod, "peer down", {{"machine", machine}});
    Event e;
    e.kind = Event::Kind::kPeerDown;
    e.machine = machine;
    emit(std::move(e));
  }
}

int Transport::Impl::pollTimeoutMs() {
  const int64_t now = clock->monotonicMillis();
  const auto& mc = config.membership;
  int64_t next = now + mc.heartbeat_ms;
  for (const auto& [machine, l] : out) {
    switch (l->state) {
      case OutLink::State::kHelloDue: next = std::min(next, now + kHelloRetryMs); break;
      case OutLink::State::kHelloSent: next = std::min(next, l->hello_sent_ms + mc.down_after_ms); break;
      case OutLink::State::kVerified: next = std::min(next, l->next_ping_ms); break;
      default: break;
    }
  }
  if (auto d = membership.nextDeadlineMs()) next = std::min(next, *d);
  return static_cast<int>(std::clamp<int64_t>(next - now, 1, mc.heartbeat_ms));
}

// ---------------------------------------------------------------------------
// ZAP (RFC 27): accept every CURVE client, User-Id = hex of its public key.

void Transport::Impl::handleZap() {
  for (int n = 0; n < kMaxMessagesPerRound; ++n) {
    std::vector<std::string> f;
    bool more = true;
    while (more) {
      ZmqMsg part;
      if (zmq_msg_recv(&part.m, zap, f.empty() ? ZMQ_DONTWAIT : 0) < 0) break;
      more = part.more();
      if (f.size() < 16) f.emplace_back(part.view());
    }
    if (f.empty()) return;
    // version, request id, domain, address, routing id, mechanism, credentials...
    std::string status = "200", text = "OK", user;
    if (f.size() < 6 || f[0] != "1.0") {
      status = "400";
      text = "malformed ZAP request";
    } else if (f[2] != kZapDomain || f[5] != "CURVE" || f.size() != 7 || f[6].size() != 32) {
      status = "400";
      text = "only CURVE clients";
    } else {
      user = toHex(reinterpret_cast<const uint8_t*>(f[6].data()), f[6].size());
    }
    const std::string reqId = f.size() > 1 ? f[1] : std::string();
    const std::string reply[] = {"1.0", reqId, status, text, user, ""};
    for (size_t i = 0; i < 6; ++i) {
      zmq_send(zap, reply[i].data(), reply[i].size(), i + 1 < 6 ? ZMQ_SNDMORE : 0);
    }
    bump([&](TransportStats& s) {
      s.zap_requests++;
      if (status != "200") s.zap_denied++;
    });
  }
}

void Transport::Impl::handleRouterMonitor() {
  uint16_t ev = 0;
  while (readMonitorEvent(router_monitor, &ev)) {
    if (ev & kHandshakeFailedEvents) {
      bump([](TransportStats& s) { s.inbound_handshakes_failed++; });
      log::debug(kMod, "inbound handshake failed", {{"event", ev}});
    }
  }
}

void Transport::Impl::handleDealerMonitor(OutLink& l) {
  uint16_t ev = 0;
  while (readMonitorEvent(l.monitor, &ev)) {
    if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      // A new connection: it needs its own HELLO exchange.
      const bool was = l.state == OutLink::State::kVerified;
      l.state = OutLink::State::kHelloDue;
      l.warned_handshake = false;
      if (was) updateLinks(l.machine);
      trySendHello(l);
    } else if (ev == ZMQ_EVENT_DISCONNECTED) {
      const bool was = l.state == OutLink::State::kVerified;
      l.state = OutLink::State::kConnecting;
      if (was) updateLinks(l.machine);
      log::debug(kMod, "peer link disconnected", {{"machine", l.machine}});
    } else if (ev & kHandshakeFailedEvents) {
      bump([](TransportStats& s) { s.outbound_handshakes_failed++; });
      if (!l.warned_handshake) {
        l.warned_handshake = true;
        log::warn(kMod, "CURVE handshake with peer failed (wrong key?)",
                  {{"machine", l.machine}, {"endpoint", l.endpoint}});
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Inbound: peers' DEALERs on our ROUTER

void Transport::Impl::handleRouter() {
  for (int n = 0; n < kMaxMessagesPerRound; ++n) {
    Incoming in;
    if (!receive(router, true, &in)) return;
    onInbound(in);
  }
}

void Transport::Impl::onInbound(Incoming& in) {
  if (in.decoded.error) {
    const auto e = *in.decoded.error;
    bump([e](TransportStats& s) {
      s.malformed[static_cast<size_t>(e)]++;
      s.malformed_total++;
    });
    log::debug(kMod, "malformed message dropped", {{"reason", decodeErrorName(e)}});
    return;
  }
  Message& m = *in.decoded.message;
  auto it = in_by_rid.find(in.rid);
  if (it == in_by_rid.end() || it->second.curve_key_hex != in.user_id) {
    // Not (or no longer) verified: only a HELLO may open it, once.
    if (m.type != kHello || rejected.count(in.rid) != 0) {
      bump([](TransportStats& s) { s.unverified_dropped++; });
      return;
    }
    verifyInbound(in.rid, in.user_id, m, in.bytes);
    return;
  }
  if (m.type == kHello) {
    verifyInbound(in.rid, in.user_id, m, in.bytes);
    return;
  }
  const std::string machine = it->second.machine;
  if (!it->second.live) {
    it->second.live = true;
    updateLinks(machine);
  }
  heardFrom(machine, in.bytes);
  if (m.type == kPing) {
    sendOn(router, &in.rid, machine, makePong(m.frames[0]));
    return;
  }
  if (m.type == kPong) return;
  Event e;
  e.kind = Event::Kind::kMessage;
  e.machine = machine;
  e.message = std::move(m);
  emit(std::move(e));
}

void Transport::Impl::rejectRid(const std::string& rid) {
  auto it = in_by_rid.find(rid);
  if (it != in_by_rid.end()) {
    const std::string machine = it->second.machine;
    in_by_rid.erase(it);
    auto m = in_rid_by_machine.find(machine);
    if (m != in_rid_by_machine.end() && m->second == rid) in_rid_by_machine.erase(m);
    updateLinks(machine);
  }
  if (rejected.insert(rid).second) {
    rejected_order.push_back(rid);
    if (rejected_order.size() > kMaxRejectedRemembered) {
      rejected.erase(rejected_order.front());
      rejected_order.pop_front();
    }
  }
}

void Transport::Impl::verifyInbound(const std::string& rid, const std::string& userId,
                                    Message& m, uint64_t bytes) {
  auto id = runVerifier(m);
  std::string why;
  std::string claimed;
  bool mismatch = false;
  if (!id.isOk()) {
    why = id.status().message();
  } else {
    claimed = id->machine;
    if (!validMachineName(id->machine)) {
      why = "verifier returned an invalid machine name";
      claimed.clear();
    } else if (id->machine == config.machine) {
      why = "HELLO claims our own machine name";
    } else if (userId.size() != 2 * identity::kX25519KeySize) {
      why = "no CURVE client key on the link";
    } else {
      auto x = identity::x25519FromEd25519(id->nodeKey);
      if (!x.isOk()) {
        why = "node key has no X25519 form: " + x.status().message();
      } else if (toHex(x->data(), x->size()) != userId) {
        why = "curve key mismatch: the link's CURVE key is not the X25519 form of " +
              id->machine + "'s node key";
        mismatch = true;
      }
    }
  }
  if (!why.empty()) {
    rejectRid(rid);
    emitRejected(claimed, why, mismatch);
    return;
  }
  const std::string machine = id->machine;
  // A re-HELLO on this connection naming another machine moves the link.
  if (auto prev = in_by_rid.find(rid); prev != in_by_rid.end() && prev->second.machine != machine) {
    const std::string old = prev->second.machine;
    in_rid_by_machine.erase(old);
    in_by_rid.erase(prev);
    updateLinks(old);
  }
  // The newest verified inbound connection of a machine replaces older ones.
  if (auto old = in_rid_by_machine.find(machine);
      old != in_rid_by_machine.end() && old->second != rid) {
    in_by_rid.erase(old->second);
  }
  in_by_rid[rid] = InLink{machine, userId};
  in_rid_by_machine[machine] = rid;
  membership.setNodeKey(machine, toHex(id->nodeKey.data(), id->nodeKey.size()));
  const bool up = membership.heard(machine, bytes);
  bump([](TransportStats& s) { s.messages_in++; });
  updateLinks(machine);
  // Our answer: the dialler verifies us the same way.
  sendOn(router, &rid, machine, hello);
  log::debug(kMod, "inbound link verified", {{"machine", machine}});
  if (up) {
    log::info(kMod, "peer up", {{"machine", machine}});
    Event e;
    e.kind = Event::Kind::kPeerUp;
    e.machine = machine;
    emit(std::move(e));
  }
  Event e;
  e.kind = Event::Kind::kMessage;
  e.machine = machine;
  e.message = std::move(m);
  emit(std::move(e));
}

// ---------------------------------------------------------------------------
// Outbound: our DEALERs

void Transport::Impl::handleDealer(OutLink& l) {
  for (int n = 0; n < kMaxMessagesPerRound; ++n) {
    Incoming in;
    if (!receive(l.dealer, false, &in)) return;
    onOutbound(l, in);
  }
}

void Transport::Impl::onOutbound(OutLink& l, Incoming& in) {
  if (in.decoded.error) {
    const auto e = *in.decoded.error;
    bump([e](TransportStats& s) {
      s.malformed[static_cast<size_t>(e)]++;
      s.malformed_total++;
    });
    return;
  }
  Message& m = *in.decoded.message;
  if (l.state != OutLink::State::kVerified) {
    if (m.type != kHello || l.state == OutLink::State::kRejected) {
      bump([](TransportStats& s) { s.unverified_dropped++; });
      return;
    }
    verifyOutbound(l, m, in.bytes);
    return;
  }
  if (m.type == kHello) {
    verifyOutbound(l, m, in.bytes);
    return;
  }
  heardFrom(l.machine, in.bytes);
  if (m.type == kPing) {
    sendOn(l.dealer, nullptr, l.machine, makePong(m.frames[0]));
    return;
  }
  if (m.type == kPong) {
    const int64_t now = clock->monotonicMillis();
    if (auto sentAt = parseDecimal(m.frames[0]); sentAt && static_cast<int64_t>(*sentAt) <= now) {
      membership.setRtt(l.machine, now - static_cast<int64_t>(*sentAt));
    }
    return;
  }
  Event e;
  e.kind = Event::Kind::kMessage;
  e.machine = l.machine;
  e.message = std::move(m);
  emit(std::move(e));
}

void Transport::Impl::verifyOutbound(OutLink& l, Message& m, uint64_t bytes) {
  auto id = runVerifier(m);
  std::string why;
  bool mismatch = false;
  if (!id.isOk()) {
    why = id.status().message();
  } else if (id->machine != l.machine) {
    why = "peer at " + l.endpoint + " says it is " + id->machine.substr(0, 64) + ", we dialled " +
          l.machine;
  } else if (id->nodeKey != l.node_key) {
    why = "curve key mismatch: " + l.machine + "'s verified node key is not the key we dialled";
    mismatch = true;
  }
  const bool was = l.state == OutLink::State::kVerified;
  if (!why.empty()) {
    l.state = OutLink::State::kRejected;
    if (was) updateLinks(l.machine);
    emitRejected(l.machine, why, mismatch);
    return;
  }
  l.state = OutLink::State::kVerified;
  l.next_ping_ms = clock->monotonicMillis() + config.membership.heartbeat_ms;
  membership.setNodeKey(l.machine, toHex(l.node_key.data(), l.node_key.size()));
  const bool up = membership.heard(l.machine, bytes);
  bump([](TransportStats& s) { s.messages_in++; });
  updateLinks(l.machine);
  log::debug(kMod, "outbound link verified", {{"machine", l.machine}});
  if (up) {
    log::info(kMod, "peer up", {{"machine", l.machine}});
    Event e;
    e.kind = Event::Kind::kPeerUp;
    e.machine = l.machine;
    emit(std::move(e));
  }
  Event e;
  e.kind = Event::Kind::kMessage;
  e.machine = l.machine;
  e.message = std::move(m);
  emit(std::move(e));
}

// ---------------------------------------------------------------------------
// Sending

void Transport::Impl::trySendHello(OutLink& l) {
  if (sendParts(l.dealer, nullptr, hello) == 0) {
    l.state = OutLink::State::kHelloSent;
    l.hello_sent_ms = clock->monotonicMillis();
    membership.sent(l.machine, payloadBytes(hello));
    bump([](TransportStats& s) { s.messages_out++; });
  }
  // else EAGAIN: the connection's pipe is not attached yet; timers() retries.
}

bool Transport::Impl::sendOn(void* s, const std::string* rid, const std::string& machine,
                             const Message& m) {
  const int err = sendParts(s, rid, m);
  if (err == 0) {
    membership.sent(machine, payloadBytes(m));
    bump([](TransportStats& st) { st.messages_out++; });
    return true;
  }
  if (rid != nullptr && err == EHOSTUNREACH) {
    // The connection behind this routing id is gone.
    auto it = in_by_rid.find(*rid);
    if (it != in_by_rid.end()) dropInbound(it->second.machine);
  }
  return false;
}

void Transport::Impl::sendTo(const std::string& machine, const Message& m) {
  if (auto o = out.find(machine);
      o != out.end() && o->second->state == OutLink::State::kVerified &&
      sendOn(o->second->dealer, nullptr, machine, m)) {
    return;
  }
  if (auto r = in_rid_by_machine.find(machine); r != in_rid_by_machine.end()) {
    const std::string rid = r->second;  // sendOn may drop the entry
    if (sendOn(router, &rid, machine, m)) return;
  }
  bump([](TransportStats& s) { s.send_dropped++; });
}

void Transport::Impl::heardFrom(const std::string& machine, uint64_t bytes) {
  bump([](TransportStats& s) { s.messages_in++; });
  if (membership.heard(machine, bytes)) {
    log::info(kMod, "peer up", {{"machine", machine}});
    Event e;
    e.kind = Event::Kind::kPeerUp;
    e.machine = machine;
    emit(std::move(e));
  }
}

// ---------------------------------------------------------------------------
// Snapshots, verifier, events

void Transport::Impl::updateLinks(const std::string& machine) {
  int n = 0;
  bool allCurve = true;
  std::vector<LinkInfo> snap;
  for (const auto& [m, l] : out) {
    if (l->state != OutLink::State::kVerified) continue;
    snap.push_back(LinkInfo{m, true, l->curve,
                            toHex(l->server_key.data(), l->server_key.size())});
  }
  const bool routerCurve = isCurve(router);
  for (const auto& [m, rid] : in_rid_by_machine) {
    const auto& in = in_by_rid.at(rid);
    if (!in.live) continue;
    // User-Id is set only by our ZAP handler, which runs only for CURVE.
    snap.push_back(LinkInfo{m, false, routerCurve && !in.curve_key_hex.empty(), in.curve_key_hex});
  }
  for (const auto& li : snap) {
    if (li.machine != machine) continue;
    ++n;
    allCurve = allCurve && li.curve;
  }
  membership.setLinks(machine, n, allCurve);
  std::lock_guard<std::mutex> g(links_mu);
  link_snapshot = std::move(snap);
}

Result<PeerIdentity> Transport::Impl::runVerifier(const Message& m) {
  try {
    return config.verify_hello(m);
  } catch (const std::exception& e) {
    return Status::internal(std::string("HELLO verifier threw: ") + e.what());
  } catch (...) {
    return Status::internal("HELLO verifier threw");
  }
}

void Transport::Impl::emit(Event e) {
  try {
    on_event(std::move(e));
  } catch (const std::exception& ex) {
    log::error(kMod, "event handler threw", {{"error", ex.what()}});
  } catch (...) {
    log::error(kMod, "event handler threw");
  }
}

void Transport::Impl::emitRejected(const std::string& machine, const std::string& why,
                                   bool keyMismatch) {
  bump([keyMismatch](TransportStats& s) {
    s.hello_rejected++;
    if (keyMismatch) s.curve_key_mismatch++;
  });
  log::warn(kMod, "peer HELLO rejected", {{"machine", machine}, {"why", why}});
  Event e;
  e.kind = Event::Kind::kHelloRejected;
  e.machine = machine;
  e.why = why;
  emit(std::move(e));
}

// ---------------------------------------------------------------------------
// Public API

Transport::Transport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Transport::~Transport() { stop(); }

Result<std::unique_ptr<Transport>> Transport::start(const identity::SigningKey& nodeKey,
                                                    TransportConfig config,
                                                    EventHandler onEvent) {
  if (!validMachineName(config.machine)) {
    return Status::config("replication: invalid machine name '" + config.machine + "'");
  }
  if (!config.verify_hello) return Status::config("replication: no HELLO verifier");
  if (!onEvent) return Status::config("replication: no event handler");
  if (config.hello.type != kHello) return Status::config("replication: our HELLO is not a HELLO");
  if (Status s = validateMessage(config.hello); !s.isOk()) {
    return Status::config("replication: our HELLO: " + s.message());
  }
  const auto& mc = config.membership;
  if (mc.heartbeat_ms <= 0 || mc.down_after_ms <= mc.heartbeat_ms || mc.down_after_ms > INT32_MAX) {
    return Status::config("replication: need 0 < heartbeat_ms < down_after_ms");
  }
  if (config.reconnect_ivl_ms <= 0 || config.reconnect_ivl_max_ms < config.reconnect_ivl_ms ||
      config.send_hwm <= 0) {
    return Status::config("replication: bad reconnect interval or send_hwm");
  }
  auto impl = std::make_unique<Impl>(nodeKey, std::move(config), std::move(onEvent));
  if (Status s = impl->setUp(); !s.isOk()) {
    impl->closeSockets();
    if (impl->ctx != nullptr) zmq_ctx_term(impl->ctx);
    return s;
  }
  Impl* raw = impl.get();
  raw->thread = std::thread([raw] {
    raw->thread_id = std::this_thread::get_id();
    raw->run();
  });
  log::info(kMod, "replication transport listening",
            {{"machine", raw->config.machine}, {"endpoint", raw->endpoint}});
  return std::unique_ptr<Transport>(new Transport(std::move(impl)));
}

void Transport::stop() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> g(s.stop_mu);
  if (s.stopped) return;
  if (std::this_thread::get_id() == s.thread_id.load()) {
    log::error(kMod, "Transport::stop() called on the replication thread");
    std::abort();
  }
  {
    std::lock_guard<std::mutex> q(s.qmu);
    s.stopping = true;
    const char b = 1;
    [[maybe_unused]] ssize_t n = ::write(s.wake_write.get(), &b, 1);
  }
  if (s.thread.joinable()) s.thread.join();  // the thread closes its sockets
  while (zmq_ctx_term(s.ctx) != 0 && zmq_errno() == EINTR) {
  }
  s.ctx = nullptr;
  s.stopped = true;
  log::debug(kMod, "replication transport stopped", {{"machine", s.config.machine}});
}

const std::string& Transport::endpoint() const { return impl_->endpoint; }
const std::string& Transport::machine() const { return impl_->config.machine; }

Status Transport::addPeer(std::string machine, std::string endpoint,
                          identity::PublicKey nodeKey) {
  if (!validMachineName(machine)) return Status::badRequest("addPeer: invalid machine name");
  if (machine == impl_->config.machine) return Status::badRequest("addPeer: that is us");
  if (endpoint.empty() || endpoint.find("://") == std::string::npos) {
    return Status::badRequest("addPeer: endpoint must look like tcp://host:port");
  }
  if (auto x = identity::x25519FromEd25519(nodeKey); !x.isOk()) {
    return Status::badRequest("addPeer: node key has no X25519 form: " + x.status().message());
  }
  Command c{Command::Kind::kAddPeer, std::move(machine), std::move(endpoint), nodeKey, {}};
  return impl_->enqueue(std::move(c));
}

Status Transport::removePeer(std::string machine) {
  Command c{Command::Kind::kRemovePeer, std::move(machine), {}, {}, {}};
  return impl_->enqueue(std::move(c));
}

namespace {
Status checkOutgoing(const Message& m) {
  KITH_RETURN_IF_ERROR(validateMessage(m));
  if (m.type == kHello || m.type == kPing || m.type == kPong) {
    return Status::badRequest("replication: " + m.type + " is sent by the transport itself");
  }
  return Status::ok();
}
}  // namespace

Status Transport::send(std::string machine, Message m) {
  KITH_RETURN_IF_ERROR(checkOutgoing(m));
  if (machine.empty()) return Status::badRequest("send: no machine");
  Command c{Command::Kind::kSend, std::move(machine), {}, {}, std::move(m)};
  return impl_->enqueue(std::move(c));
}

Status Transport::broadcast(Message m) {
  KITH_RETURN_IF_ERROR(checkOutgoing(m));
  Command c{Command::Kind::kBroadcast, {}, {}, {}, std::move(m)};
  return impl_->enqueue(std::move(c));
}

Status Transport::setHello(Message hello) {
  if (hello.type != kHello) return Status::badRequest("setHello: not a HELLO");
  KITH_RETURN_IF_ERROR(validateMessage(hello));
  Command c{Command::Kind::kSetHello, {}, {}, {}, std::move(hello)};
  return impl_->enqueue(std::move(c));
}

std::vector<PeerStatus> Transport::peers() const { return impl_->membership.snapshot(); }

TransportStats Transport::stats() const {
  std::lock_guard<std::mutex> g(impl_->stats_mu);
  return impl_->stats;
}

std::vector<LinkInfo> Transport::links() const {
  std::lock_guard<std::mutex> g(impl_->links_mu);
  return impl_->link_snapshot;
}

std::optional<bool> Transport::curveActive(const std::string& machine) const {
  std::lock_guard<std::mutex> g(impl_->links_mu);
  std::optional<bool> all;
  for (const auto& l : impl_->link_snapshot) {
    if (l.machine != machine) continue;
    all = all.value_or(true) && l.curve;
  }
  return all;
}

}  // namespace kith::replication
