// ApiService: what each socket-API op does. It validates the request's fields,
// calls into the Registry / LocalBroker / SvidService, and answers through the
// Reply (always exactly once). The operator's ops are AdminOps', answered on
// admin.sock only; on api.sock they are UNAUTHORIZED.
// Loop thread only; borrows everything in ApiServiceDeps.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/daemon/api/api_server.h"
#include "kith/policy/pattern.h"

namespace kith::daemon {

class AdminOps;
class HealthMonitor;
class LocalBroker;
class PolicyManager;
class Registry;
class Replicator;
class SvidService;
class TunnelBroker;

struct ServiceInfo {
  std::string machine;
  std::string trustDomain;
  int64_t startedMonoMs = 0;
};

struct ApiServiceDeps {
  Loop& loop;
  Registry& registry;
  LocalBroker& broker;
  PolicyManager& policy;
  const ApiServer& server;              // connection counts (status)
  AdminOps& admin;
  Replicator* replicator = nullptr;     // null: replication off
  TunnelBroker* tunnels = nullptr;      // null: tunnels off
  SvidService* svids = nullptr;         // null: no node identity
  const HealthMonitor* health = nullptr;
};

class ApiService : public RequestHandler {
 public:
  ApiService(ApiServiceDeps deps, ServiceInfo info);
  ~ApiService() override;

  void handle(ApiConnection& conn, nlohmann::json req, Reply reply) override;
  void connectionClosed(ApiConnection& conn) override;

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
  void opSvid(ApiConnection& c, const nlohmann::json& req, Reply r);
  // Local and (with replication) remote workloads matching a pattern.
  nlohmann::json matchAll(const policy::Pattern& p) const;

  ApiServiceDeps d_;
  ServiceInfo info_;
  Stats stats_;
  std::map<uint64_t, std::unique_ptr<Timer>> waits_;  // resolve wait_ms timers
  uint64_t nextWait_ = 1;
};

}  // namespace kith::daemon
