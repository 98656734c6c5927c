// ApiService: what each socket-API op does. It validates the request's fields,
// calls into the Registry / LocalBroker / EventLog, and answers through the
// Reply (always exactly once). Admin ops are refused on api.sock.
// Loop thread only; borrows everything it uses.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/api/api_server.h"
#include "kith/daemon/observability/event_log.h"
#include "kith/daemon/observability/health.h"
#include "kith/daemon/observability/metrics_http.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/daemon/identity/svid_service.h"
#include "kith/daemon/vhost/vhost_service.h"

namespace kith::daemon {

struct ServiceInfo {
  std::string machine;
  std::string trustDomain;
  int64_t startedMonoMs = 0;
};

class ApiService {
 public:
  ApiService(Loop& loop, Registry& registry, LocalBroker& broker, EventLog& events, PolicyManager& policy,
             ServiceInfo info);
  ~ApiService();

  void setServer(ApiServer* server) { server_ = server; }
  void setReplicator(Replicator* r) { replicator_ = r; }
  void setTunnels(TunnelBroker* t) { tunnels_ = t; }
  void setSvids(SvidService* s) { svids_ = s; }
  void setVhost(VhostService* v) { vhost_ = v; }
  // `metrics` and the health part of `status` (either may be null).
  void setObservability(HealthMonitor* h, MetricsHttp* http) {
    health_ = h;
    metricsHttp_ = http;
  }
  void handle(ApiConnection& conn, nlohmann::json req, Reply reply);
  void connectionClosed(ApiConnection& conn);

  struct Stats {
    uint64_t requests = 0;
    std::map<std::string, uint64_t> errorsByCode;
  };
  const Stats& stats() const { return stats_; }

 private:
  void opHello(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opRegister(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opHeartbeat(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opDeregister(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opResolve(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opList(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opStatus(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opWatch(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opListen(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opConnect(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opWorkloads(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opEvents(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPolicyCheck(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPolicyReload(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opStreams(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPeers(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opRecords(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opSvid(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opMetrics(ApiConnection& c, const nlohmann::json& req, Reply r);
  // Local and (with replication) remote workloads matching a pattern.
  nlohmann::json matchAll(const policy::Pattern& p) const;

  Loop& loop_;
  Registry& registry_;
  LocalBroker& broker_;
  EventLog& events_;
  PolicyManager& policy_;
  ServiceInfo info_;
  ApiServer* server_ = nullptr;
  Replicator* replicator_ = nullptr;
  TunnelBroker* tunnels_ = nullptr;
  SvidService* svids_ = nullptr;
  VhostService* vhost_ = nullptr;  // host.* and vhost.* admin ops
  HealthMonitor* health_ = nullptr;
  MetricsHttp* metricsHttp_ = nullptr;
  Stats stats_;
  std::map<uint64_t, std::unique_ptr<Timer>> waits_;  // resolve wait_ms timers
  uint64_t nextWait_ = 1;
};

}  // namespace kith::daemon
