// Replicator: this daemon's part of the mesh — it publishes the signed records
// of its own workloads to every peer and keeps the verified records of every
// other machine (docs/REPLICATION.md).
//
// Publishing: a local register/deregister (Registry watcher) becomes a signed
// `srv` / `gone` record with a new per-origin seq, stored (SQLite, group
// commit) and pushed to every up peer; peers ACK what they stored. Receiving:
// RECORDS are verified (root -> deleg -> record, zone, window), offered to the
// RecordSet (only a newer seq wins), stored, ACKed, and `srv`/`gone` of other
// machines are announced to the Registry's watchers (watch, resolve wait_ms).
// Anti-entropy: on every verified HELLO and periodically, each side sends PULL
// with its version vector and gets back what it misses. Peers are the seeds
// plus every machine whose verified `infra` record names an endpoint.
//
// Verification of RECORDS: the rules before and after the signature run here
// (Verifier::precheck / conclude); the signatures of a batch of more than a
// few records are checked on a SignaturePool (one worker per core) and the
// verdicts posted back. Batches are concluded, stored and ACKed in arrival
// order, and a batch that brings a new deleg is not prechecked before the
// batches ahead of it are concluded: every record is judged exactly as if
// the batches were verified one after the other on the loop.
//
// Threads: the Transport runs its own thread, the SignaturePool its workers;
// their results are posted to the loop and handled here. Everything else is
// loop-thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/machine_directory.h"
#include "kith/daemon/replication/remote_workload.h"
#include "kith/daemon/store/store.h"
#include "kith/identity/keys.h"
#include "kith/policy/pattern.h"
#include "kith/replication/record_set.h"
#include "kith/replication/signature_pool.h"
#include "kith/replication/transport.h"
#include "kith/replication/verifier.h"
#include "kith/replication/zone_digest.h"

namespace kith::daemon {

struct ReplicatorOptions {
  std::string machine;
  std::string trustDomain;
  std::string listen;              // tcp://HOST:PORT (port 0: any)
  std::string brokerEndpoint;      // HOST:PORT of our tunnel listener ("" = none)
  std::vector<std::string> seeds;  // MACHINE=NODEKEY@tcp://HOST:PORT
  identity::PublicKey rootKey{};
  std::string delegLine;           // our root-signed deleg record
  int64_t recordValiditySec = 3600;
  int heartbeatMs = 1000;
  int downAfterMs = 5000;
  int antiEntropyMs = 5000;
};

class Replicator : public RemoteDirectory, public MachineDirectory {
 public:
  // Records per RECORDS message (push, forward, PULL answer).
  static constexpr size_t kRecordsPerMessage = 2000;
  // A message of at least this many of our own records is sealed (shard.h):
  // below it, the seal's signing and check cost about what it saves.
  static constexpr size_t kMinSealedRecords = 4;
  // A seal is valid from a minute before it is made (clock skew) to this many
  // seconds after: long enough for a message queued behind a whole catch-up.
  static constexpr int64_t kShardValiditySec = 600;

  static Result<std::unique_ptr<Replicator>> create(Loop& loop, Store& store, Registry& registry,
                                                    const identity::SigningKey& nodeKey,
                                                    ReplicatorOptions opts);
  ~Replicator();
  // Stops the transport (joins its thread); idempotent.
  void stop();

  const std::string& endpoint() const;
  std::string nodeKeyHex() const;
  // RemoteDirectory: remote workloads matching a pattern (never this
  // machine's), or at exactly `address`, from the srv records held.
  std::vector<RemoteWorkload> match(const policy::Pattern& p) const override;
  std::optional<RemoteWorkload> find(const std::string& address) const override;
  // MachineDirectory: where `machine`'s daemon takes tunnels (its verified
  // infra record); `recheck` drops what has expired and asks the machine (if
  // its replication link is up) for its records again, so stale entries go.
  std::optional<std::string> tunnelEndpointOf(const std::string& machine) const override;
  void recheck(const std::string& machine) override;
  // Calls done(acked, peers) once every peer that was up when the record of
  // `address` went out has ACKed it, or at the deadline.
  void waitForAcks(const std::string& address, uint64_t timeoutMs,
                   std::function<void(size_t acked, size_t peers)> done);

  // The node identity rotated (NodeCredentials): takes the new root-signed
  // deleg (refused, with a log, unless it verifies and names `key`) and
  // publishes it to every peer. With a new key the transport restarts on the
  // same endpoint under the new CURVE identity and our live records are
  // re-signed with the new key; peers that see a deleg with a new key for a
  // machine they dial re-dial it with that key.
  void rotateIdentity(const identity::SigningKey& key, const std::string& delegLine);

  nlohmann::json peersJson() const;
  nlohmann::json recordsJson() const;
  nlohmann::json statsJson() const;
  // The transport's counters (send_dropped, unverified_dropped, ...).
  nlohmann::json transportStatsJson() const;

 private:
  Replicator(Loop& loop, Store& store, Registry& registry, const identity::SigningKey& nodeKey,
             ReplicatorOptions opts);
  Status restore();
  Status startTransport();
  replication::Message hello() const;
  uint64_t nextSeq();
  int64_t now() const;
  void publishLocal(const Registry::Event& ev);
  // Signs and sends a fresh srv record of a registration held here.
  void publishRegistration(const std::string& address);
  void publish(replication::Record r);
  // Queues the record's write; `afterCommit` runs once it committed (or
  // failed). False (nothing queued, afterCommit never runs) for a seq SQLite
  // cannot hold.
  bool persist(const replication::Record& r, std::function<void()> afterCommit = nullptr);
  static RecordRow rowOf(const replication::Record& r);
  void onEvent(replication::Event ev);
  void onHello(const std::string& machine, const replication::Message& m);
  void onRecords(const std::string& machine, replication::Message m);
  // A RECORDS message on its way through verification (see the header comment).
  struct Batch {
    std::string machine;
    replication::Message message;  // until prepared
    bool prepared = false;         // classified, delegs added, prechecked
    bool ready = false;            // every signature checked
    struct Item {
      replication::Record record;
      // Index into checks, or into vouched when `sealed`; -1: a deleg, verified by addDeleg.
      int check = -1;
      bool sealed = false;  // its signature is vouched for by the message's seal (shard.h)
    };
    std::vector<Item> items;
    std::vector<replication::SignatureCheck> checks;   // for the pool
    std::vector<replication::SignatureCheck> vouched;  // covered by the seal: not checked again
    std::vector<uint8_t> valid;  // one verdict per check
    replication::Message ack;
  };
  // Whether `m` holds a deleg that is not the one held for its machine.
  bool bringsNewDeleg(const replication::Message& m) const;
  void prepareBatches();
  void prepare(const std::shared_ptr<Batch>& b);
  void drainBatches();
  void finish(Batch& b);
  void onPull(const std::string& machine, const replication::Message& m);
  void onAck(const std::string& machine, const replication::Message& m);
  // A verified record arrived or was restored: learn peers, announce workloads.
  void absorb(const replication::Record& r, const std::optional<replication::Record>& previous,
              bool announce);
  // What a PULL answers: records newer than `vv`, and every record of each
  // zone whose digest differs from the peer's (zone_digest.h).
  void sendNewerThan(const std::string& machine, const replication::VersionVector& vv,
                     const replication::ZoneDigests* theirDigests);
  replication::Message pullMessage() const;
  // Our zone digests, of every zone held or (`onlyZones`) of those listed.
  replication::ZoneDigests digests(const std::vector<std::string>* onlyZones = nullptr) const;
  const replication::ZoneDigest& zoneDigestOf(const std::string& zone) const;
  // Floods records that were new here to every other up peer (a record is
  // forwarded once: a replay is never new), so a partial mesh converges in
  // one round trip per hop instead of waiting for anti-entropy.
  struct Fresh {
    std::string zone, line;
    bool deleg = false;
  };
  void forward(const std::string& from, std::vector<Fresh> fresh);
  // Sends `lines` to `machine` in RECORDS messages of at most
  // kRecordsPerMessage; with `seal`, each message of at least
  // kMinSealedRecords lines starts with our seal over them (the lines must
  // all be records of our own zone).
  void sendLines(const std::string& machine, const std::vector<const std::string*>& lines, bool seal);
  void antiEntropy();
  static std::optional<RemoteWorkload> remoteOf(const replication::Record& r);
  std::string brokerValue() const { return opts_.brokerEndpoint.empty() ? "-" : opts_.brokerEndpoint; }
  // Whether to PULL from `machine` now (and if so, counts it); `onHello`:
  // asked because a HELLO of it verified.
  bool pullNow(const std::string& machine, bool onHello = false);
  // A peer's deleg now names another key: re-dial it with that key.
  void redialOnNewKey(const replication::Record& deleg, const std::optional<replication::Record>& previous);
  void reap();
  void refreshOwn();

  struct AckWait {
    std::set<std::string> waiting;
    size_t peers = 0;
    std::function<void(size_t, size_t)> done;
    std::unique_ptr<Timer> timer;  // only while a waitForAcks caller waits
    uint64_t expiresMs = 0;        // loop ms; an unclaimed wait is swept after it
  };
  void finishWait(uint64_t seq);
  void sweepWaits();

  Loop& loop_;
  Store& store_;
  Registry& registry_;
  identity::SigningKey nodeKey_;
  ReplicatorOptions opts_;
  replication::Verifier verifier_;
  replication::RecordSet records_;
  std::unique_ptr<replication::Transport> transport_;
  std::unique_ptr<replication::SignaturePool> pool_;
  std::deque<std::shared_ptr<Batch>> batches_;  // in arrival order
  std::shared_ptr<bool> alive_;  // guards events posted after destruction
  std::string endpoint_;
  std::string infraLine_;
  std::set<std::string> dialled_;  // machines we added as peers
  // Index of the remote srv records held: address -> zone (match() without a scan).
  std::map<std::string, std::string> remoteSrv_;
  std::map<std::string, uint64_t> lastSeqOf_;  // own address -> seq of its latest record
  std::map<uint64_t, AckWait> waits_;
  uint64_t seq_ = 0;
  uint64_t watcher_ = 0;
  // (peer, zone) -> loop ms of the last whole-zone resend to that peer.
  std::map<std::pair<std::string, std::string>, uint64_t> lastZoneResend_;
  std::map<std::string, uint64_t> lastRecordsFrom_;  // peer -> loop ms of its last RECORDS
  std::map<std::string, uint64_t> lastPullTo_;       // peer -> loop ms of our last PULL to it
  // Per zone: its digest as of the RecordSet's zoneGeneration (a catch-up
  // changes one zone; the others' digests are not recomputed).
  mutable std::map<std::string, std::pair<uint64_t, replication::ZoneDigest>, std::less<>> digestCache_;
  Timer antiEntropyTimer_;
  Timer reapTimer_;
  struct Stats {
    uint64_t published = 0, received = 0, stored = 0, replayed = 0, rolledBack = 0, rejected = 0,
             pulls = 0, acks = 0, zoneResends = 0, pullsSkipped = 0, checkedInline = 0, checkedInPool = 0,
             shardsSent = 0, shardsAccepted = 0, shardsRefused = 0, vouchedBySeal = 0;
  } stats_;
};

}  // namespace kith::daemon
