// DaemonMetrics: the collector that copies the numbers kithd's components
// already keep (registry, API server and service, local broker, policy, store,
// replicator, health) into the process's Metrics registry at every scrape.
// Hot-path counters that have no such home (bytes relayed, API errors by
// code) are pushed by their owners directly (metrics.h).
//
// Loop thread only: render() must be called on the loop thread (the `metrics`
// admin op and MetricsHttp both are). Destroy before the components it reads;
// the destructor removes the collector.
#pragma once

#include <cstdint>

#include "kith/daemon/api/api_server.h"
#include "kith/daemon/api/api_service.h"
#include "kith/daemon/observability/event_log.h"
#include "kith/daemon/observability/health.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/observability/metrics.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/daemon/store/store.h"

namespace kith::daemon {

struct DaemonMetricsSources {
  Registry& registry;
  ApiServer& server;
  ApiService& service;
  LocalBroker& broker;
  PolicyManager& policy;
  Store& store;
  EventLog& events;
  HealthMonitor& health;
  Replicator* replicator;  // may be null (replication off)
  TunnelBroker* tunnels = nullptr;  // may be null (tunnels off)
};

class DaemonMetrics {
 public:
  explicit DaemonMetrics(DaemonMetricsSources s);
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

 private:
  void collect();
  DaemonMetricsSources s_;
  uint64_t collector_ = 0;
};

}  // namespace kith::daemon
