// Daemon: composes kithd's parts for one machine — store, registry, API
// server, service, local broker, event window — over one Loop.
//
// Lifecycle: create() opens the store and restores registrations; start()
// binds the sockets; drain() (SIGTERM) stops accepting, closes connections,
// flushes the store and lets the loop end. Registrations are NOT ended by a
// drain: they are leases held in the store and survive a daemon restart.
// Loop thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "kith/common/status.h"
#include "kith/daemon/api/admin_ops.h"
#include "kith/daemon/api/api_server.h"
#include "kith/daemon/api/api_service.h"
#include "kith/daemon/broker/server_ends.h"
#include "kith/daemon/policy/stream_authorizer.h"
#include "kith/daemon/observability/daemon_metrics.h"
#include "kith/daemon/observability/health.h"
#include "kith/daemon/observability/metrics_http.h"
#include "kith/daemon/observability/event_log.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/identity/node_credentials.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/store/store.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/daemon/broker/upstream.h"
#include "kith/daemon/identity/svid_service.h"
#include "kith/daemon/vhost/vhost_service.h"

namespace kith::daemon {

struct DaemonOptions {
  std::string machine;
  std::string trustDomain;
  std::string machineIdentity;  // node public key hex
  std::string runDir;           // sockets and one-shot stream sockets
  std::string apiSocket;
  std::string adminSocket;
  std::optional<gid_t> adminGroup;
  std::string storePath;
  size_t maxConnections = 16384;
  int64_t defaultTtlMs = 30000;
  int64_t maxTtlMs = 3600000;
  std::string policyFile;     // "" = whitelists within a scope decide
  bool localHandoff = false;  // see LocalBroker
  // Replication (docs/REPLICATION.md), when configured: needs the node key.
  std::optional<ReplicatorOptions> replication;
  std::optional<identity::SigningKey> nodeKey;
  // Tunnels to other machines ([broker] listen), when configured.
  std::optional<TunnelOptions> tunnels;
  std::vector<UpstreamOptions> upstreams;
  // The node identity (nullptr: none, then no `svid` op and no rotation);
  // `nodeDir` is watched for a rotated identity every `nodeWatchMs` and on
  // checkNodeIdentity() (SIGHUP).
  std::shared_ptr<const NodeSnapshot> node;
  std::string nodeDir;
  uint64_t nodeWatchMs = 10000;
  int64_t svidTtlSec = 3600;
  // FOKS virtual hosts: where host directories live, and the listeners
  // ("" = off). Host admin ops work without listeners.
  VhostServiceOptions vhost;
  // Observability (issue 7): certificates the health monitor watches, the
  // optional Prometheus HTTP listener, how often health is checked (the
  // certificates are those of `nodeDir` above).
  std::string metricsListen;  // "" = off
  bool metricsAllowNonLoopback = false;
  uint64_t healthIntervalMs = 60000;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> create(Loop& loop, DaemonOptions opts);
  ~Daemon();

  Status start();
  // Graceful stop; idempotent.
  void drain();
  // Re-reads the policy file (SIGHUP, `policy.reload`); the old policy stays
  // on failure.
  Status reloadPolicy();

  Registry& registry() { return *registry_; }
  LocalBroker& broker() { return *broker_; }
  ApiService& service() { return *service_; }
  PolicyManager& policy() { return *policy_; }
  Replicator* replicator() { return replicator_.get(); }
  TunnelBroker* tunnels() { return tunnels_.get(); }
  // The node identity in use now (nullptr without one); see NodeCredentials.
  NodeCredentials* credentials() { return creds_.get(); }
  // SIGHUP: picks up a rotated node identity at once.
  void checkNodeIdentity();
  const DaemonOptions& options() const { return opts_; }

 private:
  Daemon(Loop& loop, DaemonOptions opts);

  Loop& loop_;
  DaemonOptions opts_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<PolicyManager> policy_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<StreamAuthorizer> authorizer_;
  std::unique_ptr<ServerEnds> ends_;
  std::unique_ptr<LocalBroker> broker_;
  std::unique_ptr<AdminOps> admin_;
  std::unique_ptr<ApiService> service_;
  std::unique_ptr<VhostService> vhost_;
  std::unique_ptr<Replicator> replicator_;
  std::unique_ptr<TunnelBroker> tunnels_;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::unique_ptr<NodeCredentials> creds_;
  std::unique_ptr<SvidService> svids_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<DaemonMetrics> metrics_;
  std::unique_ptr<MetricsHttp> metricsHttp_;
  bool drained_ = false;
};

}  // namespace kith::daemon
