#include "kith/daemon/api/admin_ops.h"

#include "kith/common/encoding.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/observability/event_log.h"
#include "kith/daemon/observability/metrics.h"
#include "kith/daemon/observability/metrics_http.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/daemon/vhost/vhost_service.h"
#include "kith/socket-api/protocol.h"
#include "op_fields.h"

namespace kith::daemon {

using nlohmann::json;

namespace {

using Op = void (AdminOps::*)(ApiConnection&, const json&, Reply);

}  // namespace

bool AdminOps::handles(const std::string& op) const {
  static const char* const kOps[] = {"workloads", "events", "policy.check", "policy.reload",
                                     "streams",   "peers",  "records",      "metrics"};
  for (const char* o : kOps) {
    if (op == o) return true;
  }
  return d_.vhost != nullptr && VhostService::handles(op);
}

void AdminOps::handle(ApiConnection& c, const std::string& op, const json& req, Reply r) {
  static const std::map<std::string, Op> kTable = {
      {"workloads", &AdminOps::opWorkloads},         {"events", &AdminOps::opEvents},
      {"policy.check", &AdminOps::opPolicyCheck},    {"policy.reload", &AdminOps::opPolicyReload},
      {"streams", &AdminOps::opStreams},             {"peers", &AdminOps::opPeers},
      {"records", &AdminOps::opRecords},             {"metrics", &AdminOps::opMetrics},
  };
  if (auto it = kTable.find(op); it != kTable.end()) return (this->*(it->second))(c, req, std::move(r));
  if (d_.vhost != nullptr && VhostService::handles(op)) return d_.vhost->handle(op, req, std::move(r));
  r.error(Status::badRequest("unknown op '" + op.substr(0, 64) + "'"));
}

void AdminOps::opWorkloads(ApiConnection&, const json&, Reply r) {
  json list = json::array();
  uint64_t now = d_.registry.nowMs();  // leases are measured on the registry's clock
  for (const auto* reg : d_.registry.all()) {
    const auto& w = reg->row;
    json e = {{"address", w.address},         {"spiffe_id", w.spiffeId},
              {"uid", w.uid},                 {"gid", w.gid},
              {"pid", w.pid},                 {"exe", w.exe},
              {"app", w.app},                 {"start_time", w.startTime},
              {"identity_hash", toHex(w.identityHash)},
              {"registered_at", w.registeredAt},
              {"target", w.target},           {"proxy_protocol", w.proxyProtocol},
              {"whitelist", w.whitelist},     {"protocols", w.protocols},
              {"listening", reg->listenerConnId != 0},
              {"connected", reg->connId != 0}, {"ttl_ms", w.ttlMs}};
    if (reg->connId == 0 && reg->leaseDeadline > now) e["lease_remaining_ms"] = reg->leaseDeadline - now;
    list.push_back(std::move(e));
  }
  r.ok({{"workloads", std::move(list)}});
}

void AdminOps::opEvents(ApiConnection& c, const json& req, Reply r) {
  std::optional<int64_t> since;
  std::optional<bool> follow;
  if (!take(api::optionalInt(req, "since"), &since, r) ||
      !take(api::optionalBool(req, "follow"), &follow, r)) {
    return;
  }
  json list = json::array();
  for (auto& rec : d_.events.since(since.value_or(0))) list.push_back(std::move(rec));
  r.ok({{"events", std::move(list)}});
  if (!follow.value_or(false)) return;
  std::weak_ptr<ApiConnection> weak = c.shared_from_this();
  uint64_t id = d_.events.follow([weak](const json& rec) {
    auto conn = weak.lock();
    if (!conn || conn->closed()) return;
    // A follower that does not read loses records rather than growing memory.
    if (conn->queuedBytes() > ApiConnection::kMaxQueuedBytes) return;
    conn->pushEvent({{"event", "log"}, {"record", rec}});
  });
  c.onClose([this, id] { d_.events.unfollow(id); });
}

void AdminOps::opPolicyCheck(ApiConnection&, const json& req, Reply r) {
  std::string src, dst;
  std::optional<std::string> proto;
  std::optional<int64_t> port;
  if (!take(api::requireString(req, "src"), &src, r) || !take(api::requireString(req, "dst"), &dst, r) ||
      !take(api::optionalString(req, "proto"), &proto, r) || !take(api::optionalInt(req, "port"), &port, r)) {
    return;
  }
  auto s = policy::Address::parse(src);
  if (!s.isOk()) return r.error(Status::badRequest("src: " + s.status().message()));
  auto d = policy::Address::parse(dst);
  if (!d.isOk()) return r.error(Status::badRequest("dst: " + d.status().message()));
  if (port && (*port < 1 || *port > 65535)) return r.error(Status::badRequest("port must be 1..65535"));
  // The destination's whitelist counts when it is registered here.
  std::vector<policy::Pattern> whitelist;
  std::optional<uint16_t> p;
  if (port) p = static_cast<uint16_t>(*port);
  bool registered = false;
  if (const Registration* reg = d_.registry.find(d->str())) {
    whitelist = reg->whitelist;
    if (!p) p = reg->targetPort();
    registered = true;
  }
  AuthDecision dec = d_.policy.explain(*s, *d, proto.value_or("tcp"), p, whitelist);
  if (dec.message.rfind("unknown protocol", 0) == 0) return r.error(Status::badRequest(dec.message));
  r.ok({{"allowed", dec.allowed},
        {"audited", dec.audited},
        {"decision", dec.audited ? "audit" : (dec.allowed ? "allow" : "deny")},
        {"rule", dec.rule},
        {"where", dec.where},
        {"explanation", dec.message},
        {"destination_registered", registered},
        {"policy_file", d_.policy.file()}});
}

void AdminOps::opPolicyReload(ApiConnection&, const json&, Reply r) {
  // A successful swap re-checks every open stream at once (the brokers listen
  // to the policy), so the streams it closed are the ones gone after it.
  size_t before = openStreams();
  Status st = d_.policy.reload();
  if (!st.isOk()) return r.error(Status::badRequest(st.message()));
  size_t after = openStreams();
  r.ok({{"file", d_.policy.file()}, {"rules", d_.policy.current()->rules().size()},
        {"tests", d_.policy.current()->tests().size()}, {"audit", d_.policy.current()->audit()},
        {"open_streams", before}, {"closed_streams", before >= after ? before - after : 0}});
}

size_t AdminOps::openStreams() const {
  return d_.broker.openStreams() + (d_.tunnels ? d_.tunnels->openStreams() : 0);
}

void AdminOps::opStreams(ApiConnection&, const json&, Reply r) {
  json list = json::array();
  for (const auto& s : d_.broker.streams()) {
    json e = {{"stream", s.id}, {"src", s.src}, {"dst", s.dst}, {"proto", s.proto}, {"opened_at", s.openedAt}};
    if (s.port) e["port"] = *s.port;
    list.push_back(std::move(e));
  }
  if (d_.tunnels) {
    for (const auto& s : d_.tunnels->streams()) {
      list.push_back({{"link", s.link}, {"stream", s.stream}, {"src", s.src}, {"dst", s.dst}, {"proto", s.proto},
                      {"machine", s.peer}, {"direction", s.outbound ? "out" : "in"}, {"opened_at", s.openedAt}});
    }
  }
  json out = {{"streams", std::move(list)}};
  if (d_.tunnels) out["links"] = d_.tunnels->linksJson();
  r.ok(std::move(out));
}

void AdminOps::opPeers(ApiConnection&, const json&, Reply r) {
  if (!d_.replicator) return r.ok({{"peers", json::array()}, {"replication", false}});
  r.ok({{"peers", d_.replicator->peersJson()}, {"replication", true}, {"endpoint", d_.replicator->endpoint()},
        {"machine", d_.machine}, {"node_key", d_.replicator->nodeKeyHex()},
        {"seed", d_.machine + "=" + d_.replicator->nodeKeyHex() + "@" + d_.replicator->endpoint()}});
}

void AdminOps::opRecords(ApiConnection&, const json&, Reply r) {
  if (!d_.replicator) return r.ok({{"records", json::array()}, {"replication", false}});
  r.ok({{"records", d_.replicator->recordsJson()}, {"replication", true}});
}

void AdminOps::opMetrics(ApiConnection&, const json&, Reply r) {
  r.ok({{"text", metrics().render()},
        {"content_type", "text/plain; version=0.0.4"},
        {"http", d_.metricsHttp ? json(d_.metricsHttp->boundAddress()) : json(nullptr)}});
}

}  // namespace kith::daemon
