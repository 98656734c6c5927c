// Transport over real ZeroMQ on loopback (tcp://127.0.0.1:0, no fixed ports).
// The HELLO verifier is a stub standing in for the record layer: HELLO frame 0
// is "<machine> <hex node key>" and is accepted iff the machine is in the
// test's registry with that key (the "root").
#include "kith/replication/transport.h"

#include <zmq.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kith/common/encoding.h"

using namespace kith::replication;
using kith::Code;
using kith::Result;
using kith::Status;
using kith::identity::PublicKey;
using kith::identity::SigningKey;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kWait{10'000};  // generous: CI runs under ASan on 2 shared cores

std::string hexOf(const PublicKey& k) { return kith::toHex(k.data(), k.size()); }

Message helloFor(const std::string& machine, const PublicKey& key) {
  return Message{"HELLO", {machine + " " + hexOf(key), "infra " + machine, R"({})"}};
}

using Registry = std::map<std::string, PublicKey>;

HelloVerifier stubVerifier(Registry known) {
  return [known](const Message& m) -> Result<PeerIdentity> {
    const std::string& deleg = m.frames.at(0);
    const auto sp = deleg.find(' ');
    if (sp == std::string::npos) return Status(Code::kUnauthorized, "malformed deleg");
    const std::string machine = deleg.substr(0, sp);
    auto it = known.find(machine);
    if (it == known.end()) return Status(Code::kUnauthorized, "no deleg for " + machine);
    if (deleg.substr(sp + 1) != hexOf(it->second)) {
      return Status(Code::kUnauthorized, "deleg key differs for " + machine);
    }
    return PeerIdentity{machine, it->second};
  };
}

HelloVerifier rejectAll() {
  return [](const Message&) -> Result<PeerIdentity> {
    return Status(Code::kUnauthorized, "deleg does not verify against our root");
  };
}

// Events as the daemon's loop would see them: pushed from the replication thread.
class EventLog {
 public:
  void push(Event e) {
    std::lock_guard<std::mutex> g(mu_);
    all_.push_back(std::move(e));
    cv_.notify_all();
  }
  size_t size() const {
    std::lock_guard<std::mutex> g(mu_);
    return all_.size();
  }
  // The first event at index >= from matching pred, waiting up to `timeout`.
  std::optional<Event> waitFor(const std::function<bool(const Event&)>& pred,
                               size_t from = 0, milliseconds timeout = kWait) const {
    std::unique_lock<std::mutex> g(mu_);
    std::optional<Event> found;
    cv_.wait_for(g, timeout, [&] {
      for (size_t i = from; i < all_.size(); ++i) {
        if (pred(all_[i])) {
          found = all_[i];
          return true;
        }
      }
      return false;
    });
    return found;
  }
  size_t count(const std::function<bool(const Event&)>& pred) const {
    std::lock_guard<std::mutex> g(mu_);
    size_t n = 0;
    for (const auto& e : all_) n += pred(e) ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Event> all_;
};

std::function<bool(const Event&)> is(Event::Kind k, const std::string& machine = "") {
  return [k, machine](const Event& e) {
    return e.kind == k && (machine.empty() || e.machine == machine);
  };
}
std::function<bool(const Event&)> isMessage(const std::string& from, std::string_view type) {
  return [from, type](const Event& e) {
    return e.kind == Event::Kind::kMessage && e.machine == from && e.message.type == type;
  };
}

// Polls `cond` until true or the deadline.
bool eventually(const std::function<bool()>& cond, milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return cond();
}

MembershipConfig fastMembership() { return MembershipConfig{100, 500}; }

struct Node {
  Node(std::string name, HelloVerifier v) : machine(std::move(name)), verifier(std::move(v)) {}

  void start(const std::string& bind = "tcp://127.0.0.1:0",
             std::optional<Message> hello = std::nullopt) {
    TransportConfig c;
    c.machine = machine;
    c.bind_endpoint = bind;
    c.hello = hello ? *hello : helloFor(machine, key.publicKey());
    c.verify_hello = verifier;
    c.membership = fastMembership();
    c.reconnect_ivl_ms = 50;
    c.reconnect_ivl_max_ms = 200;
    auto t = Transport::start(key, std::move(c), [this](Event e) { events.push(std::move(e)); });
    BOOST_REQUIRE_MESSAGE(t.isOk(), t.status().toString());
    transport = std::move(t).value();
  }
  Transport& t() { return *transport; }
  void dial(Node& other) {
    BOOST_REQUIRE(transport->addPeer(other.machine, other.transport->endpoint(),
                                     other.key.publicKey())
                      .isOk());
  }

  std::string machine;
  SigningKey key = SigningKey::generate();
  HelloVerifier verifier;
  EventLog events;
  std::unique_ptr<Transport> transport;
};

// A registry (the stub root) for the given nodes plus extra (machine, key) pairs.
Registry registryOf(std::initializer_list<Node*> nodes) {
  Registry r;
  for (Node* n : nodes) r[n->machine] = n->key.publicKey();
  return r;
}

void setVerifier(std::initializer_list<Node*> nodes, const Registry& r) {
  for (Node* n : nodes) n->verifier = stubVerifier(r);
}

// Two nodes dialling each other, both up. Returns when each saw the other up.
void connectPair(Node& a, Node& b) {
  a.dial(b);
  b.dial(a);
  BOOST_REQUIRE(a.events.waitFor(is(Event::Kind::kPeerUp, b.machine)));
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kPeerUp, a.machine)));
}

// A raw ZeroMQ DEALER, CURVE client or plaintext: a peer we do not control.
class RawDealer {
 public:
  struct Curve {
    std::array<uint8_t, 32> pub, sec, server;
  };
  RawDealer(const std::string& endpoint, std::optional<Curve> curve) {
    ctx_ = zmq_ctx_new();
    s_ = zmq_socket(ctx_, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s_, ZMQ_LINGER, &zero, sizeof zero);
    if (curve) {
      zmq_setsockopt(s_, ZMQ_CURVE_PUBLICKEY, curve->pub.data(), 32);
      zmq_setsockopt(s_, ZMQ_CURVE_SECRETKEY, curve->sec.data(), 32);
      zmq_setsockopt(s_, ZMQ_CURVE_SERVERKEY, curve->server.data(), 32);
    }
    BOOST_REQUIRE(zmq_connect(s_, endpoint.c_str()) == 0);
  }
  ~RawDealer() {
    zmq_close(s_);
    zmq_ctx_term(ctx_);
  }
  void send(const std::vector<std::string>& parts) {
    for (size_t i = 0; i < parts.size(); ++i) {
      BOOST_REQUIRE(zmq_send(s_, parts[i].data(), parts[i].size(),
                             i + 1 < parts.size() ? ZMQ_SNDMORE : 0) >= 0);
    }
  }
  // One multipart, or empty after `timeout`.
  std::vector<std::string> recv(milliseconds timeout) {
    zmq_pollitem_t item{s_, 0, ZMQ_POLLIN, 0};
    std::vector<std::string> parts;
    if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return parts;
    int more = 1;
    while (more) {
      zmq_msg_t m;
      zmq_msg_init(&m);
      if (zmq_msg_recv(&m, s_, 0) < 0) break;
      parts.emplace_back(static_cast<const char*>(zmq_msg_data(&m)), zmq_msg_size(&m));
      more = zmq_msg_more(&m);
      zmq_msg_close(&m);
    }
    return parts;
  }

 private:
  void* ctx_ = nullptr;
  void* s_ = nullptr;
};

RawDealer::Curve curveFor(const SigningKey& client, const PublicKey& serverNodeKey) {
  RawDealer::Curve c{};
  auto pub = client.x25519PublicKey();
  auto sec = client.x25519SecretKey();
  auto server = kith::identity::x25519FromEd25519(serverNodeKey);
  BOOST_REQUIRE(server.isOk());
  std::copy(pub.begin(), pub.end(), c.pub.begin());
  std::copy(sec.span().begin(), sec.span().end(), c.sec.begin());
  std::copy(server->begin(), server->end(), c.server.begin());
  return c;
}

std::vector<std::string> parts(const Message& m) { return encode(m); }

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_transport)

BOOST_AUTO_TEST_CASE(binds_port_zero_and_reports_the_actual_endpoint) {
  Node a("a", rejectAll());
  a.start();
  const std::string ep = a.t().endpoint();
  BOOST_TEST(ep.rfind("tcp://127.0.0.1:", 0) == 0);
  BOOST_TEST(ep != "tcp://127.0.0.1:0");
  BOOST_TEST(a.t().machine() == "a");
  BOOST_TEST(a.t().peers().empty());
}

BOOST_AUTO_TEST_CASE(two_transports_exchange_hello_and_come_up) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  connectPair(a, b);
  // Each side delivered the other's verified HELLO (the daemon's anti-entropy cue).
  auto hb = a.events.waitFor(isMessage("b", kHello));
  BOOST_REQUIRE(hb);
  BOOST_TEST(hb->message.frames[0] == "b " + hexOf(b.key.publicKey()));
  BOOST_TEST(b.events.waitFor(isMessage("a", kHello)).has_value());
  // No PING/PONG ever reaches the daemon.
  BOOST_TEST(a.events.count([](const Event& e) {
               return e.kind == Event::Kind::kMessage &&
                      (e.message.type == kPing || e.message.type == kPong);
             }) == 0u);
  BOOST_TEST(a.events.count(is(Event::Kind::kHelloRejected)) == 0u);
  // b's DEALER reached a's ROUTER through a's ZAP handler (b may have come up at
  // a over a's own DEALER first, so wait for it).
  BOOST_TEST(eventually([&] { return a.t().stats().zap_requests >= 1u; }));
  BOOST_TEST(a.t().stats().zap_denied == 0u);
  BOOST_TEST(a.t().stats().hello_rejected == 0u);
}

BOOST_AUTO_TEST_CASE(records_ack_pull_round_trip) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  connectPair(a, b);

  const Message records{"RECORDS", {"S 2026-01-01T00:00:00Z x 1 ab A dev.kith a a infra 1 -", "S r2"}};
  BOOST_REQUIRE(a.t().send("b", records).isOk());
  auto got = b.events.waitFor(isMessage("a", kRecords));
  BOOST_REQUIRE(got);
  BOOST_TEST((got->message == records));

  const Message ack{"ACK", {R"({"zone":"a","seq":1})", R"({"zone":"a","seq":2})"}};
  BOOST_REQUIRE(b.t().send("a", ack).isOk());
  auto gotAck = a.events.waitFor(isMessage("b", kAck));
  BOOST_REQUIRE(gotAck);
  BOOST_TEST((gotAck->message == ack));

  const Message pull{"PULL", {R"({"a":0,"b":7})"}};
  BOOST_REQUIRE(a.t().send("b", pull).isOk());
  auto gotPull = b.events.waitFor(isMessage("a", kPull));
  BOOST_REQUIRE(gotPull);
  BOOST_TEST((gotPull->message == pull));

  const Message empty{"RECORDS", {}};  // "nothing newer"
  BOOST_REQUIRE(b.t().send("a", empty).isOk());
  auto gotEmpty = a.events.waitFor(isMessage("b", kRecords));
  BOOST_REQUIRE(gotEmpty);
  BOOST_TEST(gotEmpty->message.frames.empty());

  auto pa = a.t().peers();
  BOOST_REQUIRE(pa.size() == 1u);
  BOOST_TEST(pa[0].machine == "b");
  BOOST_TEST(pa[0].up);
  BOOST_TEST(pa[0].configured);
  BOOST_TEST(pa[0].encrypted);
  BOOST_TEST(pa[0].nodeKeyHex == hexOf(b.key.publicKey()));
  BOOST_TEST(pa[0].messagesIn >= 2u);
  BOOST_TEST(pa[0].messagesOut >= 3u);
  BOOST_TEST(pa[0].bytesOut > 0u);
  BOOST_TEST(pa[0].lastSeenMs > 0);
}

BOOST_AUTO_TEST_CASE(a_one_way_dial_carries_both_directions) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  a.dial(b);  // b does not know a: it answers on a's inbound link
  BOOST_REQUIRE(a.events.waitFor(is(Event::Kind::kPeerUp, "b")));
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kPeerUp, "a")));
  BOOST_REQUIRE(b.t().send("a", Message{"PEERS", {"[]"}}).isOk());
  BOOST_TEST(a.events.waitFor(isMessage("b", kPeers)).has_value());
  auto pb = b.t().peers();
  BOOST_REQUIRE(pb.size() == 1u);
  BOOST_TEST(!pb[0].configured);
  BOOST_TEST(pb[0].endpoint.empty());
  BOOST_TEST(pb[0].nodeKeyHex == hexOf(a.key.publicKey()));
  // Heartbeats flow: a measures a round trip through b's PONG.
  BOOST_TEST(eventually([&] {
    auto p = a.t().peers();
    return !p.empty() && p[0].rttMs >= 0;
  }));
}

// The daemon re-adds a seed when the seed's infra record arrives: with the
// same endpoint and key the verified link stays (tearing it down dropped the
// message sent next — b never dials a here, so there is no other route).
BOOST_AUTO_TEST_CASE(re_adding_a_peer_with_the_same_endpoint_and_key_keeps_the_link) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  a.dial(b);
  BOOST_REQUIRE(a.events.waitFor(is(Event::Kind::kPeerUp, "b")));
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kPeerUp, "a")));
  a.dial(b);  // again, same endpoint and key
  BOOST_REQUIRE(a.t().send("b", Message{"PEERS", {"[]"}}).isOk());
  BOOST_TEST(b.events.waitFor(isMessage("a", kPeers)).has_value());
  BOOST_TEST(a.t().stats().send_dropped == 0u);
  // One HELLO each way: no second handshake.
  BOOST_TEST(b.events.count(isMessage("a", kHello)) == 1u);
  BOOST_TEST(a.events.count(isMessage("b", kHello)) == 1u);
}

BOOST_AUTO_TEST_CASE(every_verified_link_runs_curve_with_the_node_keys) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  BOOST_TEST(!a.t().curveActive("b").has_value());  // no link yet
  connectPair(a, b);
  BOOST_TEST(eventually([&] { return a.t().links().size() == 2u && b.t().links().size() == 2u; }));
  BOOST_TEST(a.t().curveActive("b").value_or(false));
  BOOST_TEST(b.t().curveActive("a").value_or(false));
  const auto ax = a.key.x25519PublicKey();
  const auto bx = b.key.x25519PublicKey();
  for (const auto& l : a.t().links()) {
    BOOST_TEST(l.machine == "b");
    BOOST_TEST(l.curve);
    // Outbound: the server key we pinned; inbound: the client key ZAP saw.
    BOOST_TEST(l.curve_key_hex == kith::toHex(bx.data(), bx.size()));
  }
  for (const auto& l : b.t().links()) {
    BOOST_TEST(l.curve);
    BOOST_TEST(l.curve_key_hex == kith::toHex(ax.data(), ax.size()));
  }
  BOOST_TEST(a.t().peers().at(0).links == 2);
  BOOST_TEST(a.t().peers().at(0).encrypted);
}

BOOST_AUTO_TEST_CASE(a_rejected_hello_gets_nothing_delivered) {
  Node a("a", nullptr), b("b", rejectAll());
  a.verifier = stubVerifier(registryOf({&a, &b}));
  a.start();
  b.start();
  a.dial(b);
  auto rej = b.events.waitFor(is(Event::Kind::kHelloRejected));
  BOOST_REQUIRE(rej);
  BOOST_TEST(rej->why.find("does not verify") != std::string::npos);
  // a's link never verifies (b never answered), so a sends nothing on it.
  BOOST_REQUIRE(a.t().send("b", Message{"RECORDS", {"S x"}}).isOk());
  BOOST_TEST(eventually([&] { return a.t().stats().send_dropped >= 1u; }));
  BOOST_TEST(a.events.count(is(Event::Kind::kPeerUp)) == 0u);
  BOOST_TEST(b.events.count(is(Event::Kind::kPeerUp)) == 0u);
  BOOST_TEST(b.events.count(is(Event::Kind::kMessage)) == 0u);
  BOOST_TEST(b.t().stats().hello_rejected == 1u);
  BOOST_TEST(!b.t().curveActive("a").has_value());
}

BOOST_AUTO_TEST_CASE(messages_after_a_rejected_hello_are_dropped_and_counted) {
  Node b("b", nullptr);
  SigningKey stranger = SigningKey::generate();  // holds no deleg
  b.verifier = stubVerifier(registryOf({&b}));
  b.start();
  RawDealer d(b.t().endpoint(), curveFor(stranger, b.key.publicKey()));
  d.send(parts(helloFor("z", stranger.publicKey())));
  d.send(parts(Message{"RECORDS", {"S forged"}}));
  d.send(parts(helloFor("z", stranger.publicKey())));  // a second try on that link is ignored
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kHelloRejected, "")));
  BOOST_TEST(eventually([&] { return b.t().stats().unverified_dropped >= 2u; }));
  BOOST_TEST(b.t().stats().hello_rejected == 1u);
  BOOST_TEST(b.events.count(is(Event::Kind::kHelloRejected)) == 1u);
  BOOST_TEST(b.events.count(is(Event::Kind::kMessage)) == 0u);
  BOOST_TEST(d.recv(milliseconds(50)).empty());  // no HELLO answer
}

BOOST_AUTO_TEST_CASE(messages_before_hello_are_dropped_and_counted) {
  Node b("b", nullptr);
  SigningKey c = SigningKey::generate();
  Registry r = registryOf({&b});
  r["c"] = c.publicKey();
  b.verifier = stubVerifier(r);
  b.start();
  RawDealer d(b.t().endpoint(), curveFor(c, b.key.publicKey()));
  d.send(parts(Message{"RECORDS", {"S too early"}}));
  d.send(parts(makePing(1)));
  d.send(parts(helloFor("c", c.publicKey())));
  auto answer = d.recv(kWait);
  BOOST_REQUIRE(!answer.empty());
  BOOST_TEST(answer[0] == "HELLO");
  BOOST_TEST(answer[1] == "b " + hexOf(b.key.publicKey()));
  BOOST_TEST(b.t().stats().unverified_dropped == 2u);
  // Now verified: a PING is answered, RECORDS delivered.
  d.send(parts(makePing(42)));
  auto pong = d.recv(kWait);
  BOOST_REQUIRE(pong.size() == 2u);
  BOOST_TEST(pong[0] == "PONG");
  BOOST_TEST(pong[1] == "42");
  d.send(parts(Message{"RECORDS", {"S in time"}}));
  auto got = b.events.waitFor(isMessage("c", kRecords));
  BOOST_REQUIRE(got);
  BOOST_TEST(got->message.frames[0] == "S in time");
  BOOST_TEST(b.events.count(isMessage("c", kRecords)) == 1u);
}

BOOST_AUTO_TEST_CASE(a_node_claiming_another_machines_deleg_is_rejected) {
  // c's deleg is valid, but a holds a's key: the CURVE key on a's link is a's.
  Node a("a", nullptr), b("b", nullptr);
  SigningKey c = SigningKey::generate();
  Registry r = registryOf({&a, &b});
  r["c"] = c.publicKey();
  setVerifier({&a, &b}, r);
  a.start("tcp://127.0.0.1:0", helloFor("c", c.publicKey()));
  b.start();
  a.dial(b);
  auto rej = b.events.waitFor(is(Event::Kind::kHelloRejected));
  BOOST_REQUIRE(rej);
  BOOST_TEST(rej->machine == "c");
  BOOST_TEST(rej->why.find("curve key mismatch") != std::string::npos);
  BOOST_TEST(b.t().stats().curve_key_mismatch == 1u);
  BOOST_TEST(b.events.count(is(Event::Kind::kPeerUp)) == 0u);
  BOOST_TEST(b.events.count(is(Event::Kind::kMessage)) == 0u);
  BOOST_TEST(a.events.count(is(Event::Kind::kPeerUp)) == 0u);

  // The other direction: b dials a as "a" (a's real key, so CURVE succeeds),
  // but a's answering HELLO claims c. b rejects its own outbound link.
  b.dial(a);
  auto rej2 = b.events.waitFor(is(Event::Kind::kHelloRejected, "a"));
  BOOST_REQUIRE(rej2);
  BOOST_TEST(rej2->why.find("says it is c") != std::string::npos);
  BOOST_TEST(b.events.count(is(Event::Kind::kPeerUp)) == 0u);
  BOOST_TEST(!b.t().curveActive("a").has_value());
}

BOOST_AUTO_TEST_CASE(a_client_with_the_wrong_server_key_cannot_connect) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  SigningKey impostor = SigningKey::generate();
  // a pins a key b does not hold: the CURVE handshake fails at b's ROUTER.
  BOOST_REQUIRE(a.t().addPeer("b", b.t().endpoint(), impostor.publicKey()).isOk());
  BOOST_TEST(eventually([&] { return b.t().stats().inbound_handshakes_failed >= 1u; }));
  // A raw CURVE client with a wrong server key fares no better.
  RawDealer d(b.t().endpoint(), curveFor(a.key, impostor.publicKey()));
  d.send(parts(helloFor("a", a.key.publicKey())));
  BOOST_TEST(eventually([&] { return b.t().stats().inbound_handshakes_failed >= 2u; }));
  BOOST_TEST(b.t().stats().zap_requests == 0u);  // no client ever got past the key exchange
  BOOST_TEST(b.events.size() == 0u);
  BOOST_TEST(a.events.size() == 0u);
  BOOST_TEST(!a.t().peers().at(0).up);
  BOOST_TEST(d.recv(milliseconds(50)).empty());
}

BOOST_AUTO_TEST_CASE(a_plaintext_dealer_gets_nothing_through) {
  Node b("b", nullptr);
  Registry r = registryOf({&b});
  SigningKey c = SigningKey::generate();
  r["c"] = c.publicKey();
  b.verifier = stubVerifier(r);
  b.start();
  RawDealer plain(b.t().endpoint(), std::nullopt);  // ZMQ NULL mechanism
  plain.send(parts(helloFor("c", c.publicKey())));  // even a valid deleg
  plain.send(parts(Message{"RECORDS", {"S plaintext"}}));
  BOOST_TEST(eventually([&] { return b.t().stats().inbound_handshakes_failed >= 1u; }));
  BOOST_TEST(b.t().stats().zap_requests == 0u);
  BOOST_TEST(b.t().stats().unverified_dropped == 0u);  // never even reached the gate
  BOOST_TEST(b.events.size() == 0u);
  BOOST_TEST(plain.recv(milliseconds(50)).empty());
  // Positive control: the same ROUTER serves a CURVE client with that deleg.
  RawDealer curve(b.t().endpoint(), curveFor(c, b.key.publicKey()));
  curve.send(parts(helloFor("c", c.publicKey())));
  BOOST_TEST(b.events.waitFor(is(Event::Kind::kPeerUp, "c")).has_value());
  BOOST_TEST(b.events.count(isMessage("c", kRecords)) == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_multipart_frames_are_dropped_and_counted) {
  Node b("b", nullptr);
  SigningKey c = SigningKey::generate();
  Registry r = registryOf({&b});
  r["c"] = c.publicKey();
  b.verifier = stubVerifier(r);
  b.start();
  RawDealer d(b.t().endpoint(), curveFor(c, b.key.publicKey()));
  d.send({"NONSENSE", "x"});                          // unknown type (before HELLO too)
  d.send(parts(helloFor("c", c.publicKey())));
  BOOST_REQUIRE(!d.recv(kWait).empty());
  d.send({"BOGUS"});                                  // unknown type
  d.send({"PING", "1", "2"});                         // frame count
  d.send({"HELLO", "only one"});                      // frame count
  d.send({"RECORDS", "ok", "\xff\xfe"});              // not UTF-8
  d.send({"PONG", "soon"});                           // bad payload
  d.send({"RECORDS", std::string(kMaxFrameBytes + 1, 'x')});  // frame too large
  d.send({""});                                       // empty type
  d.send(parts(Message{"RECORDS", {"S fine"}}));
  auto got = b.events.waitFor(isMessage("c", kRecords));
  BOOST_REQUIRE(got);
  BOOST_TEST(got->message.frames[0] == "S fine");
  const auto s = b.t().stats();
  auto n = [&](DecodeError e) { return s.malformed[static_cast<size_t>(e)]; };
  BOOST_TEST(n(DecodeError::kUnknownType) == 3u);
  BOOST_TEST(n(DecodeError::kFrameCount) == 2u);
  BOOST_TEST(n(DecodeError::kNotUtf8) == 1u);
  BOOST_TEST(n(DecodeError::kBadPayload) == 1u);
  BOOST_TEST(n(DecodeError::kFrameTooLarge) == 1u);
  BOOST_TEST(s.malformed_total == 8u);
  BOOST_TEST(b.events.count(is(Event::Kind::kMessage)) == 2u);  // the HELLO and "S fine"
}

BOOST_AUTO_TEST_CASE(a_stopped_peer_goes_down_and_comes_back_up) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  connectPair(a, b);
  const std::string bEndpoint = b.t().endpoint();
  // Let a few heartbeats pass: still up, no down.
  std::this_thread::sleep_for(milliseconds(600));
  BOOST_TEST(a.events.count(is(Event::Kind::kPeerDown)) == 0u);

  const size_t mark = a.events.size();
  const auto stoppedAt = Clock::now();
  b.transport.reset();
  auto down = a.events.waitFor(is(Event::Kind::kPeerDown, "b"), mark);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - stoppedAt);
  BOOST_REQUIRE(down);
  const int64_t downAfter = fastMembership().down_after_ms;
  BOOST_TEST(took.count() <= downAfter + 1000, "down after " << took.count() << " ms");
  BOOST_TEST(took.count() >= downAfter - 2 * fastMembership().heartbeat_ms - 50);
  BOOST_TEST(!a.t().peers().at(0).up);
  // Neither link to b is listed any more: no stale "encrypted" claims.
  BOOST_TEST(eventually([&] { return a.t().links().empty(); }));
  BOOST_TEST(!a.t().curveActive("b").has_value());
  BOOST_TEST(a.t().peers().at(0).links == 0);
  BOOST_TEST(!a.t().peers().at(0).encrypted);

  // Restart b on the same endpoint: a's DEALER redials; b dials a again.
  const size_t mark2 = a.events.size();
  const size_t markB = b.events.size();
  b.start(bEndpoint);
  b.dial(a);
  BOOST_TEST(a.events.waitFor(is(Event::Kind::kPeerUp, "b"), mark2).has_value());
  BOOST_TEST(a.events.waitFor(isMessage("b", kHello), mark2).has_value());
  BOOST_TEST(b.events.waitFor(is(Event::Kind::kPeerUp, "a"), markB).has_value());
  BOOST_TEST(a.t().peers().at(0).up);
  // Both links verified again, and traffic flows over them.
  BOOST_TEST(eventually([&] { return a.t().links().size() == 2u; }));
  BOOST_REQUIRE(a.t().send("b", Message{"RECORDS", {"S after restart"}}).isOk());
  BOOST_TEST(b.events.waitFor(isMessage("a", kRecords), markB).has_value());
}

BOOST_AUTO_TEST_CASE(a_silent_peer_is_down_until_its_next_message_on_the_same_link) {
  Node b("b", nullptr);
  SigningKey c = SigningKey::generate();
  Registry r = registryOf({&b});
  r["c"] = c.publicKey();
  b.verifier = stubVerifier(r);
  b.start();
  RawDealer d(b.t().endpoint(), curveFor(c, b.key.publicKey()));  // never PINGs
  d.send(parts(helloFor("c", c.publicKey())));
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kPeerUp, "c")));
  BOOST_TEST(b.t().curveActive("c").value_or(false));
  BOOST_REQUIRE(b.events.waitFor(is(Event::Kind::kPeerDown, "c")));
  BOOST_TEST(!b.t().curveActive("c").has_value());
  // Same connection, no new HELLO: the link was only quiet.
  const size_t mark = b.events.size();
  d.send(parts(Message{"RECORDS", {"S back"}}));
  BOOST_TEST(b.events.waitFor(is(Event::Kind::kPeerUp, "c"), mark).has_value());
  auto got = b.events.waitFor(isMessage("c", kRecords), mark);
  BOOST_REQUIRE(got);
  BOOST_TEST(got->message.frames[0] == "S back");
  BOOST_TEST(b.t().curveActive("c").value_or(false));
  BOOST_TEST(b.t().stats().unverified_dropped == 0u);
}

BOOST_AUTO_TEST_CASE(three_transports_in_a_ring) {
  Node a("a", nullptr), b("b", nullptr), c("c", nullptr);
  setVerifier({&a, &b, &c}, registryOf({&a, &b, &c}));
  a.start();
  b.start();
  c.start();
  a.dial(b);
  b.dial(c);
  c.dial(a);
  for (Node* n : {&a, &b, &c}) {
    for (Node* m : {&a, &b, &c}) {
      if (n == m) continue;
      BOOST_TEST_CONTEXT(n->machine << " sees " << m->machine) {
        BOOST_TEST(n->events.waitFor(is(Event::Kind::kPeerUp, m->machine)).has_value());
      }
    }
  }
  // Each node reaches both neighbours: one over its DEALER, one over its ROUTER.
  for (Node* n : {&a, &b, &c}) {
    BOOST_REQUIRE(n->t().broadcast(Message{"RECORDS", {"S from " + n->machine}}).isOk());
  }
  for (Node* n : {&a, &b, &c}) {
    for (Node* m : {&a, &b, &c}) {
      if (n == m) continue;
      BOOST_TEST_CONTEXT(n->machine << " hears " << m->machine) {
        auto got = n->events.waitFor(isMessage(m->machine, kRecords));
        BOOST_REQUIRE(got);
        BOOST_TEST(got->message.frames[0] == "S from " + m->machine);
      }
    }
    BOOST_TEST(n->t().peers().size() == 2u);
    BOOST_TEST(n->t().stats().send_dropped == 0u);
  }
}

BOOST_AUTO_TEST_CASE(broadcast_reaches_all_up_peers) {
  Node hub("hub", nullptr), p1("p1", nullptr), p2("p2", nullptr), p3("p3", nullptr);
  setVerifier({&hub, &p1, &p2, &p3}, registryOf({&hub, &p1, &p2, &p3}));
  for (Node* n : {&hub, &p1, &p2, &p3}) n->start();
  for (Node* p : {&p1, &p2, &p3}) connectPair(hub, *p);
  const Message m{"RECORDS", {"S one", "S two"}};
  BOOST_REQUIRE(hub.t().broadcast(m).isOk());
  for (Node* p : {&p1, &p2, &p3}) {
    auto got = p->events.waitFor(isMessage("hub", kRecords));
    BOOST_REQUIRE(got);
    BOOST_TEST((got->message == m));
    BOOST_TEST(p->events.count(isMessage("hub", kRecords)) == 1u);  // once per peer
  }
  // A peer that is gone is not reached; the others still are.
  p3.transport.reset();
  BOOST_REQUIRE(hub.events.waitFor(is(Event::Kind::kPeerDown, "p3")));
  const size_t m1 = p1.events.size(), m2 = p2.events.size();
  BOOST_REQUIRE(hub.t().broadcast(Message{"RECORDS", {"S three"}}).isOk());
  BOOST_TEST(p1.events.waitFor(isMessage("hub", kRecords), m1).has_value());
  BOOST_TEST(p2.events.waitFor(isMessage("hub", kRecords), m2).has_value());
}

BOOST_AUTO_TEST_CASE(remove_peer_closes_the_link_and_forgets_it) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  a.dial(b);
  BOOST_REQUIRE(a.events.waitFor(is(Event::Kind::kPeerUp, "b")));
  BOOST_REQUIRE(a.t().removePeer("b").isOk());
  BOOST_TEST(eventually([&] { return a.t().peers().empty() && a.t().links().empty(); }));
  BOOST_TEST(!a.t().curveActive("b").has_value());
  // b notices a's silence.
  BOOST_TEST(b.events.waitFor(is(Event::Kind::kPeerDown, "a")).has_value());
}

BOOST_AUTO_TEST_CASE(api_refuses_bad_input_synchronously) {
  Node a("a", rejectAll());
  a.start();
  const PublicKey k = SigningKey::generate().publicKey();
  BOOST_TEST(!a.t().addPeer("a", "tcp://127.0.0.1:1", k).isOk());       // ourselves
  BOOST_TEST(!a.t().addPeer("", "tcp://127.0.0.1:1", k).isOk());
  BOOST_TEST(!a.t().addPeer("b c", "tcp://127.0.0.1:1", k).isOk());
  BOOST_TEST(!a.t().addPeer("b", "127.0.0.1:1", k).isOk());
  BOOST_TEST(!a.t().send("b", Message{"HELLO", {"x", "y", "z"}}).isOk());  // transport's own
  BOOST_TEST(!a.t().send("b", makePing(1)).isOk());
  BOOST_TEST(!a.t().send("b", Message{"GOSSIP", {"x"}}).isOk());
  BOOST_TEST(!a.t().broadcast(Message{"ACK", {}}).isOk());
  BOOST_TEST(!a.t().setHello(Message{"RECORDS", {}}).isOk());
  BOOST_TEST(a.t().setHello(helloFor("a", a.key.publicKey())).isOk());
  BOOST_TEST(a.t().send("nobody", Message{"PULL", {"{}"}}).isOk());  // async: dropped, counted
  BOOST_TEST(eventually([&] { return a.t().stats().send_dropped == 1u; }));
}

BOOST_AUTO_TEST_CASE(start_refuses_bad_config_and_busy_endpoints) {
  SigningKey key = SigningKey::generate();
  auto sink = [](Event) {};
  auto base = [&] {
    TransportConfig c;
    c.machine = "a";
    c.hello = helloFor("a", key.publicKey());
    c.verify_hello = rejectAll();
    return c;
  };
  {
    auto c = base();
    c.machine = "";
    BOOST_TEST(!Transport::start(key, std::move(c), sink).isOk());
  }
  {
    auto c = base();
    c.verify_hello = nullptr;
    BOOST_TEST(!Transport::start(key, std::move(c), sink).isOk());
  }
  {
    auto c = base();
    c.hello = Message{"HELLO", {"too few"}};
    BOOST_TEST(!Transport::start(key, std::move(c), sink).isOk());
  }
  {
    auto c = base();
    c.membership = MembershipConfig{1000, 500};
    BOOST_TEST(!Transport::start(key, std::move(c), sink).isOk());
  }
  BOOST_TEST(!Transport::start(key, base(), nullptr).isOk());
  auto first = Transport::start(key, base(), sink);
  BOOST_REQUIRE(first.isOk());
  auto c = base();
  c.bind_endpoint = (*first)->endpoint();
  auto second = Transport::start(key, std::move(c), sink);
  BOOST_REQUIRE(!second.isOk());
  BOOST_TEST((second.status().code() == Code::kIo));
  BOOST_TEST(second.status().message().find((*first)->endpoint()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stop_is_clean_idempotent_and_final) {
  Node a("a", nullptr), b("b", nullptr);
  setVerifier({&a, &b}, registryOf({&a, &b}));
  a.start();
  b.start();
  connectPair(a, b);
  // Traffic in flight while stopping.
  for (int i = 0; i < 200; ++i) {
    BOOST_REQUIRE(a.t().send("b", Message{"RECORDS", {"S " + std::to_string(i)}}).isOk());
  }
  b.t().stop();
  b.t().stop();  // idempotent
  const size_t after = b.events.size();
  BOOST_TEST(!b.t().send("a", Message{"PULL", {"{}"}}).isOk());
  BOOST_TEST(!b.t().addPeer("c", "tcp://127.0.0.1:1", a.key.publicKey()).isOk());
  BOOST_TEST(b.t().peers().size() == 1u);  // snapshots still readable
  std::this_thread::sleep_for(milliseconds(50));
  BOOST_TEST(b.events.size() == after);  // nothing after stop() returned
  // a is destroyed without an explicit stop(): the destructor does it.
}

BOOST_AUTO_TEST_CASE(a_throwing_event_handler_does_not_stop_the_transport) {
  SigningKey ka = SigningKey::generate();
  Node b("b", nullptr);
  Registry r{{"a", ka.publicKey()}, {"b", b.key.publicKey()}};
  b.verifier = stubVerifier(r);
  b.start();
  std::atomic<int> calls{0};
  TransportConfig c;
  c.machine = "a";
  c.hello = helloFor("a", ka.publicKey());
  c.verify_hello = [](const Message&) -> Result<PeerIdentity> { throw std::runtime_error("boom"); };
  c.membership = fastMembership();
  auto a = Transport::start(ka, std::move(c), [&](Event) {
    calls++;
    throw std::runtime_error("handler bug");
  });
  BOOST_REQUIRE(a.isOk());
  BOOST_REQUIRE((*a)->addPeer("b", b.t().endpoint(), b.key.publicKey()).isOk());
  // b accepts a; a's verifier throws on b's answer: rejected, and the handler
  // (throwing too) is still called, and a keeps serving.
  BOOST_TEST(eventually([&] { return (*a)->stats().hello_rejected >= 1u; }));
  BOOST_TEST(eventually([&] { return calls.load() >= 1; }));
  BOOST_TEST(b.events.waitFor(is(Event::Kind::kPeerUp, "a")).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
