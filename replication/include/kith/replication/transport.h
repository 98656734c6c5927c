// Transport: the ZeroMQ CURVE peer links of one daemon, their HELLO gate and
// their heartbeats — docs/REPLICATION.md "Peer protocol".
//
// SOCKETS. One ROUTER bound to TransportConfig::bind_endpoint as CURVE server
// (secret key = the node's Ed25519 key converted to X25519), and one DEALER per
// peer added with addPeer(), as CURVE client (server key = the peer's X25519 key
// derived from the Ed25519 node key given to addPeer; client keys = our own
// X25519 pair). Every socket has ZMQ_LINGER 0; DEALERs have ZMQ_IMMEDIATE (nothing
// is queued to a link whose handshake has not completed), reconnect with
// exponential backoff (reconnect_ivl_ms .. reconnect_ivl_max_ms) and ZMTP
// heartbeats (ZMQ_HEARTBEAT_IVL = heartbeat_ms, TIMEOUT = down_after_ms) so a
// half-open TCP connection is closed and redialled. A link is one TCP connection:
// our DEALER -> a peer's ROUTER ("outbound") or a peer's DEALER -> our ROUTER
// ("inbound"). Both ends of a link may send on it.
//
// THE HELLO GATE. The first message each side sends on a link is HELLO (our
// TransportConfig::hello / setHello). Until the other side's HELLO on THAT link
// has been verified, every other message from the link is dropped and counted
// (TransportStats::unverified_dropped); nothing is delivered, no peer comes up.
//  - Inbound: the dialler sends HELLO first. The transport passes it to the
//    HelloVerifier (the daemon's: the record layer checks the deleg record against
//    the root). On success it also checks that the X25519 form of the verified
//    node key equals the CURVE public key the client actually used on this
//    connection: a minimal ZAP handler (inproc://zeromq.zap.01, a REP socket on
//    the replication thread) accepts every CURVE client and sets the connection's
//    User-Id to the hex of the client's CURVE public key, which arrives with each
//    message (zmq_msg_gets "User-Id"). A node holding a valid deleg of ANOTHER
//    machine cannot use it: it does not hold that machine's secret key, so its
//    CURVE key differs and the HELLO is rejected ("curve key mismatch"). Only
//    then does our ROUTER answer with our own HELLO on the same link.
//  - Outbound: after the CURVE handshake (socket monitor,
//    ZMQ_EVENT_HANDSHAKE_SUCCEEDED) we send our HELLO; the server's answering
//    HELLO is verified the same way and must name the machine and node key given
//    to addPeer. The CURVE handshake itself proved the server holds the secret of
//    that key (we pinned its server key), so the machine is bound to the key.
//  - A rejected HELLO raises kHelloRejected once for that connection; the
//    connection stays gated (everything it sends is dropped and counted).
//  - A HELLO claiming our own machine name is rejected (a node dialling itself).
// Every verified HELLO, first or repeated, is delivered as kMessage: the daemon
// treats it as "(re)connected" and starts anti-entropy from its version vector.
//
// MEMBERSHIP. See membership.h: every verified message counts as "heard"; the
// transport PINGs each verified outbound link every heartbeat_ms and answers every
// PING with PONG on the same link (PING/PONG are consumed here, never delivered).
// kPeerUp when a machine is heard while down; kPeerDown when it has been silent
// for down_after_ms. peers() is the snapshot for `kithctl peers`.
//
// ROUTING. send(machine, m) uses our verified outbound link to the machine, else
// its verified inbound link (the newest one; an older inbound link of the same
// machine is forgotten when a newer one verifies). With neither, or when ZeroMQ
// cannot take the message (high-water mark), the message is dropped and counted
// (send_dropped) — replication is at-least-once only through ACK and
// anti-entropy, which the daemon runs. broadcast(m) = send to every machine that
// has a verified link now.
//
// THREADS (ARCHITECTURE.md "Replication", STYLE rule 12). The Transport owns ONE
// thread, the replication thread, which alone touches every ZeroMQ socket; the
// ZeroMQ context adds its own internal I/O thread. All public methods are
// thread-safe and never block on the network: addPeer/removePeer/send/broadcast/
// setHello validate their arguments, enqueue a command (mutex-guarded queue; a
// pipe wakes the thread's zmq_poll) and return; with 65,536 commands already
// queued (the thread is stuck, e.g. in a slow handler) they return RATE_LIMITED. Inbound events leave through the
// ONE EventHandler, invoked ON THE REPLICATION THREAD, in order: the daemon's
// handler must only post the Event to its loop (uv_async) and return, and must
// not call stop() (asserted). The HelloVerifier also runs on the replication
// thread: it must be thread-safe with respect to the loop (read only immutable
// data such as the root key). Exceptions thrown by either are caught and logged;
// nothing throws out of the transport.
//
// LIFETIME. start() creates the context and the sockets, binds (its error is
// returned) and starts the thread. stop() (also run by the destructor) stops and
// joins the thread, closes every socket and terminates the context; afterwards
// every call is a no-op that reports "stopped". No event is delivered after
// stop() returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/identity/keys.h"
#include "kith/replication/membership.h"
#include "kith/replication/messages.h"

namespace kith::replication {

// What a verified HELLO proved: the machine and its root-delegated node key.
struct PeerIdentity {
  std::string machine;
  identity::PublicKey nodeKey{};
};

// Verifies a HELLO (deleg record against the root, ...). Runs on the replication
// thread. A non-ok Result rejects the link; its message becomes Event::why.
using HelloVerifier = std::function<Result<PeerIdentity>(const Message& hello)>;

struct Event {
  enum class Kind {
    kMessage,        // `message` from `machine` (authenticated by the HELLO gate)
    kPeerUp,         // `machine` heard after being down (or for the first time)
    kPeerDown,       // `machine` silent for down_after_ms
    kHelloRejected,  // a link's HELLO failed: `why`; `machine` = the claimed
                     // machine when the verifier named one, the dialled machine
                     // for an outbound link, else ""
  };
  Kind kind = Kind::kMessage;
  std::string machine;
  Message message;  // kMessage only
  std::string why;  // kHelloRejected only
};
std::string_view eventKindName(Event::Kind k);

// Invoked on the replication thread (see THREADS above).
using EventHandler = std::function<void(Event)>;

struct TransportConfig {
  std::string machine;                             // our machine name
  std::string bind_endpoint = "tcp://127.0.0.1:0";  // port 0 = any; see endpoint()
  Message hello;                                   // our HELLO (3 frames)
  HelloVerifier verify_hello;                      // required
  MembershipConfig membership;
  int reconnect_ivl_ms = 100;       // first redial delay
  int reconnect_ivl_max_ms = 2000;  // backoff cap
  int send_hwm = 10'000;            // messages queued per link before send drops
  const Clock* clock = nullptr;     // nullptr = systemClock()
};

// Counters since start(); a snapshot.
struct TransportStats {
  uint64_t malformed[kDecodeErrorCount] = {};  // by DecodeError
  uint64_t malformed_total = 0;
  uint64_t unverified_dropped = 0;   // well-formed messages from a gated link
  uint64_t hello_rejected = 0;       // HELLOs refused (any reason)
  uint64_t curve_key_mismatch = 0;   // of which: node key != CURVE key of the link
  uint64_t send_dropped = 0;         // no verified link, high-water mark, error
  uint64_t messages_in = 0;          // verified messages received (incl. PING/PONG)
  uint64_t messages_out = 0;         // messages handed to ZeroMQ
  uint64_t zap_requests = 0;         // CURVE clients that completed key exchange
  uint64_t zap_denied = 0;           // ZAP requests refused (not CURVE, bad frames)
  uint64_t inbound_handshakes_failed = 0;   // ROUTER: wrong key, plaintext, ...
  uint64_t outbound_handshakes_failed = 0;  // our DEALERs
};

// One verified link, as the replication thread last saw it (test seam and
// diagnostics). An outbound link leaves the list when its connection drops; an
// inbound link (whose disconnection a ROUTER does not report) when its machine
// goes down, and it comes back with the machine's next message on it.
struct LinkInfo {
  std::string machine;
  bool outbound = false;
  // ZMQ_MECHANISM of the socket == ZMQ_CURVE (and, inbound, the ZAP handler
  // reported a CURVE client key for this connection).
  bool curve = false;
  std::string curve_key_hex;  // the peer's X25519 key on this connection
};

class Transport {
 public:
  // Creates the context, the ZAP handler and the ROUTER, binds it and starts
  // the replication thread. Fails on a bad config (BAD_REQUEST/CONFIG) or a
  // bind error (IO, naming the endpoint).
  static Result<std::unique_ptr<Transport>> start(const identity::SigningKey& nodeKey,
                                                  TransportConfig config,
                                                  EventHandler onEvent);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Stops and joins the thread, closes every socket, terminates the context.
  // Idempotent. Must not be called from the EventHandler or HelloVerifier.
  void stop();

  // The bound endpoint with the actual port (ZMQ_LAST_ENDPOINT), e.g.
  // "tcp://127.0.0.1:41234".
  const std::string& endpoint() const;
  const std::string& machine() const;

  // Dials `machine` at `endpoint` pinning `nodeKey` (its X25519 form is the
  // CURVE server key). Re-adding with a new endpoint or key replaces the
  // link; with the same ones it keeps the link as it is (unless rejected).
  // BAD_REQUEST for an empty name, our own name, or a key with no X25519 form.
  Status addPeer(std::string machine, std::string endpoint, identity::PublicKey nodeKey);
  // Closes our link to `machine`, forgets its inbound link and its membership
  // entry (no kPeerDown). It may come back by dialling us with a valid HELLO.
  Status removePeer(std::string machine);
  // BAD_REQUEST for a malformed message (checkMessage) or a HELLO/PING/PONG
  // (the transport sends those itself); else enqueued, see ROUTING.
  Status send(std::string machine, Message m);
  Status broadcast(Message m);
  // Our HELLO for links that handshake from now on (e.g. a newer version vector).
  Status setHello(Message hello);

  std::vector<PeerStatus> peers() const;
  TransportStats stats() const;
  std::vector<LinkInfo> links() const;
  // Whether every verified link to/from `machine` runs CURVE; nullopt when the
  // machine has no verified link. "The wire is not plaintext" seam.
  std::optional<bool> curveActive(const std::string& machine) const;

 private:
  struct Impl;
  explicit Transport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kith::replication
