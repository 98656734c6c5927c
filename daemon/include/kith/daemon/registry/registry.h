// Registry: the workloads registered with this daemon, and their leases.
//
// A registration is a lease (ARCHITECTURE.md, "Lifetimes"). It lives while the
// registering process lives AND either its API connection stays open or a
// heartbeat arrives within its TTL. It ends on process exit (pidfd readable,
// noticed at once), on lease expiry (one timer armed for the earliest
// deadline), or on deregister. Every registration is durable before it is
// acknowledged: the row goes through the Store's group commit and the reply
// waits for it.
//
// Tokens are 256 random bits handed to the client once; only their BLAKE2b hash
// is kept (and stored). A token is bound to the uid that registered.
//
// Time: leases are measured on the injected Clock's monotonic milliseconds
// (the lease timer wakes the loop near the earliest deadline and then asks
// the Clock), so a test moves a FakeClock and calls expireLeases() instead of
// sleeping.
//
// Threading: loop thread only. Ownership: the Registry owns Registrations and
// the per-process watches; it borrows the Loop, Store and Clock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry_event.h"
#include "kith/daemon/store/store.h"
#include "kith/policy/address.h"
#include "kith/policy/pattern.h"
#include "kith/socket-api/peer_cred.h"

namespace kith::daemon {

class ProcessWatch;

// What the kernel told us about an API caller when its connection was accepted.
struct Caller {
  api::PeerCred cred;
  uint64_t startTime = 0;  // of cred.pid, read at accept
  std::string exe;
  uint64_t connId = 0;     // the API connection (0: none)
};

struct Registration {
  WorkloadRow row;
  policy::Address address;
  std::vector<policy::Pattern> whitelist;
  std::shared_ptr<ProcessWatch> process;
  bool active = false;         // false while its first write is not yet durable
  uint64_t connId = 0;         // registering connection while open, else 0
  uint64_t leaseDeadline = 0;  // monotonic ms; meaningful while connId == 0
  uint64_t listenerConnId = 0; // connection that `listen`s for it, 0 if none

  bool hasTarget() const { return !row.target.empty(); }
  // The port a destination's policy rules see: its tcp target's port, if any.
  std::optional<uint16_t> targetPort() const;
};

struct RegisterRequest {
  std::string name;
  std::vector<std::string> whitelist;
  std::string target;
  bool proxyProtocol = false;
  std::vector<std::string> protocols;
  int64_t ttlMs = 0;  // 0: the configured default
  std::string app;
};

struct RegisterResult {
  std::string address;
  std::string spiffeId;
  std::string identityHash;  // hex
  std::string token;         // hex; the only copy the daemon ever hands out
  int64_t ttlMs = 0;
};

class Registry {
 public:
  struct Options {
    std::string machine;
    std::string trustDomain;
    std::string machineIdentity;  // node public key (hex) or machine name in tests
    int64_t defaultTtlMs = 30000;
    int64_t maxTtlMs = 3600000;
    size_t maxEndedTokens = 65536;  // remembered to tell TIMEOUT from INVALID_SOURCE
  };
  using Event = RegistryEvent;
  using WatchFn = std::function<void(const Event&)>;

  Registry(Loop& loop, Store& store, Options options, const Clock& clock = systemClock());
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Startup: loads stored registrations; keeps those whose process still lives
  // (same pid, start time and boot), giving them a fresh lease, and deletes the
  // rest. Call before serving.
  Status restore();

  // Validates synchronously: a non-ok Status means `done` is never called. On
  // ok, `done` runs exactly once: with the result once durable, or an error.
  // ORDER: watchers get the `register` event before `done` runs, so whatever
  // a watcher does with it (the replicator publishes the srv record) has
  // happened when the caller's reply is built — `replicate_wait_ms` waits for
  // acknowledgements of a record that is already out.
  Status registerWorkload(const Caller& caller, RegisterRequest req,
                          std::function<void(Result<RegisterResult>)> done);
  // Resolves a token presented by `uid`: INVALID_SOURCE (unknown or ended),
  // TIMEOUT (lease expired), UNAUTHORIZED (another uid).
  Result<Registration*> authenticate(const std::string& token, uid_t uid);
  Result<int64_t> heartbeat(const std::string& token, uid_t uid);
  // done runs once the removal is durable (synchronous errors: never called).
  Status deregister(const std::string& token, uid_t uid, std::function<void(Status)> done);

  const Registration* find(const std::string& address) const;
  Registration* findMutable(const std::string& address);
  // Active registrations matching a pattern, in address order.
  std::vector<const Registration*> match(const policy::Pattern& p) const;
  std::vector<const Registration*> all() const;
  size_t size() const { return byAddress_.size(); }

  // Ends every lease whose deadline has passed by the Clock (the lease timer
  // calls this; so may a test that moved a FakeClock).
  void expireLeases();
  // The Clock's monotonic milliseconds, the time leases are measured in.
  uint64_t nowMs() const { return static_cast<uint64_t>(clock_.monotonicMillis()); }

  // An API connection closed: its registrations start their TTL countdown and
  // lose their listener.
  void connectionClosed(uint64_t connId);
  Status setListener(Registration* r, uint64_t connId);

  // SIGHUP: new lease limits apply to registrations made from now on.
  void setLeaseLimits(int64_t defaultTtlMs, int64_t maxTtlMs) {
    opts_.defaultTtlMs = defaultTtlMs;
    opts_.maxTtlMs = maxTtlMs;
  }

  // Which events a watcher gets. Local events are this daemon's own
  // registrations; remote ones (they carry "machine") come from replication,
  // up to one per replicated record, so a watcher that ignores them says so
  // and a catch-up of many records builds no event nobody reads.
  enum Interest : uint8_t {
    kLocalEvents = 1,
    kRemoteRegisters = 2,
    kRemoteDeregisters = 4,
    kAllEvents = kLocalEvents | kRemoteRegisters | kRemoteDeregisters,
  };
  uint64_t addWatcher(WatchFn fn, uint8_t interest = kAllEvents);
  void removeWatcher(uint64_t id);
  // Whether any watcher wants remote events of this kind (kRemoteRegisters
  // or kRemoteDeregisters): the replicator asks before it builds one.
  bool wantsRemote(Interest kind) const;
  // Tells watchers about a registration change on another machine (the
  // replicator calls it); `ev.machine` names it.
  void notifyRemote(const Event& ev) { emit(ev); }

  struct Stats {
    uint64_t registered = 0, ended = 0, expired = 0, exited = 0;
  };
  const Stats& stats() const { return stats_; }

  // Ends every registration (drain on shutdown is not an end: nothing is
  // deleted, leases survive a daemon restart). Stops timers and watches.
  void shutdown();

 private:
  friend class ProcessWatch;

  std::string tokenKey(const Bytes& tokenHash) const;
  void end(const std::string& address, EndReason why, std::function<void(Status)> done);
  void onProcessExit(ProcessWatch* w);
  void armLeaseTimer();
  void setDeadline(Registration& r, uint64_t deadline);
  void clearDeadline(Registration& r);
  void emit(const Event& ev);
  std::shared_ptr<ProcessWatch> watchFor(pid_t pid, uint64_t startTime, Status* err);
  Bytes identityHash(const WorkloadRow& row, std::string_view scope) const;

  Loop& loop_;
  Store& store_;
  Options opts_;
  const Clock& clock_;
  std::string bootId_;
  std::map<std::string, std::unique_ptr<Registration>> byAddress_;
  std::unordered_map<std::string, std::string> byToken_;  // token hash (raw) -> address
  // Ended tokens: hash -> expired? (true: TIMEOUT, false: INVALID_SOURCE).
  std::unordered_map<std::string, bool> endedTokens_;
  std::deque<std::string> endedOrder_;
  std::set<std::pair<uint64_t, std::string>> deadlines_;
  std::map<std::pair<pid_t, uint64_t>, std::weak_ptr<ProcessWatch>> processes_;
  struct Watcher {
    // Shared, so emit() keeps a watcher that removes itself alive without
    // copying the function per event.
    std::shared_ptr<const WatchFn> fn;
    uint8_t interest = kAllEvents;
  };
  std::map<uint64_t, Watcher> watchers_;
  uint64_t nextWatcher_ = 1;
  int64_t seq_ = 0;
  Timer leaseTimer_;
  Timer livenessTimer_;  // fallback for platforms without pidfd
  Stats stats_;
  bool shutDown_ = false;
};

}  // namespace kith::daemon
