#include "kith/daemon/observability/health.h"

#include <fstream>
#include <sstream>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/identity/cert.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "health";
constexpr const char* kCertFiles[] = {"node.crt", "node-ca.crt", "ca.crt"};

bool readFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

HealthMonitor::HealthMonitor(Loop& loop, PolicyManager& policy, ApiServer& server, Store& store,
                             Replicator* replicator, TunnelBroker* tunnels, HealthOptions opts)
    : loop_(loop), policy_(policy), server_(server), store_(store), replicator_(replicator), tunnels_(tunnels),
      opts_(std::move(opts)), timer_(loop) {}

HealthMonitor::~HealthMonitor() { timer_.stop(); }

void HealthMonitor::start() {
  lastBackoffs_ = server_.acceptBackoffs();
  lastOpsFailed_ = store_.stats().opsFailed;
  check();
  timer_.start(opts_.intervalMs, opts_.intervalMs, [this] { check(); });
  timer_.unref();
}

void HealthMonitor::evaluate(std::map<std::string, Condition>* out) {
  int64_t now = systemClock().nowMicros() / 1000000;
  certExpiry_.clear();
  if (!opts_.nodeDir.empty()) {
    for (const char* file : kCertFiles) {
      std::string path = opts_.nodeDir + "/" + file;
      std::string pem;
      if (!readFile(path, &pem)) continue;  // node-ca.crt is optional; doctor reports missing ones
      auto info = identity::parseCertificatePem(pem);
      if (!info.isOk()) {
        (*out)["certificate:" + std::string(file)] = {
            true, {{"id", "certificate:" + std::string(file)},
                   {"what", path + " cannot be parsed: " + info.status().message()},
                   {"do", "re-issue the node identity (kithctl ca issue-node) and restart kithd"}}};
        continue;
      }
      certExpiry_[file] = info->notAfter;
      int64_t left = info->notAfter - now;
      if (left >= opts_.warnBeforeSeconds) continue;
      std::string when = formatSecondsIso(info->notAfter);
      std::string what = left <= 0 ? path + " expired at " + when
                                   : path + " expires at " + when + " (in " + std::to_string(left / 86400) +
                                         " days)";
      (*out)["certificate:" + std::string(file)] = {
          true, {{"id", "certificate:" + std::string(file)},
                 {"what", what},
                 {"not_after", info->notAfter},
                 {"do", std::string(file) == "ca.crt"
                            ? "make a new CA (kithctl ca init) and re-issue every node before this date"
                            : "renew: kithctl ca issue-node MACHINE --ca CA_DIR --out " + opts_.nodeDir +
                                  " and restart kithd (kithd --dev renews by itself at start)"}}};
    }
  }
  if (!policy_.lastError().empty()) {
    (*out)["policy"] = {true,
                        {{"id", "policy"},
                         {"what", "policy file " + policy_.file() +
                                      " was rejected; the previous policy stays in force: " + policy_.lastError()},
                         {"do", "kithctl policy test " + policy_.file() + ", fix what it reports, then "
                                                                            "kithctl policy reload"}}};
  }
  auto st = store_.stats();
  if (st.opsFailed > lastOpsFailed_) {
    storageFailing_ = true;
    lastOpsCommitted_ = st.opsCommitted;
  } else if (st.opsCommitted > lastOpsCommitted_) {
    storageFailing_ = false;
  }
  lastOpsFailed_ = st.opsFailed;
  if (storageFailing_) {
    (*out)["storage"] = {true,
                         {{"id", "storage"},
                          {"what", std::to_string(st.opsFailed) +
                                       " state database writes failed since start (disk full? read-only "
                                       "state directory?); registrations are refused with INTERNAL"},
                          {"do", "free space on or remount read-write the filesystem of the state "
                                 "directory; kithd retries with the next write"}}};
  }
  uint64_t backoffs = server_.acceptBackoffs();
  if (backoffs > lastBackoffs_) {
    (*out)["accept"] = {false,
                        {{"id", "accept"},
                         {"what", "out of file descriptors: " + std::to_string(backoffs - lastBackoffs_) +
                                      " accept pause(s) of 100 ms since the last check; retrying"}}};
  }
  lastBackoffs_ = backoffs;
  if (replicator_) {
    for (const auto& p : replicator_->peersJson()) {
      if (p.value("state", "") == "up") continue;
      std::string m = p.value("machine", std::string("?"));
      (*out)["peer:" + m] = {false,
                             {{"id", "peer:" + m},
                              {"what", "replication link to " + m + " (" + p.value("endpoint", std::string()) +
                                           ") is down; redialling"}}};
    }
  }
  if (tunnels_) {
    for (const auto& [m, why] : tunnels_->redialling()) {
      (*out)["tunnel:" + m] = {false,
                               {{"id", "tunnel:" + m},
                                {"what", "tunnel link to " + m + " lost (" + why + "); redialling with backoff"}}};
    }
  }
}

void HealthMonitor::check() {
  std::map<std::string, Condition> now;
  evaluate(&now);
  for (const auto& [id, c] : conditions_) {
    if (now.count(id)) continue;
    const char* key = c.actionRequired ? "action-required" : "working-on-it";
    log::info(kMod, c.actionRequired ? "action no longer required" : "no longer working on it",
              {{key, nullptr}, {"id", id}});
  }
  for (const auto& [id, c] : now) {
    bool fresh = conditions_.count(id) == 0;
    if (c.actionRequired) {
      // Repeated at every check while it holds: a human must see it.
      log::warn(kMod, "action required: " + c.detail.value("what", id), {{"action-required", c.detail}});
    } else if (fresh) {
      log::info(kMod, "working on it: " + c.detail.value("what", id), {{"working-on-it", c.detail}});
    }
  }
  conditions_ = std::move(now);
  bool h = healthy();
  if (!started_ || h != lastHealthy_) {
    if (h) log::info(kMod, "healthy", {{"health", true}});
    else log::warn(kMod, "degraded", {{"health", false}, {"conditions", conditions_.size()}});
  }
  started_ = true;
  lastHealthy_ = h;
}

nlohmann::json HealthMonitor::json() const {
  nlohmann::json ar = nlohmann::json::array(), wo = nlohmann::json::array();
  for (const auto& [id, c] : conditions_) (c.actionRequired ? ar : wo).push_back(c.detail);
  return {{"healthy", healthy()}, {"action_required", ar}, {"working_on_it", wo}};
}

}  // namespace kith::daemon
