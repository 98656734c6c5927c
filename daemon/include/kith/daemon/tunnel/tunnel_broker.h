// TunnelBroker: `connect` between machines (docs/TUNNELS.md).
//
// Keeps at most a few long-lived mutual-TLS links (PeerLink) to the daemons of
// other machines — one per pair in the steady state: either side dials when it
// first needs the other, and a link serves streams both ways — and opens
// streams over them for the LocalBroker (RemoteOpener). Where a machine takes
// tunnels comes from its verified `infra` record (MachineDirectory).
//
// Source side: a stream opens only if this daemon's policy allows it (decided
// by the LocalBroker before it asks). Receiving side: the StreamAuthorizer
// decides with the link's certified machine (the source must belong to it)
// and this daemon's policy, the destination must be registered here; then
// the local server end is made exactly as for a local connect (ServerEnds).
//
// Failures: a machine that cannot be reached fails its connects with
// DESTINATION_UNREACHABLE (fast, during a redial backoff), and its records are
// re-checked (MachineDirectory::recheck). A link that dies closes its streams
// and is redialled with backoff. Policy reloads and deregistrations reset the
// streams they no longer allow, on either side.
//
// Start-up: the listening socket is bound first (bindTunnelListener), so that
// its endpoint can go into this machine's `infra` record before the broker
// that serves it exists. Loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/tls/tls_transport.h"
#include "kith/daemon/tunnel/peer_link.h"

namespace kith::daemon {

class MachineDirectory;
class Registry;
class RemoteDirectory;
class ServerEnds;
class StreamAuthorizer;

// The tunnel listener's socket, bound before the broker exists.
struct TunnelListener {
  UniqueFd fd;
  std::string endpoint;  // what other daemons dial ("127.0.0.1:40123"): advertise, else the bound address
  std::string bound;     // the address actually bound
};
// Binds `listen` (HOST:PORT, port 0: any); a wildcard address needs `advertise`.
Result<TunnelListener> bindTunnelListener(const std::string& listen, const std::string& advertise);

// What the tunnel broker works with; all must outlive it.
struct TunnelDeps {
  Registry& registry;
  ServerEnds& ends;
  StreamAuthorizer& authorizer;
  MachineDirectory& machines;
  const RemoteDirectory& remote;  // an outbound stream's destination, re-checked on policy swaps
  const Clock& clock;             // OPEN deadlines, redial backoff, stream ages
};

struct TunnelOptions {
  std::string machine;
  std::string listen;     // HOST:PORT to bind (port 0: any)
  std::string advertise;  // HOST:PORT published in our infra record; "" = the bound address
  TlsContext::Material tls;
  PeerLink::Options link;
  int64_t acceptTimeoutMs = 5000;  // the receiving side's dial of its local target
};

class TunnelBroker : public RemoteOpener, public PeerLink::Owner {
 public:
  // One stream through a link, as `kithctl` and policy re-checks see it.
  struct StreamInfo {
    uint64_t link = 0;
    uint32_t stream = 0;
    std::string src, dst, proto, peer;
    bool outbound = true;  // we opened it (the caller is local)
    int64_t openedAt = 0;  // µs since the epoch
  };

  // Serves `listener` (from bindTunnelListener).
  static Result<std::unique_ptr<TunnelBroker>> create(Loop& loop, TunnelDeps deps, TunnelListener listener,
                                                      TunnelOptions opts);
  ~TunnelBroker() override;

  // A rotated node identity: links made from now on use it (open links keep
  // the certificate they were made with until they close).
  Status setTls(const TlsContext::Material& m);
  // What other daemons dial ("127.0.0.1:40123").
  const std::string& endpoint() const { return endpoint_; }

  void open(const std::string& machine, const std::string& dst, const StreamOrigin& origin,
            const std::string& proto, int64_t timeoutMs, Done done) override;

  // Re-decides every open stream under the current policy; resets the denied
  // and returns how many.
  size_t revalidate();
  void closeStreamsOf(const std::string& address, const std::string& why);
  // Closes every link (drain); idempotent.
  void closeAll();

  std::vector<StreamInfo> streams() const;
  // Machines whose link died and is being redialled: machine -> why it died.
  std::map<std::string, std::string> redialling() const;
  size_t openStreams() const { return streams_.size(); }
  nlohmann::json linksJson() const;
  nlohmann::json statsJson() const;

  // PeerLink::Owner
  void linkUp(PeerLink& link) override;
  void linkDown(PeerLink& link, const Status& why) override;
  void openRequested(PeerLink& link, uint32_t stream, OpenPayload open) override;
  void streamEnded(PeerLink& link, uint32_t stream, const std::string& why) override;

 private:
  struct PendingOpen {
    std::string dst;
    StreamOrigin origin;
    std::string proto;
    int64_t timeoutMs = 0;
    int64_t deadlineMs = 0;
    Done done;
  };
  struct Machine {
    uint64_t link = 0;     // an up link to it (0: none)
    uint64_t dialing = 0;  // our dial in progress (0: none)
    std::vector<PendingOpen> waiting;
    int failures = 0;      // consecutive failed dials
    int64_t retryAtMs = 0;
    bool redial = false;   // a used link died and is being restored: the sweep
                           // dials at retryAtMs, each failure schedules the
                           // next, up to kMaxRedials
    std::string lastError;
  };
  using Key = std::pair<uint64_t, uint32_t>;  // (link, stream)

  TunnelBroker(Loop& loop, TunnelDeps deps, TunnelListener listener, TunnelOptions opts);
  Status listen();
  void onAccept();
  void dial(const std::string& machine);
  void startOpen(PeerLink& link, PendingOpen p);
  void sweep();
  PeerLink* findLink(uint64_t id);
  void unreachable(const std::string& machine, const std::string& why);
  int64_t nowMs() const { return deps_.clock.monotonicMillis(); }

  Loop& loop_;
  TunnelDeps deps_;
  TunnelOptions opts_;
  std::shared_ptr<const TlsContext> tls_;
  UniqueFd listenFd_;
  std::unique_ptr<Poll> listenPoll_;
  std::string endpoint_;
  std::string boundAt_;  // the address bound (endpoint_ may be the advertised one)
  uint64_t nextLink_ = 1;
  std::map<uint64_t, std::unique_ptr<PeerLink>> links_;
  std::map<std::string, Machine> machines_;
  std::map<Key, int64_t> opening_;  // our OPENs awaiting an answer -> deadline
  std::map<Key, StreamInfo> streams_;
  Timer sweepTimer_;
  Timer acceptRetry_;
  bool closed_ = false;
  struct Stats {
    uint64_t opens = 0, opened = 0, refusedHere = 0, acceptedHere = 0, unreachable = 0, dials = 0,
             dialFailures = 0, accepts = 0, revoked = 0;
  } stats_;
};

// Parses "HOST:PORT" / "[V6]:PORT" with a numeric host (or "localhost").
Result<std::pair<sockaddr_storage, socklen_t>> parseEndpoint(const std::string& text);

}  // namespace kith::daemon
