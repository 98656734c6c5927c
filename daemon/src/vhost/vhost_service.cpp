#include "kith/daemon/vhost/vhost_service.h"

#include <algorithm>

#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/identity/host_cert.h"

namespace kith::daemon {
namespace {

using nlohmann::json;

Result<std::string> stringField(const json& req, const char* key, bool required = true) {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) {
    if (required) return Status::badRequest(std::string("missing '") + key + "'");
    return std::string();
  }
  if (!it->is_string()) return Status::badRequest(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

}  // namespace

VhostService::VhostService(Loop& loop, Store& store, Registry& registry, LocalBroker& broker,
                           VhostServiceOptions opts)
    : loop_(loop), opts_(std::move(opts)) {
  hosts_ = std::make_unique<VhostHosts>(store, opts_.hostsDir);
  route_ = std::make_unique<MeshVhostRoute>(loop, registry, broker, opts_.name);
}

VhostService::~VhostService() { stop(); }

void VhostService::stop() {
  route_.reset();  // before the listeners: pending opens are dropped
  listener_.reset();
  probe_.reset();
}

Status VhostService::start() {
  KITH_RETURN_IF_ERROR(hosts_->load());
  VhostEndpoints ep;
  if (!opts_.listen.empty()) {
    VhostListenerOptions o;
    o.listen = opts_.listen;
    listener_ = std::make_unique<VhostListener>(loop_, *hosts_, route_.get(), o);
    KITH_RETURN_IF_ERROR(listener_->start());
    ep.userPort = listener_->port();
    route_->start();  // the listener's workload: its streams are policy-checked connects
  }
  if (!opts_.probeListen.empty()) {
    VhostListenerOptions o;
    o.mode = VhostListenerOptions::Mode::kProbe;
    o.listen = opts_.probeListen;
    o.userPort = ep.userPort;
    probe_ = std::make_unique<VhostListener>(loop_, *hosts_, nullptr, o);
    KITH_RETURN_IF_ERROR(probe_->start());
    ep.probePort = probe_->port();
  }
  hosts_->setEndpoints(ep);
  return Status::ok();
}

bool VhostService::handles(const std::string& op) {
  return op == "host.init" || op == "host.show" || op == "host.rotate" || op == "host.list" ||
         op == "host.issue-client" ||
         op == "vhost.add" || op == "vhost.list" || op == "vhost.remove";
}

json VhostService::hostJson(const VhostHost& h, bool full) const {
  json j = {{"name", h.name},
            {"host_id", h.id.toString()},
            {"short_id", h.shortId},
            {"backend", h.backend},
            {"primary", h.primary.empty() ? json(nullptr) : json(h.primary)},
            {"seqno", h.dir->state().seqno}};
  if (full) {
    json keys = json::object();
    for (const auto& [role, list] : h.dir->state().live) {
      json a = json::array();
      for (const auto& k : list) a.push_back(toHex(k.data(), k.size()));
      keys[std::string(identity::roleName(role))] = a;
    }
    j["keys"] = keys;
    j["chain"] = identity::chainToJson(h.dir->chain());
    j["zone"] = h.zone.toJson();
    j["dir"] = h.dir->dir();
  }
  return j;
}

void VhostService::handle(const std::string& op, const json& req, Reply reply) {
  if (op == "host.list" || op == "vhost.list") {
    json list = json::array();
    for (const VhostHost* h : hosts_->all()) {
      if (op == "vhost.list" && h->primary.empty()) continue;
      list.push_back(hostJson(*h, false));
    }
    json out = {{op == "host.list" ? "hosts" : "vhosts", list},
                {"listen", listener_ ? json(listener_->address()) : json(nullptr)},
                {"probe_listen", probe_ ? json(probe_->address()) : json(nullptr)}};
    return reply.ok(std::move(out));
  }
  auto name = stringField(req, "name");
  if (!name) return reply.error(name.status());
  if (op == "host.show") {
    const VhostHost* h = hosts_->byName(*name);
    if (!h) return reply.error(Status(Code::kDestinationNotFound, "no host " + *name));
    return reply.ok(hostJson(*h, true));
  }
  if (op == "host.issue-client") {
    // A client certificate for a user of this host, from the host's TLS CA
    // (its primary's for a vhost); the client keeps its private key.
    const VhostHost* h = hosts_->byName(*name);
    if (!h) return reply.error(Status(Code::kDestinationNotFound, "no host " + *name));
    auto user = stringField(req, "user");
    if (!user) return reply.error(user.status());
    auto pkHex = stringField(req, "public_key");
    if (!pkHex) return reply.error(pkHex.status());
    auto pk = fromHex(*pkHex);
    if (!pk || pk->size() != identity::kEd25519PublicKeySize) {
      return reply.error(Status::badRequest("public_key must be 64 hex digits (an Ed25519 key)"));
    }
    int64_t days = req.value("validity_days", int64_t{90});
    if (days < 1 || days > 3650) return reply.error(Status::badRequest("validity_days must be 1..3650"));
    const VhostHost* keysOf = h->primary.empty() ? h : hosts_->byName(h->primary);
    const identity::SigningKey* ca = keysOf ? keysOf->dir->key(identity::HostKeyRole::kTlsCa) : nullptr;
    if (!ca) return reply.error(Status::internal("no TLS CA key for " + *name));
    identity::PublicKey key{};
    std::copy(pk->begin(), pk->end(), key.begin());
    auto cert = identity::issueHostClientCertificate(*ca, keysOf->dir->tlsCaCertPem(), key, h->id, *user,
                                                     days * 86400);
    if (!cert) return reply.error(cert.status());
    log::info("vhost", "client certificate issued", {{"host", h->name}, {"user", *user}});
    return reply.ok({{"name", h->name},
                     {"host_id", h->id.toString()},
                     {"identity", identity::hostUserUri(h->id, *user)},
                     {"certificate", *cert},
                     {"ca", keysOf->dir->tlsCaCertPem()}});
  }
  if (op == "host.rotate") {
    auto key = stringField(req, "key");
    if (!key) return reply.error(key.status());
    auto role = identity::parseRole(*key);
    if (!role) return reply.error(role.status());
    Status st = hosts_->rotate(*name, *role);
    if (!st.isOk()) return reply.error(st);
    return reply.ok(hostJson(*hosts_->byName(*name), false));
  }
  auto shared = std::make_shared<Reply>(std::move(reply));
  auto done = [this, shared, n = *name](Status st) {
    if (!st.isOk()) return shared->error(st);
    const VhostHost* h = hosts_->byName(n);
    if (!h) return shared->error(Status::internal("host vanished"));
    shared->ok(hostJson(*h, false));
  };
  if (op == "host.init") {
    auto backend = stringField(req, "backend");
    if (!backend) return shared->error(backend.status());
    return hosts_->initHost(*name, *backend, done);
  }
  if (op == "vhost.add") {
    auto primary = stringField(req, "primary");
    if (!primary) return shared->error(primary.status());
    auto backend = stringField(req, "backend", false);
    if (!backend) return shared->error(backend.status());
    return hosts_->addVhost(*name, *primary, *backend, done);
  }
  if (op == "vhost.remove") {
    return hosts_->removeVhost(*name, [this, shared, n = *name](Status st) {
      if (!st.isOk()) return shared->error(st);
      size_t closed = listener_ ? listener_->closeHost(n) : 0;
      shared->ok({{"name", n}, {"removed", true}, {"closed_streams", closed}});
    });
  }
  shared->error(Status::badRequest("unknown op '" + op + "'"));
}

}  // namespace kith::daemon
