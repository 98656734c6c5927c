// LocalBroker: `connect` between workloads on this machine.
//
// Data path. By default every stream is RELAYED by the daemon (a Pump between
// the caller's end and the server's end) so that it stays under the daemon's
// control: a policy reload that forbids it, or the deregistration of either
// side, closes it (logged with both identities and the rule). With
// `handoff` on (config [broker] local_handoff) the daemon instead hands the
// server's end straight to the caller — zero copies, but such streams cannot
// be revoked once open.
//
// The server end is: for a workload that `listen`s through libkith, one end
// of a socketpair whose other end goes to it in an `incoming` event naming the
// caller; for a `target`, a socket the daemon dials itself (after an optional
// PROXY v2 header naming the caller). UDP uses SOCK_SEQPACKET pairs, so message
// boundaries survive. `mode:"path"` gives the caller a one-shot Unix socket
// (0600, its uid) whose accepted connection is relayed.
//
// Destinations on other machines (known from replicated srv records) go
// through a RemoteOpener — the TunnelBroker — which opens a stream over the
// mTLS link to that machine's daemon; the caller's end is delivered the same
// way (fd or path). A pattern destination picks among the allowed matches,
// local and remote, round-robin, and fails over to the next on CANNOT_CONNECT
// or DESTINATION_UNREACHABLE. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/api/api_server.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/broker/pump.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"

namespace kith::daemon {

// Who asks for a stream, as the server side is told (PROXY v2 TLVs, the
// `incoming` event of a listener).
struct StreamOrigin {
  std::string address;
  std::string spiffeId;
  // The opener writes its own PROXY v2 header as the stream's first bytes
  // (the vhost listener, whose TLVs name the host and the client): no daemon
  // writes the registration's header, here or across a tunnel (OPEN "raw").
  bool raw = false;
};

// Opens streams to workloads on other machines (TunnelBroker).
class RemoteOpener {
 public:
  // Binds the daemon's end of the caller's stream to the opened remote stream;
  // an empty descriptor abandons it (the caller never took it).
  using Attach = std::function<void(UniqueFd daemonEnd)>;
  virtual ~RemoteOpener() = default;
  // Opens `dst` on `machine` for `origin`. `done` runs exactly once (maybe
  // before open() returns): ok with an Attach, or the reason it failed.
  virtual void open(const std::string& machine, const std::string& dst, const StreamOrigin& origin,
                    const std::string& proto, int64_t timeoutMs, std::function<void(Status, Attach)> done) = 0;
};

struct ConnectRequest {
  std::string destination;  // address or pattern
  std::string proto = "tcp";
  std::string mode = "fd";  // "fd" | "path"
  int64_t timeoutMs = 5000;
  // The caller's end of the stream when it exists already (a connection
  // accepted by an [[upstream]] listener): it is joined to the destination
  // instead of a new socketpair, and nothing is handed back.
  UniqueFd callerFd;
  // See StreamOrigin::raw.
  bool raw = false;
};

class LocalBroker {
 public:
  struct Options {
    std::string streamsDir;  // where one-shot path sockets are made
    bool handoff = false;    // hand descriptors over instead of relaying
  };
  struct Stats {
    uint64_t connects = 0, denied = 0, failed = 0, relayed = 0, handedOff = 0, revoked = 0, remote = 0;
  };
  // One relayed stream, as `kithctl` and policy re-checks see it.
  struct StreamInfo {
    uint64_t id = 0;
    std::string src, dst, proto;
    std::optional<uint16_t> port;
    int64_t openedAt = 0;  // µs since the epoch
  };

  LocalBroker(Loop& loop, Registry& registry, ApiServer& server, PolicyManager& policy, Options opts);
  ~LocalBroker();

  void connect(const Registration& src, const Caller& caller, ConnectRequest req, Reply reply);
  // The same for callers inside the daemon: `done` runs exactly once with the
  // reply's fields and the caller's end (none in path mode or with callerFd).
  using Done = std::function<void(Status, nlohmann::json fields, UniqueFd callerEnd)>;
  void connectFor(const Registration& src, uid_t uid, ConnectRequest req, Done done);
  // The server end of a stream to the local workload `dst` for `origin`: a
  // listener gets an `incoming` event, a target is dialled (PROXY v2 header
  // first when it asked, unless `origin.raw`). `done` runs exactly once,
  // maybe before this returns; the server end it gets is non-blocking.
  void openLocal(const std::string& dst, const StreamOrigin& origin, const std::string& proto, int64_t timeoutMs,
                 std::function<void(Status, UniqueFd serverEnd)> done);
  // Remote destinations: where they are found (the Replicator's srv records)
  // and how streams to them are opened (null: tunnels are off).
  void setRemote(std::function<std::vector<RemoteWorkload>(const policy::Pattern&)> match, RemoteOpener* opener) {
    remoteMatch_ = std::move(match);
    remote_ = opener;
  }
  // Re-decides every open stream under the current policy; closes the denied.
  void revalidate();
  // Closes every stream from or to `address` (it deregistered).
  void closeStreamsOf(const std::string& address, const std::string& why);
  // Closes every stream (drain).
  void closeAll();

  std::vector<StreamInfo> streams() const;
  size_t openStreams() const { return streams_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Attempt;
  struct Stream {
    StreamInfo info;
    std::unique_ptr<Pump> pump;
  };
  class Dial;
  class PathRelay;
  struct Candidate {
    std::string address;
    std::string machine;  // empty: this machine
  };
  void tryNext(std::shared_ptr<Attempt> a);
  void tryRemote(std::shared_ptr<Attempt> a, const Candidate& c);
  void dialTarget(const Registration& dst, const StreamOrigin& origin, int64_t timeoutMs,
                  std::function<void(Status, UniqueFd)> done);
  // Gives the caller its end (fd or path mode) and `attach` the daemon's end.
  void handToCaller(std::shared_ptr<Attempt> a, nlohmann::json fields, std::function<void(UniqueFd)> attach);
  void startRelay(StreamInfo info, UniqueFd a, UniqueFd b);
  void endStream(uint64_t id, const std::string& why);
  void finishJob(uint64_t id);

  Loop& loop_;
  Registry& registry_;
  ApiServer& server_;
  PolicyManager& policy_;
  Options opts_;
  std::function<std::vector<RemoteWorkload>(const policy::Pattern&)> remoteMatch_;
  RemoteOpener* remote_ = nullptr;
  Stats stats_;
  uint64_t rr_ = 0;
  uint64_t nextStream_ = 1;
  uint64_t nextJob_ = 1;
  std::map<uint64_t, std::unique_ptr<DeferredDeletable>> jobs_;
  std::map<uint64_t, Stream> streams_;
};

// A unix target must be served by the uid that registered it (root excepted):
// CANNOT_CONNECT otherwise. `connectedFd` is the daemon's connection to it.
Status checkTargetOwner(const Registration& dst, int connectedFd);

// The port a destination's policy rules see: its tcp target's port, if any.
std::optional<uint16_t> targetPort(const Registration& r);

}  // namespace kith::daemon
