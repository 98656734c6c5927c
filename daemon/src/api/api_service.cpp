#include "kith/daemon/api/api_service.h"

#include <unistd.h>

#include <algorithm>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/daemon/observability/metrics.h"
#include "kith/socket-api/protocol.h"

namespace kith::daemon {
namespace {

using nlohmann::json;

struct DeferredTimer : DeferredDeletable {
  explicit DeferredTimer(std::unique_ptr<Timer> t) : t(std::move(t)) {}
  std::unique_ptr<Timer> t;
};

json publicEntry(const Registration& r, const std::string& machine) {
  return {{"address", r.row.address},
          {"spiffe_id", r.row.spiffeId},
          {"machine", machine},
          {"protocols", r.row.protocols}};
}

template <typename T>
bool take(Result<T> res, T* out, Reply& r) {
  if (!res.isOk()) {
    r.error(res.status());
    return false;
  }
  *out = std::move(res).value();
  return true;
}

}  // namespace

ApiService::ApiService(Loop& loop, Registry& registry, LocalBroker& broker, EventLog& events,
                       PolicyManager& policy, ServiceInfo info)
    : loop_(loop), registry_(registry), broker_(broker), events_(events), policy_(policy),
      info_(std::move(info)) {}

ApiService::~ApiService() {
  for (auto& [id, t] : waits_) t->stop();
}

void ApiService::handle(ApiConnection& c, json req, Reply r) {
  ++stats_.requests;
  const std::string op = req["op"].get<std::string>();
  using Fn = void (ApiService::*)(ApiConnection&, const json&, Reply);
  static const std::map<std::string, Fn> kApiOps = {
      {"hello", &ApiService::opHello},       {"register", &ApiService::opRegister},
      {"heartbeat", &ApiService::opHeartbeat}, {"deregister", &ApiService::opDeregister},
      {"resolve", &ApiService::opResolve},   {"list", &ApiService::opList},
      {"status", &ApiService::opStatus},     {"watch", &ApiService::opWatch},
      {"listen", &ApiService::opListen},     {"connect", &ApiService::opConnect},
      {"svid", &ApiService::opSvid},
  };
  static const std::map<std::string, Fn> kAdminOps = {
      {"workloads", &ApiService::opWorkloads},
      {"events", &ApiService::opEvents},
      {"policy.check", &ApiService::opPolicyCheck},
      {"policy.reload", &ApiService::opPolicyReload},
      {"streams", &ApiService::opStreams},
      {"peers", &ApiService::opPeers},
      {"records", &ApiService::opRecords},
      {"metrics", &ApiService::opMetrics},
  };
  if (auto it = kApiOps.find(op); it != kApiOps.end()) {
    (this->*(it->second))(c, req, std::move(r));
    return;
  }
  if (auto it = kAdminOps.find(op); it != kAdminOps.end()) {
    if (c.kind() != ApiConnection::Kind::kAdmin) {
      ++stats_.errorsByCode["UNAUTHORIZED"];
      r.error(Status(Code::kUnauthorized, "'" + op + "' is an admin op; use admin.sock"));
      return;
    }
    (this->*(it->second))(c, req, std::move(r));
    return;
  }
  if (vhost_ && VhostService::handles(op)) {
    if (c.kind() != ApiConnection::Kind::kAdmin) {
      ++stats_.errorsByCode["UNAUTHORIZED"];
      r.error(Status(Code::kUnauthorized, "'" + op + "' is an admin op; use admin.sock"));
      return;
    }
    vhost_->handle(op, req, std::move(r));
    return;
  }
  ++stats_.errorsByCode["BAD_REQUEST"];
  r.error(Status::badRequest("unknown op '" + op.substr(0, 64) + "'"));
}

void ApiService::connectionClosed(ApiConnection& c) { registry_.connectionClosed(c.id()); }

void ApiService::opHello(ApiConnection& c, const json&, Reply r) {
  const auto& cr = c.caller().cred;
  r.ok({{"version", api::kProtocolVersion},
        {"daemon", std::string("kithd ") + KITH_VERSION},
        {"machine", info_.machine},
        {"trust_domain", info_.trustDomain},
        {"peer", {{"uid", cr.uid}, {"gid", cr.gid}, {"pid", cr.pid}}}});
}

void ApiService::opRegister(ApiConnection& c, const json& req, Reply r) {
  RegisterRequest rr;
  std::optional<std::string> target, app;
  std::optional<int64_t> ttl, replicateWait;
  std::optional<bool> proxy;
  if (!take(api::requireString(req, "name"), &rr.name, r) ||
      !take(api::optionalStringArray(req, "whitelist"), &rr.whitelist, r) ||
      !take(api::optionalString(req, "target"), &target, r) ||
      !take(api::optionalBool(req, "proxy_protocol"), &proxy, r) ||
      !take(api::optionalStringArray(req, "protocols", 4), &rr.protocols, r) ||
      !take(api::optionalInt(req, "ttl_ms"), &ttl, r) ||
      !take(api::optionalString(req, "app"), &app, r) ||
      !take(api::optionalInt(req, "replicate_wait_ms"), &replicateWait, r)) {
    return;
  }
  if (replicateWait && (*replicateWait < 0 || *replicateWait > 60000)) {
    return r.error(Status::badRequest("replicate_wait_ms must be between 0 and 60000"));
  }
  rr.target = target.value_or("");
  rr.proxyProtocol = proxy.value_or(false);
  rr.ttlMs = ttl.value_or(0);
  rr.app = app.value_or("");
  auto shared = std::make_shared<Reply>(std::move(r));
  int64_t wait = replicateWait.value_or(0);
  Replicator* repl = replicator_;
  Status st = registry_.registerWorkload(c.caller(), std::move(rr), [shared, wait, repl](Result<RegisterResult> res) {
    if (!res.isOk()) {
      shared->error(res.status());
      return;
    }
    json fields = {{"address", res->address},
                   {"spiffe_id", res->spiffeId},
                   {"identity_hash", res->identityHash},
                   {"token", res->token},
                   {"ttl_ms", res->ttlMs}};
    if (!repl || wait <= 0) {
      shared->ok(std::move(fields));
      return;
    }
    // Durable here; now wait (bounded) until every reachable peer has it.
    repl->waitForAcks(res->address, static_cast<uint64_t>(wait),
                      [shared, fields = std::move(fields)](size_t acked, size_t peers) mutable {
                        fields["replicated_to"] = acked;
                        fields["peers"] = peers;
                        shared->ok(std::move(fields));
                      });
  });
  if (!st.isOk()) shared->error(st);
}

void ApiService::opHeartbeat(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  if (!take(api::requireString(req, "token"), &token, r)) return;
  auto ttl = registry_.heartbeat(token, c.caller().cred.uid);
  if (!ttl.isOk()) return r.error(ttl.status());
  r.ok({{"ttl_ms", *ttl}});
}

void ApiService::opDeregister(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  if (!take(api::requireString(req, "token"), &token, r)) return;
  auto shared = std::make_shared<Reply>(std::move(r));
  Status st = registry_.deregister(token, c.caller().cred.uid, [shared](Status s) {
    if (s.isOk()) shared->ok(); else shared->error(s);
  });
  if (!st.isOk()) shared->error(st);
}

void ApiService::opResolve(ApiConnection&, const json& req, Reply r) {
  std::string name;
  std::optional<int64_t> waitMs;
  if (!take(api::requireString(req, "name"), &name, r) ||
      !take(api::optionalInt(req, "wait_ms"), &waitMs, r)) {
    return;
  }
  auto pat = policy::Pattern::parse(name);
  if (!pat.isOk()) return r.error(Status::badRequest("name: " + pat.status().message()));
  auto found = matchAll(*pat);
  if (!found.empty()) return r.ok({{"workloads", std::move(found)}});
  int64_t wait = waitMs.value_or(0);
  if (wait <= 0) return r.error(Status(Code::kDestinationNotFound, "no workload matches " + name));
  if (wait > 600000) return r.error(Status::badRequest("wait_ms must be at most 600000"));
  // RAINS pending query: answer as soon as a match registers, or at the deadline.
  struct Pending {
    Reply reply;
    uint64_t watcher = 0;
    uint64_t wait = 0;
  };
  auto p = std::make_shared<Pending>(Pending{std::move(r)});
  uint64_t waitId = nextWait_++;
  p->wait = waitId;
  auto finish = [this, p](std::optional<json> ok) {
    if (p->watcher == 0) return;  // already answered
    registry_.removeWatcher(p->watcher);
    p->watcher = 0;
    if (auto it = waits_.find(p->wait); it != waits_.end()) {
      it->second->stop();
      loop_.deferredDelete(std::make_unique<DeferredTimer>(std::move(it->second)));
      waits_.erase(it);
    }
    if (ok) p->reply.ok(std::move(*ok));
    else p->reply.error(Status(Code::kDestinationNotFound, "no workload matched before the deadline"));
  };
  policy::Pattern pattern = *pat;
  p->watcher = registry_.addWatcher([this, pattern, finish](const json& ev) {
    if (ev.value("event", "") != "register") return;
    auto m = matchAll(pattern);
    if (!m.empty()) finish(json{{"workloads", std::move(m)}});
  }, Registry::kLocalEvents | Registry::kRemoteRegisters);
  auto timer = std::make_unique<Timer>(loop_);
  timer->start(static_cast<uint64_t>(wait), 0, [finish] { finish(std::nullopt); });
  waits_[waitId] = std::move(timer);
}

void ApiService::opList(ApiConnection&, const json&, Reply r) {
  r.ok({{"workloads", matchAll(policy::Pattern())}});
}

json ApiService::matchAll(const policy::Pattern& p) const {
  json list = json::array();
  for (const auto* reg : registry_.match(p)) list.push_back(publicEntry(*reg, info_.machine));
  if (replicator_) {
    for (const auto& w : replicator_->match(p)) {
      std::string spiffe = "spiffe://" + info_.trustDomain + "/" + w.address;
      std::replace(spiffe.begin() + 9 + static_cast<long>(info_.trustDomain.size()), spiffe.end(), '.', '/');
      list.push_back({{"address", w.address}, {"spiffe_id", spiffe}, {"machine", w.machine},
                      {"protocols", w.protocols}});
    }
  }
  return list;
}

namespace {
// {"up":N,"down":M} over the replicator's peers (kithctl status, doctor).
json peerCounts(const json& peers) {
  int64_t up = 0, down = 0;
  for (const auto& p : peers) (p.value("state", "") == "up" ? up : down)++;
  return {{"up", up}, {"down", down}};
}
}  // namespace

void ApiService::opStatus(ApiConnection&, const json&, Reply r) {
  const auto& rs = registry_.stats();
  r.ok({{"daemon", std::string("kithd ") + KITH_VERSION},
        {"version", api::kProtocolVersion},
        {"machine", info_.machine},
        {"trust_domain", info_.trustDomain},
        {"pid", ::getpid()},
        {"uptime_ms", static_cast<int64_t>(loop_.nowMs()) - info_.startedMonoMs},
        {"workloads", registry_.size()},
        {"connections", server_ ? server_->connections() : 0},
        {"registrations", {{"total", rs.registered}, {"ended", rs.ended},
                           {"expired", rs.expired}, {"exited", rs.exited}}},
        {"requests", stats_.requests},
        {"streams", {{"open", broker_.openStreams()}, {"connects", broker_.stats().connects},
                     {"relayed", broker_.stats().relayed}, {"handed_off", broker_.stats().handedOff},
                     {"revoked", broker_.stats().revoked}, {"remote", broker_.stats().remote}}},
        {"tunnels", tunnels_ ? tunnels_->statsJson() : json(nullptr)},
        {"replication", replicator_ ? replicator_->statsJson() : json(nullptr)},
        {"health", health_ ? health_->json() : json(nullptr)},
        {"peers", replicator_ ? peerCounts(replicator_->peersJson()) : json(nullptr)},
        {"policy", {{"file", policy_.file()}, {"audit", policy_.current()->audit()},
                    {"rules", policy_.current()->rules().size()},
                    {"allowed", policy_.stats().allowed}, {"denied", policy_.stats().denied},
                    {"audited", policy_.stats().audited}, {"reloads", policy_.stats().reloads},
                    {"rejected_reloads", policy_.stats().rejectedReloads}}}});
}

void ApiService::opWatch(ApiConnection& c, const json& req, Reply r) {
  std::optional<std::string> pattern;
  if (!take(api::optionalString(req, "pattern"), &pattern, r)) return;
  std::optional<policy::Pattern> pat;
  if (pattern) {
    auto p = policy::Pattern::parse(*pattern);
    if (!p.isOk()) return r.error(Status::badRequest("pattern: " + p.status().message()));
    pat = *p;
  }
  std::weak_ptr<ApiConnection> weak = c.shared_from_this();
  r.ok();
  uint64_t id = registry_.addWatcher([weak, pat](const json& ev) {
    auto conn = weak.lock();
    if (!conn || conn->closed()) return;
    if (pat) {
      auto a = policy::Address::parse(ev.value("address", ""));
      if (!a.isOk() || !pat->matches(*a)) return;
    }
    conn->pushEvent(ev);
  });
  c.onClose([this, id] { registry_.removeWatcher(id); });
}

void ApiService::opListen(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  if (!take(api::requireString(req, "token"), &token, r)) return;
  auto reg = registry_.authenticate(token, c.caller().cred.uid);
  if (!reg.isOk()) return r.error(reg.status());
  Status st = registry_.setListener(*reg, c.id());
  if (!st.isOk()) return r.error(st);
  r.ok({{"address", (*reg)->row.address}});
}

void ApiService::opConnect(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  ConnectRequest cr;
  std::optional<std::string> proto, mode;
  std::optional<int64_t> timeout;
  if (!take(api::requireString(req, "token"), &token, r) ||
      !take(api::requireString(req, "destination"), &cr.destination, r) ||
      !take(api::optionalString(req, "proto"), &proto, r) ||
      !take(api::optionalString(req, "mode"), &mode, r) ||
      !take(api::optionalInt(req, "timeout_ms"), &timeout, r)) {
    return;
  }
  cr.proto = proto.value_or("tcp");
  cr.mode = mode.value_or("fd");
  cr.timeoutMs = timeout.value_or(5000);
  auto src = registry_.authenticate(token, c.caller().cred.uid);
  if (!src.isOk()) return r.error(src.status());
  broker_.connect(**src, c.caller(), std::move(cr), std::move(r));
}

void ApiService::opWorkloads(ApiConnection&, const json&, Reply r) {
  json list = json::array();
  uint64_t now = loop_.nowMs();
  for (const auto* reg : registry_.all()) {
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

void ApiService::opEvents(ApiConnection& c, const json& req, Reply r) {
  std::optional<int64_t> since;
  std::optional<bool> follow;
  if (!take(api::optionalInt(req, "since"), &since, r) ||
      !take(api::optionalBool(req, "follow"), &follow, r)) {
    return;
  }
  json list = json::array();
  for (auto& rec : events_.since(since.value_or(0))) list.push_back(std::move(rec));
  r.ok({{"events", std::move(list)}});
  if (!follow.value_or(false)) return;
  std::weak_ptr<ApiConnection> weak = c.shared_from_this();
  uint64_t id = events_.follow([weak](const json& rec) {
    auto conn = weak.lock();
    if (!conn || conn->closed()) return;
    // A follower that does not read loses records rather than growing memory.
    if (conn->queuedBytes() > ApiConnection::kMaxQueuedBytes) return;
    conn->pushEvent({{"event", "log"}, {"record", rec}});
  });
  c.onClose([this, id] { events_.unfollow(id); });
}

}  // namespace kith::daemon

namespace kith::daemon {

void ApiService::opPolicyCheck(ApiConnection&, const json& req, Reply r) {
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
  if (const Registration* reg = registry_.find(d->str())) {
    whitelist = reg->whitelist;
    if (!p) p = targetPort(*reg);
    registered = true;
  }
  AuthDecision dec = policy_.explain(*s, *d, proto.value_or("tcp"), p, whitelist);
  if (dec.message.rfind("unknown protocol", 0) == 0) return r.error(Status::badRequest(dec.message));
  r.ok({{"allowed", dec.allowed},
        {"audited", dec.audited},
        {"decision", dec.audited ? "audit" : (dec.allowed ? "allow" : "deny")},
        {"rule", dec.rule},
        {"where", dec.where},
        {"explanation", dec.message},
        {"destination_registered", registered},
        {"policy_file", policy_.file()}});
}

void ApiService::opPolicyReload(ApiConnection&, const json&, Reply r) {
  Status st = policy_.reload();
  if (!st.isOk()) return r.error(Status::badRequest(st.message()));
  r.ok({{"file", policy_.file()}, {"rules", policy_.current()->rules().size()},
        {"tests", policy_.current()->tests().size()}, {"audit", policy_.current()->audit()},
        {"open_streams", broker_.openStreams()}});
}

void ApiService::opPeers(ApiConnection&, const json&, Reply r) {
  if (!replicator_) return r.ok({{"peers", json::array()}, {"replication", false}});
  r.ok({{"peers", replicator_->peersJson()}, {"replication", true}, {"endpoint", replicator_->endpoint()},
        {"machine", info_.machine}, {"node_key", replicator_->nodeKeyHex()},
        {"seed", info_.machine + "=" + replicator_->nodeKeyHex() + "@" + replicator_->endpoint()}});
}

void ApiService::opRecords(ApiConnection&, const json&, Reply r) {
  if (!replicator_) return r.ok({{"records", json::array()}, {"replication", false}});
  r.ok({{"records", replicator_->recordsJson()}, {"replication", true}});
}

void ApiService::opSvid(ApiConnection& c, const json& req, Reply r) {
  if (!svids_) {
    return r.error(Status::internal("this daemon has no node identity (node-ca.crt); it cannot issue SVIDs"));
  }
  svids_->handle(c, req, std::move(r));
}

void ApiService::opMetrics(ApiConnection&, const json&, Reply r) {
  r.ok({{"text", metrics().render()},
        {"content_type", "text/plain; version=0.0.4"},
        {"http", metricsHttp_ ? json(metricsHttp_->boundAddress()) : json(nullptr)}});
}

void ApiService::opStreams(ApiConnection&, const json&, Reply r) {
  json list = json::array();
  for (const auto& s : broker_.streams()) {
    json e = {{"stream", s.id}, {"src", s.src}, {"dst", s.dst}, {"proto", s.proto}, {"opened_at", s.openedAt}};
    if (s.port) e["port"] = *s.port;
    list.push_back(std::move(e));
  }
  if (tunnels_) {
    for (const auto& s : tunnels_->streams()) {
      list.push_back({{"link", s.link}, {"stream", s.stream}, {"src", s.src}, {"dst", s.dst}, {"proto", s.proto},
                      {"machine", s.peer}, {"direction", s.outbound ? "out" : "in"}, {"opened_at", s.openedAt}});
    }
  }
  json out = {{"streams", std::move(list)}};
  if (tunnels_) out["links"] = tunnels_->linksJson();
  r.ok(std::move(out));
}

}  // namespace kith::daemon
