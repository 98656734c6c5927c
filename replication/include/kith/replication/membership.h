// Membership: which peers are up, by heartbeat, and the per-peer figures that
// `kithctl peers` shows.
//
// A peer is a machine (not a link): it is UP while verified traffic of any kind
// (HELLO, PING, PONG, RECORDS, ...) has arrived from it on any of its links within
// the last `down_after_ms`; it goes DOWN when it has been silent that long, and
// comes back UP with its next verified message. Only traffic that passed the
// HELLO gate counts — an unverified link never makes a peer up. The transport
// PINGs every verified outbound link every `heartbeat_ms` and answers each PING
// with a PONG on the same link, so two live peers never fall silent.
//
// Time is the injected Clock's monotonic milliseconds, so the state machine is
// tested with a FakeClock (tests/unit/replication/membership_test.cpp) and no
// sockets.
//
// Ownership and threads: the Transport owns one Membership and drives it from the
// replication thread (heard/sent/sweep/...). snapshot() and peer() may be called
// from any thread: every method takes the internal mutex, and nothing is handed
// out by reference.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kith/common/clock.h"

namespace kith::replication {

struct MembershipConfig {
  int64_t heartbeat_ms = 1000;   // PING period on each verified outbound link
  int64_t down_after_ms = 5000;  // silence after which a peer is down
};

// One peer as `kithctl peers` shows it. A plain value (a snapshot).
struct PeerStatus {
  std::string machine;
  std::string endpoint;     // as given to addPeer; "" for a peer known only inbound
  std::string nodeKeyHex;   // Ed25519 node public key, hex ("" until known)
  bool configured = false;  // added with addPeer (we dial it)
  bool up = false;
  int64_t lastSeenMs = 0;   // monotonic ms of the last verified message; 0 = never
  int64_t upSinceMs = 0;    // monotonic ms of the last down->up; 0 = never up
  int64_t rttMs = -1;       // last PING->PONG round trip; -1 = none yet
  int links = 0;            // verified links (outbound + inbound) right now
  // True iff every verified link uses ZMQ CURVE (ZMQ_MECHANISM == ZMQ_CURVE and,
  // inbound, the ZAP handler saw a CURVE client key). False with no links.
  bool encrypted = false;
  uint64_t messagesIn = 0;
  uint64_t messagesOut = 0;
  uint64_t bytesIn = 0;     // payload bytes (all frames), not wire bytes
  uint64_t bytesOut = 0;
};

class Membership {
 public:
  Membership(MembershipConfig config, const Clock& clock);

  const MembershipConfig& config() const { return config_; }

  // A peer we dial (addPeer): listed even before it was ever heard, as down.
  // Re-tracking updates endpoint and key and keeps the counters.
  void track(const std::string& machine, const std::string& endpoint,
             const std::string& nodeKeyHex);
  // Forgets the peer entirely (removePeer). No event.
  void forget(const std::string& machine);

  // A verified message of `bytes` payload bytes arrived from `machine` now.
  // Creates the entry for a peer known only inbound. Returns true iff this made
  // the peer go from down to up (the caller raises kPeerUp).
  bool heard(const std::string& machine, uint64_t bytes);
  // A message of `bytes` was handed to ZeroMQ for `machine`.
  void sent(const std::string& machine, uint64_t bytes);
  // Identity learned from a verified HELLO (fills nodeKeyHex for inbound peers).
  void setNodeKey(const std::string& machine, const std::string& nodeKeyHex);
  // The verified links of `machine` now, and whether all of them are CURVE.
  void setLinks(const std::string& machine, int links, bool allCurve);
  void setRtt(const std::string& machine, int64_t rttMs);

  // Marks down every up peer silent for down_after_ms or more; returns those
  // machines (the caller raises kPeerDown for each), in name order.
  std::vector<std::string> sweep();
  // Monotonic ms at which the next sweep can change something (the earliest
  // lastSeen + down_after of an up peer); nullopt when no peer is up.
  std::optional<int64_t> nextDeadlineMs() const;

  bool isUp(const std::string& machine) const;
  std::optional<PeerStatus> peer(const std::string& machine) const;
  // All known peers, in name order.
  std::vector<PeerStatus> snapshot() const;

 private:
  PeerStatus& entry(const std::string& machine);  // mu_ held

  const MembershipConfig config_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, PeerStatus> peers_;
};

}  // namespace kith::replication
