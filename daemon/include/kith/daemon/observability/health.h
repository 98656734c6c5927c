// HealthMonitor: decides whether the daemon is healthy and tells the operator,
// through the event stream (`kithctl events`), what needs a human and what the
// daemon is already handling by itself.
//
// Every `intervalMs` (and on check()) it evaluates conditions, each with a
// stable id:
//  - action-required (a human must act): a certificate in the node directory
//    that expires within 30 days or has expired ("certificate:node.crt"); a
//    policy file whose last reload was rejected ("policy"); store writes that
//    failed since the last check (disk full, read-only state directory:
//    "storage").
//  - working-on-it (degraded, handled automatically): a replication peer link
//    down and being redialled ("peer:MACHINE"); a tunnel link that died and is
//    being redialled ("tunnel:MACHINE"); accepting paused because the
//    process ran out of descriptors ("accept").
// Events (log records of module "health"):
//  - `"action-required": {"id","what","do"}` at every check while it holds,
//    then `"action-required": null` (with "id") once when it clears;
//  - `"working-on-it": {"id","what"}` when it starts, `"working-on-it": null`
//    once when it ends;
//  - `"health": true|false` at start and whenever it changes; healthy means
//    no condition of either kind holds.
// Loop thread only; borrows everything it reads, and must be destroyed before
// it (the Daemon owns it).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/daemon/api/api_server.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/daemon/store/store.h"

namespace kith::daemon {

struct HealthOptions {
  std::string nodeDir;          // node.crt, node-ca.crt, ca.crt ("" = none to watch)
  uint64_t intervalMs = 60000;  // [health] interval_ms
  int64_t warnBeforeSeconds = 30 * 86400;
};

class HealthMonitor {
 public:
  // `replicator` and `tunnels` may be null (off).
  HealthMonitor(Loop& loop, PolicyManager& policy, ApiServer& server, Store& store, Replicator* replicator,
                TunnelBroker* tunnels, HealthOptions opts);
  ~HealthMonitor();

  // Checks now and then every intervalMs.
  void start();
  void check();

  bool healthy() const { return conditions_.empty(); }
  // {"healthy":bool,"action_required":[...],"working_on_it":[...]} (status op).
  nlohmann::json json() const;
  // Certificate file -> notAfter (Unix seconds), as of the last check.
  const std::map<std::string, int64_t>& certExpiry() const { return certExpiry_; }

 private:
  struct Condition {
    bool actionRequired = false;  // else working-on-it
    nlohmann::json detail;        // {"id","what","do"?}
  };
  void evaluate(std::map<std::string, Condition>* out);

  Loop& loop_;
  PolicyManager& policy_;
  ApiServer& server_;
  Store& store_;
  Replicator* replicator_;
  TunnelBroker* tunnels_;
  HealthOptions opts_;
  Timer timer_;
  std::map<std::string, Condition> conditions_;
  std::map<std::string, int64_t> certExpiry_;
  uint64_t lastBackoffs_ = 0;
  uint64_t lastOpsFailed_ = 0;
  uint64_t lastOpsCommitted_ = 0;
  bool storageFailing_ = false;
  bool started_ = false;
  bool lastHealthy_ = true;
};

}  // namespace kith::daemon
