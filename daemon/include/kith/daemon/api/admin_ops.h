// AdminOps: the operator's ops, answered on admin.sock only (ApiService
// refuses them on api.sock with UNAUTHORIZED): `workloads`, `events`,
// `policy.check`, `policy.reload`, `streams`, `peers`, `records`, `metrics`,
// and the `host.*` / `vhost.*` ops, which VhostService answers.
// Loop thread only; borrows everything in AdminDeps.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "kith/daemon/api/api_connection.h"

namespace kith::daemon {

class EventLog;
class LocalBroker;
class MetricsHttp;
class PolicyManager;
class Registry;
class Replicator;
class TunnelBroker;
class VhostService;

struct AdminDeps {
  Loop& loop;
  Registry& registry;
  EventLog& events;
  PolicyManager& policy;
  LocalBroker& broker;
  TunnelBroker* tunnels = nullptr;     // null: tunnels off
  Replicator* replicator = nullptr;    // null: replication off
  VhostService* vhost = nullptr;       // null: no host admin
  MetricsHttp* metricsHttp = nullptr;  // null: no HTTP listener
  std::string machine;
};

class AdminOps {
 public:
  explicit AdminOps(AdminDeps deps) : d_(std::move(deps)) {}

  bool handles(const std::string& op) const;
  // Answers `op` (one handles() accepted) through `r`, exactly once.
  void handle(ApiConnection& c, const std::string& op, const nlohmann::json& req, Reply r);

 private:
  void opWorkloads(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opEvents(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPolicyCheck(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPolicyReload(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opStreams(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opPeers(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opRecords(ApiConnection& c, const nlohmann::json& req, Reply r);
  void opMetrics(ApiConnection& c, const nlohmann::json& req, Reply r);
  size_t openStreams() const;

  AdminDeps d_;
};

}  // namespace kith::daemon
