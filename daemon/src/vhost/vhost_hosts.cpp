#include "kith/daemon/vhost/vhost_hosts.h"

#include <algorithm>
#include <filesystem>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/identity/host_cert.h"
#include "kith/policy/pattern.h"
#include "../store/store_sqlite.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "vhost";
using identity::HostKeyRole;

int64_t nowSeconds() { return systemClock().nowMicros() / 1'000'000; }

void removeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) log::warn(kMod, "could not remove a host directory", {{"dir", dir}, {"error", ec.message()}});
}

}  // namespace

VhostHosts::VhostHosts(Store& store, std::string hostsDir) : store_(store), hostsDir_(std::move(hostsDir)) {}

const VhostHost* VhostHosts::byName(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second.get();
}

const VhostHost* VhostHosts::byId(const identity::HostId& id) const {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : it->second;
}

std::vector<const VhostHost*> VhostHosts::all() const {
  std::vector<const VhostHost*> out;
  for (const auto& [n, h] : hosts_) out.push_back(h.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->shortId < b->shortId; });
  return out;
}

const VhostHost* VhostHosts::defaultHost() const {
  const VhostHost* best = nullptr;
  for (const auto& [n, h] : hosts_) {
    if (h->primary.empty() && (!best || h->shortId < best->shortId)) best = h.get();
  }
  return best;
}

void VhostHosts::setEndpoints(VhostEndpoints e) {
  endpoints_ = e;
  for (auto& [n, h] : hosts_) {
    if (Status st = prepare(*h); !st.isOk()) {
      log::error(kMod, "host zone could not be re-signed", {{"host", n}, {"error", st.message()}});
    }
  }
  rebuildShared();
}

Status VhostHosts::load() {
  struct Row {
    std::string name, hostId, backend, primary;
    int64_t shortId;
  };
  std::vector<Row> rows;
  Status st = store_.readWith([&](sqlite3* db) -> Status {
    auto q = sqlite::Stmt::prepare(db, "hosts.load",
                                   "SELECT h.name, h.host_id, h.short_id, h.backend, "
                                   "COALESCE(v.primary_name, '') FROM hosts h "
                                   "LEFT JOIN vhosts v ON v.name = h.name ORDER BY h.short_id");
    if (!q) return q.status();
    Status s;
    while (q->step(&s)) {
      rows.push_back({q->columnText(0), q->columnText(1), q->columnText(3), q->columnText(4), q->columnInt(2)});
    }
    return s;
  });
  KITH_RETURN_IF_ERROR(st);
  // Primaries first: a vhost's certificate comes from its primary's TLS CA.
  std::stable_partition(rows.begin(), rows.end(), [](const Row& r) { return r.primary.empty(); });
  for (const Row& r : rows) {
    auto h = std::make_unique<VhostHost>();
    h->name = r.name;
    h->shortId = r.shortId;
    h->backend = r.backend;
    h->primary = r.primary;
    auto dir = identity::HostDir::load(hostsDir_ + "/" + r.name);
    if (!dir) {
      log::error(kMod, "host not served: its directory does not load",
                 {{"host", r.name}, {"error", dir.status().message()}});
      continue;
    }
    if (dir->id().toString() != r.hostId) {
      log::error(kMod, "host not served: its directory holds another host ID", {{"host", r.name}});
      continue;
    }
    h->id = dir->id();
    h->dir = std::make_unique<identity::HostDir>(std::move(*dir));
    if (!h->primary.empty() && !byName(h->primary)) {
      log::error(kMod, "vhost not served: its primary is not", {{"host", r.name}, {"primary", h->primary}});
      continue;
    }
    if (Status p = prepare(*h); !p.isOk()) {
      log::error(kMod, "host not served", {{"host", r.name}, {"error", p.message()}});
      continue;
    }
    index(std::move(h));
  }
  rebuildShared();
  return Status::ok();
}

Status VhostHosts::prepare(VhostHost& h) {
  const identity::HostDir* keys = h.dir.get();
  if (!h.primary.empty()) {
    const VhostHost* p = byName(h.primary);
    if (!p) return Status::notFound("primary " + h.primary + " is not loaded");
    keys = p->dir.get();
  }
  const identity::SigningKey* ca = keys->key(HostKeyRole::kTlsCa);
  const identity::SigningKey* meta = keys->key(HostKeyRole::kMetadata);
  if (!ca || !meta) return Status::internal(h.name + ": no TLS CA or metadata key");
  identity::SigningKey leaf = identity::SigningKey::generate();
  auto cert = identity::issueHostServerCertificate(*ca, keys->tlsCaCertPem(), leaf.publicKey(), h.name, h.id);
  if (!cert) return cert.status();
  std::string chain = *cert + keys->tlsCaCertPem();
  std::string keyPem = leaf.toPkcs8Pem();
  auto ctx = makeVhostServerCtx(chain, keyPem, keys->tlsCaCertPem());
  if (!ctx) return ctx.status();
  identity::HostZone z;
  z.hostname = h.name;
  z.hostId = h.id;
  std::string user = h.name + ":" + std::to_string(endpoints_.userPort);
  z.probe = h.name + ":" + std::to_string(endpoints_.probePort);
  z.reg = z.user = z.merkleQuery = user;
  z.ttlSeconds = 3600;
  z.time = nowSeconds();
  z.sign(*meta);
  h.caPem = keys->tlsCaCertPem();
  h.chainPem = std::move(chain);
  h.leafKeyPem = std::move(keyPem);
  h.ctx = std::move(*ctx);
  h.zone = std::move(z);
  return Status::ok();
}

void VhostHosts::index(std::unique_ptr<VhostHost> h) {
  byId_[h->id] = h.get();
  std::string name = h->name;
  hosts_[name] = std::move(h);
}

void VhostHosts::rebuildShared() {
  ++generation_;
  allCas_.clear();
  for (const auto& [n, h] : hosts_) {
    if (h->primary.empty()) allCas_ += h->caPem;
  }
  const VhostHost* d = defaultHost();
  if (!d) {
    defaultCtx_.reset();
    return;
  }
  auto ctx = makeVhostServerCtx(d->chainPem, d->leafKeyPem, allCas_);
  if (!ctx) {
    log::error(kMod, "no-SNI context could not be built", {{"error", ctx.status().message()}});
    defaultCtx_.reset();
    return;
  }
  defaultCtx_ = std::move(*ctx);
}

void VhostHosts::initHost(const std::string& name, const std::string& backend, Done done) {
  create(name, "", backend, std::move(done));
}

void VhostHosts::addVhost(const std::string& name, const std::string& primary, const std::string& backend,
                          Done done) {
  const VhostHost* p = byName(primary);
  if (!p) return done(Status(Code::kDestinationNotFound, "no host " + primary));
  if (!p->primary.empty()) {
    return done(Status::badRequest(primary + " is itself a vhost (of " + p->primary + "); name a primary"));
  }
  create(name, primary, backend.empty() ? p->backend : backend, std::move(done));
}

void VhostHosts::create(const std::string& name, const std::string& primary, const std::string& backend,
                        Done done) {
  if (Status st = identity::checkHostname(name); !st.isOk()) return done(st);
  if (hostsDir_.empty()) return done(Status::internal("no hosts directory configured"));
  if (byName(name) || pending_.count(name)) {
    return done(Status(Code::kAlreadyRegistered, "host " + name + " already exists"));
  }
  auto pat = policy::Pattern::parse(backend);
  if (!pat.isOk()) return done(Status::badRequest("backend: " + pat.status().message()));
  std::optional<identity::HostId> primaryId;
  if (!primary.empty()) primaryId = byName(primary)->id;
  std::string dirPath = hostsDir_ + "/" + name;
  if (std::filesystem::exists(dirPath)) {
    // Left over from a crash between directory and row: the row decides.
    removeDir(dirPath);
  }
  auto dir = identity::HostDir::create(dirPath, name, nowSeconds(), primaryId);
  if (!dir) return done(dir.status());
  auto h = std::make_shared<VhostHost>();
  h->name = name;
  h->id = dir->id();
  h->backend = backend;
  h->primary = primary;
  h->dir = std::make_unique<identity::HostDir>(std::move(*dir));
  auto shortId = std::make_shared<int64_t>(0);
  pending_[name] = true;
  std::string hostId = h->id.toString();
  int64_t created = nowSeconds();
  store_.transact(
      [name, hostId, backend, primary, created, shortId](sqlite3* db) -> Status {
        // The ShortHostID is allocated by the insert itself, inside the batch's
        // transaction (the writer is the only writer): unique by construction and
        // by the UNIQUE constraint.
        auto ins = sqlite::Stmt::prepare(
            db, "hosts.insert",
            "INSERT INTO hosts(name, host_id, short_id, backend, created_at) VALUES(?1, ?2, "
            "(SELECT COALESCE(MAX(short_id), 0) + 1 FROM hosts), ?3, ?4)");
        if (!ins) return ins.status();
        ins->bind(1, name).bind(2, hostId).bind(3, backend).bind(4, created);
        KITH_RETURN_IF_ERROR(ins->run());
        if (!primary.empty()) {
          auto v = sqlite::Stmt::prepare(db, "vhosts.insert",
                                         "INSERT INTO vhosts(name, primary_name) VALUES(?1, ?2)");
          if (!v) return v.status();
          v->bind(1, name).bind(2, primary);
          KITH_RETURN_IF_ERROR(v->run());
        }
        auto q = sqlite::Stmt::prepare(db, "hosts.short_id", "SELECT short_id FROM hosts WHERE name = ?1");
        if (!q) return q.status();
        q->bind(1, name);
        Status s;
        if (!q->step(&s)) return s.isOk() ? Status::storage("hosts.short_id", "row vanished") : s;
        *shortId = q->columnInt(0);
        return Status::ok();
      },
      [this, h, shortId, dirPath, done = std::move(done)](Status st) mutable {
        pending_.erase(h->name);
        if (!st.isOk()) {
          removeDir(dirPath);
          return done(st);
        }
        h->shortId = *shortId;
        if (!h->primary.empty() && !byName(h->primary)) {
          return done(Status(Code::kDestinationNotFound, "primary " + h->primary + " was removed meanwhile"));
        }
        auto owned = std::make_unique<VhostHost>(std::move(*h));
        Status p = prepare(*owned);
        if (!p.isOk()) return done(p);
        log::info(kMod, owned->primary.empty() ? "host created" : "vhost created",
                  {{"host", owned->name}, {"host_id", owned->id.toString()}, {"short_id", owned->shortId},
                   {"primary", owned->primary}, {"backend", owned->backend}});
        index(std::move(owned));
        rebuildShared();
        done(Status::ok());
      });
}

void VhostHosts::removeVhost(const std::string& name, Done done) {
  const VhostHost* h = byName(name);
  if (!h) return done(Status(Code::kDestinationNotFound, "no host " + name));
  if (h->primary.empty()) return done(Status::badRequest(name + " is a primary, not a vhost"));
  if (pending_.count(name)) return done(Status(Code::kAlreadyRegistered, name + " is being changed"));
  pending_[name] = true;
  store_.transact(
      [name](sqlite3* db) -> Status {
        for (const char* sql : {"DELETE FROM vhosts WHERE name = ?1", "DELETE FROM hosts WHERE name = ?1"}) {
          auto d = sqlite::Stmt::prepare(db, "vhosts.delete", sql);
          if (!d) return d.status();
          d->bind(1, name);
          KITH_RETURN_IF_ERROR(d->run());
        }
        return Status::ok();
      },
      [this, name, done = std::move(done)](Status st) {
        pending_.erase(name);
        if (!st.isOk()) return done(st);
        auto it = hosts_.find(name);
        if (it != hosts_.end()) {
          byId_.erase(it->second->id);
          std::string dir = it->second->dir->dir();
          hosts_.erase(it);
          removeDir(dir);
        }
        log::info(kMod, "vhost removed", {{"host", name}});
        rebuildShared();
        done(Status::ok());
      });
}

Status VhostHosts::rotate(const std::string& name, identity::HostKeyRole role) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return Status(Code::kDestinationNotFound, "no host " + name);
  VhostHost& h = *it->second;
  KITH_RETURN_IF_ERROR(h.dir->rotate(role, nowSeconds()));
  log::info(kMod, "host key rotated",
            {{"host", name}, {"role", std::string(identity::roleName(role))}, {"seqno", h.dir->state().seqno}});
  // Certificates and zones depend on the TLS CA and metadata keys; re-issue them
  // for this host and, for a primary, the vhosts that use its keys.
  KITH_RETURN_IF_ERROR(prepare(h));
  if (h.primary.empty()) {
    for (auto& [n, v] : hosts_) {
      if (v->primary == name) KITH_RETURN_IF_ERROR(prepare(*v));
    }
  }
  rebuildShared();
  return Status::ok();
}

}  // namespace kith::daemon
