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
// Whether a stream may open is the StreamAuthorizer's decision; the server's
// end of a local stream is made by ServerEnds (a listener's `incoming` event,
// or a dialled target). `mode:"path"` gives the caller a one-shot Unix socket
// (0600, its uid) whose accepted connection is relayed.
//
// Destinations on other machines (a RemoteDirectory: the replicated srv
// records) go through a RemoteOpener — the TunnelBroker — which opens a
// stream over the mTLS link to that machine's daemon; the caller's end is
// delivered the same way (fd or path). A pattern destination picks among the
// allowed matches, local and remote, round-robin, and fails over to the next
// on any refusal.
//
// Callback contract: connect() validates synchronously and calls `done`
// exactly once, maybe before it returns. Loop thread only; borrows what it is
// given, which must outlive it (the Daemon owns them all).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/broker/pump.h"
#include "kith/daemon/broker/server_ends.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class Registry;
class RemoteDirectory;
class StreamAuthorizer;
struct Registration;

// Where a remote stream opened: the tunnel link and its stream number, as
// `kithctl streams` lists them.
struct RemoteStreamId {
  uint64_t link = 0;
  uint32_t stream = 0;
};

// Opens streams to workloads on other machines (TunnelBroker).
class RemoteOpener {
 public:
  // Binds the daemon's end of the caller's stream to the opened remote stream;
  // an empty descriptor abandons it (the caller never took it).
  using Attach = std::function<void(UniqueFd daemonEnd)>;
  using Done = std::function<void(Status, Attach, RemoteStreamId)>;
  virtual ~RemoteOpener() = default;
  // Opens `dst` on `machine` for `origin`. `done` runs exactly once (maybe
  // before open() returns): ok with an Attach, or the reason it failed.
  virtual void open(const std::string& machine, const std::string& dst, const StreamOrigin& origin,
                    const std::string& proto, int64_t timeoutMs, Done done) = 0;
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

// What a connect that succeeded gives its caller (the `connect` reply).
struct ConnectResult {
  std::string destination;  // the address that took the stream
  std::string spiffeId;     // its SPIFFE ID
  std::string machine;      // where it runs ("" = this machine)
  uint64_t stream = 0;      // `kithctl streams`' id (a tunnel stream's number for a remote one)
  uint64_t link = 0;        // the tunnel link of a remote stream (0: local)
  std::string path;         // mode "path": the one-shot socket to connect to
  UniqueFd callerEnd;       // mode "fd": the caller's end (blocking), unless the request brought one
};

class LocalBroker {
 public:
  struct Options {
    std::string machine;
    std::string trustDomain;  // a remote destination's SPIFFE ID
    std::string streamsDir;   // where one-shot path sockets are made
    bool handoff = false;     // hand descriptors over instead of relaying
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
  using Done = std::function<void(Status, ConnectResult)>;

  // `remote` and `opener` may be null: no replication, or no tunnels.
  LocalBroker(Loop& loop, Registry& registry, ServerEnds& ends, StreamAuthorizer& authorizer,
              const RemoteDirectory* remote, RemoteOpener* opener, Options opts,
              const Clock& clock = systemClock());
  ~LocalBroker();

  // A stream from the workload `src` (registered by `uid`) to the request's
  // destination. Synchronous refusals (BAD_REQUEST, DESTINATION_NOT_FOUND,
  // UNAUTHORIZED, CANNOT_CONNECT) also arrive through `done`.
  void connect(const Registration& src, uid_t uid, ConnectRequest req, Done done);
  // Re-decides every open stream under the current policy; closes the denied
  // and returns how many it closed.
  size_t revalidate();
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
  class PathRelay;
  struct Candidate {
    std::string address;
    std::string machine;  // empty: this machine
  };
  void tryNext(std::shared_ptr<Attempt> a);
  void tryLocal(std::shared_ptr<Attempt> a, const Candidate& c);
  void tryRemote(std::shared_ptr<Attempt> a, const Candidate& c);
  // Gives the caller its end (fd or path mode) and `attach` the daemon's end.
  void handToCaller(std::shared_ptr<Attempt> a, ConnectResult result, std::function<void(UniqueFd)> attach);
  void startRelay(StreamInfo info, UniqueFd a, UniqueFd b);
  void endStream(uint64_t id, const std::string& why);
  void finishJob(uint64_t id);

  Loop& loop_;
  Registry& registry_;
  ServerEnds& ends_;
  StreamAuthorizer& authorizer_;
  const RemoteDirectory* remote_;
  RemoteOpener* opener_;
  Options opts_;
  const Clock& clock_;
  Stats stats_;
  uint64_t rr_ = 0;
  uint64_t nextStream_ = 1;
  uint64_t nextJob_ = 1;
  std::map<uint64_t, std::unique_ptr<DeferredDeletable>> jobs_;
  std::map<uint64_t, Stream> streams_;
};

}  // namespace kith::daemon
