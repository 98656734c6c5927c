#include "kith/daemon/api/api_service.h"

#include <unistd.h>

#include <algorithm>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/daemon/api/admin_ops.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/identity/svid_service.h"
#include "kith/daemon/observability/health.h"
#include "kith/daemon/observability/metrics.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/identity/spiffe.h"
#include "kith/socket-api/protocol.h"
#include "op_fields.h"

namespace kith::daemon {
namespace {

using nlohmann::json;

struct DeferredTimer : DeferredDeletable {
  explicit DeferredTimer(std::unique_ptr<Timer> t) : t(std::move(t)) {}
  std::unique_ptr<Timer> t;
};

// A registry event as `watch` sends it (kith-socket-api(7)).
json watchEvent(const RegistryEvent& ev) {
  json j = {{"event", ev.isRegister() ? "register" : "deregister"}, {"address", ev.address}};
  if (!ev.local()) j["machine"] = ev.machine;
  if (ev.isRegister()) j["spiffe_id"] = ev.spiffeId;
  else j["reason"] = endReasonName(ev.reason);
  j["ts"] = ev.ts;
  return j;
}

json publicEntry(const Registration& r, const std::string& machine) {
  return {{"address", r.row.address},
          {"spiffe_id", r.row.spiffeId},
          {"machine", machine},
          {"protocols", r.row.protocols}};
}

}  // namespace

ApiService::ApiService(ApiServiceDeps deps, ServiceInfo info) : d_(std::move(deps)), info_(std::move(info)) {}

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
  if (auto it = kApiOps.find(op); it != kApiOps.end()) {
    (this->*(it->second))(c, req, std::move(r));
    return;
  }
  if (d_.admin.handles(op)) {
    if (c.kind() != ApiConnection::Kind::kAdmin) {
      ++stats_.errorsByCode["UNAUTHORIZED"];
      r.error(Status(Code::kUnauthorized, "'" + op + "' is an admin op; use admin.sock"));
      return;
    }
    d_.admin.handle(c, op, req, std::move(r));
    return;
  }
  ++stats_.errorsByCode["BAD_REQUEST"];
  r.error(Status::badRequest("unknown op '" + op.substr(0, 64) + "'"));
}

void ApiService::connectionClosed(ApiConnection& c) { d_.registry.connectionClosed(c.id()); }

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
  Replicator* repl = d_.replicator;
  Status st = d_.registry.registerWorkload(c.caller(), std::move(rr), [shared, wait, repl](Result<RegisterResult> res) {
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
  auto ttl = d_.registry.heartbeat(token, c.caller().cred.uid);
  if (!ttl.isOk()) return r.error(ttl.status());
  r.ok({{"ttl_ms", *ttl}});
}

void ApiService::opDeregister(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  if (!take(api::requireString(req, "token"), &token, r)) return;
  auto shared = std::make_shared<Reply>(std::move(r));
  Status st = d_.registry.deregister(token, c.caller().cred.uid, [shared](Status s) {
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
    d_.registry.removeWatcher(p->watcher);
    p->watcher = 0;
    if (auto it = waits_.find(p->wait); it != waits_.end()) {
      it->second->stop();
      d_.loop.deferredDelete(std::make_unique<DeferredTimer>(std::move(it->second)));
      waits_.erase(it);
    }
    if (ok) p->reply.ok(std::move(*ok));
    else p->reply.error(Status(Code::kDestinationNotFound, "no workload matched before the deadline"));
  };
  policy::Pattern pattern = *pat;
  p->watcher = d_.registry.addWatcher([this, pattern, finish](const RegistryEvent& ev) {
    if (!ev.isRegister()) return;
    auto m = matchAll(pattern);
    if (!m.empty()) finish(json{{"workloads", std::move(m)}});
  }, Registry::kLocalEvents | Registry::kRemoteRegisters);
  auto timer = std::make_unique<Timer>(d_.loop);
  timer->start(static_cast<uint64_t>(wait), 0, [finish] { finish(std::nullopt); });
  waits_[waitId] = std::move(timer);
}

void ApiService::opList(ApiConnection&, const json&, Reply r) {
  r.ok({{"workloads", matchAll(policy::Pattern())}});
}

json ApiService::matchAll(const policy::Pattern& p) const {
  json list = json::array();
  for (const auto* reg : d_.registry.match(p)) list.push_back(publicEntry(*reg, info_.machine));
  if (d_.replicator) {
    for (const auto& w : d_.replicator->match(p)) {
      auto spiffe = identity::spiffeIdForAddress(info_.trustDomain, w.address.str());
      list.push_back({{"address", w.address.str()},
                      {"spiffe_id", spiffe.isOk() ? json(*spiffe) : json(nullptr)},
                      {"machine", w.machine},
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
  const auto& rs = d_.registry.stats();
  r.ok({{"daemon", std::string("kithd ") + KITH_VERSION},
        {"version", api::kProtocolVersion},
        {"machine", info_.machine},
        {"trust_domain", info_.trustDomain},
        {"pid", ::getpid()},
        {"uptime_ms", static_cast<int64_t>(d_.loop.nowMs()) - info_.startedMonoMs},
        {"workloads", d_.registry.size()},
        {"connections", d_.server.connections()},
        {"registrations", {{"total", rs.registered}, {"ended", rs.ended},
                           {"expired", rs.expired}, {"exited", rs.exited}}},
        {"requests", stats_.requests},
        {"streams", {{"open", d_.broker.openStreams()}, {"connects", d_.broker.stats().connects},
                     {"relayed", d_.broker.stats().relayed}, {"handed_off", d_.broker.stats().handedOff},
                     {"revoked", d_.broker.stats().revoked}, {"remote", d_.broker.stats().remote}}},
        {"tunnels", d_.tunnels ? d_.tunnels->statsJson() : json(nullptr)},
        {"replication", d_.replicator ? d_.replicator->statsJson() : json(nullptr)},
        {"health", d_.health ? d_.health->json() : json(nullptr)},
        {"peers", d_.replicator ? peerCounts(d_.replicator->peersJson()) : json(nullptr)},
        {"policy", {{"file", d_.policy.file()}, {"audit", d_.policy.current()->audit()},
                    {"rules", d_.policy.current()->rules().size()},
                    {"allowed", d_.policy.stats().allowed}, {"denied", d_.policy.stats().denied},
                    {"audited", d_.policy.stats().audited}, {"reloads", d_.policy.stats().reloads},
                    {"rejected_reloads", d_.policy.stats().rejectedReloads}}}});
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
  uint64_t id = d_.registry.addWatcher([weak, pat](const RegistryEvent& ev) {
    auto conn = weak.lock();
    if (!conn || conn->closed()) return;
    if (pat) {
      auto a = policy::Address::parse(ev.address);
      if (!a.isOk() || !pat->matches(*a)) return;
    }
    conn->pushEvent(watchEvent(ev));
  });
  c.onClose([this, id] { d_.registry.removeWatcher(id); });
}

void ApiService::opListen(ApiConnection& c, const json& req, Reply r) {
  std::string token;
  if (!take(api::requireString(req, "token"), &token, r)) return;
  auto reg = d_.registry.authenticate(token, c.caller().cred.uid);
  if (!reg.isOk()) return r.error(reg.status());
  Status st = d_.registry.setListener(*reg, c.id());
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
  auto src = d_.registry.authenticate(token, c.caller().cred.uid);
  if (!src.isOk()) return r.error(src.status());
  auto reply = std::make_shared<Reply>(std::move(r));
  d_.broker.connect(**src, c.caller().cred.uid, std::move(cr), [reply](Status st, ConnectResult res) {
    if (!st.isOk()) return reply->error(st);
    json fields = {{"destination", res.destination}, {"spiffe_id", res.spiffeId}, {"stream", res.stream}};
    if (!res.machine.empty()) {
      fields["machine"] = res.machine;
      fields["link"] = res.link;
    }
    if (!res.path.empty()) {
      fields["path"] = res.path;
      return reply->ok(std::move(fields));
    }
    if (res.callerEnd) return reply->okWithFd(std::move(fields), std::move(res.callerEnd));
    reply->ok(std::move(fields));
  });
}








void ApiService::opSvid(ApiConnection& c, const json& req, Reply r) {
  if (!d_.svids) {
    return r.error(Status::internal("this daemon has no node identity (node-ca.crt); it cannot issue SVIDs"));
  }
  d_.svids->handle(c, req, std::move(r));
}



}  // namespace kith::daemon
