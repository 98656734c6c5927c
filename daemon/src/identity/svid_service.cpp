#include "kith/daemon/identity/svid_service.h"

#include <algorithm>

#include "kith/common/log.h"
#include "kith/identity/cert.h"
#include "kith/identity/keys.h"
#include "kith/socket-api/protocol.h"

namespace kith::daemon {
namespace {

using nlohmann::json;
constexpr const char* kMod = "svid";

}  // namespace

SvidService::SvidService(Loop& loop, Registry& registry, NodeCredentials& creds, int64_t ttlSec)
    : loop_(loop), registry_(registry), creds_(creds), ttlSec_(std::clamp(ttlSec, kMinTtlSec, kMaxTtlSec)),
      timer_(loop) {
  // A registration that ends takes its subscriptions with it.
  watcher_ = registry_.addWatcher([this](const Registry::Event& ev) {
    if (ev.isRegister()) return;
    const std::string& address = ev.address;
    std::vector<uint64_t> gone;
    for (const auto& [id, s] : subs_) {
      if (s.address == address) gone.push_back(id);
    }
    for (uint64_t id : gone) drop(id);
  }, Registry::kLocalEvents);
  // New node identity: every subscriber gets an SVID under the new node CA now.
  rotateHandler_ = creds_.onRotate([this](const NodeSnapshot&, const NodeSnapshot&) {
    std::vector<uint64_t> ids;
    for (const auto& [id, s] : subs_) ids.push_back(id);
    uint64_t now = loop_.nowMs();
    for (uint64_t id : ids) schedule(id, now);
    arm();
  });
}

SvidService::~SvidService() {
  timer_.stop();
  if (watcher_) registry_.removeWatcher(watcher_);
  if (rotateHandler_) creds_.removeRotateHandler(rotateHandler_);
}

Result<const identity::CertificateAuthority*> SvidService::issuer() {
  auto snap = creds_.current();
  if (!snap) return Status::internal("no node identity");
  if (snap != issuerOf_) {
    auto ca = snap->identity.svidIssuer();
    if (!ca.isOk()) return ca.status();
    issuer_.emplace(std::move(ca).value());
    issuerOf_ = snap;
  }
  return &*issuer_;
}

Result<json> SvidService::issue(const Registration& reg) {
  auto ca = issuer();
  if (!ca.isOk()) return Status::internal("cannot issue SVIDs: " + ca.status().message());
  identity::SigningKey key = identity::SigningKey::generate();
  identity::IssueOptions io;
  io.validitySeconds = ttlSec_;
  auto cert = (*ca)->issueSvid(key.publicKey(), reg.row.spiffeId, io);
  if (!cert.isOk()) return Status::internal("issuing the SVID failed: " + cert.status().message());
  auto info = identity::parseCertificatePem(*cert);
  if (!info.isOk()) return Status::internal("the issued SVID does not parse: " + info.status().message());
  ++issued_;
  const auto& snap = *issuerOf_;
  // Rotate at half the *requested* lifetime (notBefore is backdated for skew).
  int64_t issuedAt = info->notAfter - ttlSec_;
  return json{{"spiffe_id", reg.row.spiffeId},
              {"certificate", *cert},
              {"chain", *cert + snap.identity.nodeCaPem},
              {"key", key.toPkcs8Pem()},
              {"bundle", snap.identity.rootPem},
              {"expires_at", info->notAfter},
              {"rotate_at", issuedAt + ttlSec_ / 2},
              {"serial", info->serialHex}};
}

void SvidService::handle(ApiConnection& c, const json& req, Reply r) {
  auto token = api::requireString(req, "token");
  if (!token.isOk()) return r.error(token.status());
  auto watch = api::optionalBool(req, "watch");
  if (!watch.isOk()) return r.error(watch.status());
  auto reg = registry_.authenticate(*token, c.caller().cred.uid);
  if (!reg.isOk()) return r.error(reg.status());
  auto svid = issue(**reg);
  if (!svid.isOk()) {
    log::error(kMod, "svid not issued", {{"address", (*reg)->row.address}, {"error", svid.status().message()}});
    return r.error(svid.status());
  }
  log::info(kMod, "svid issued", {{"address", (*reg)->row.address}, {"serial", (*svid)["serial"]},
                                  {"expires_at", (*svid)["expires_at"]}, {"watch", watch->value_or(false)}});
  if (watch->value_or(false)) {
    uint64_t id = nextSub_++;
    subs_[id] = Sub{(*reg)->row.address, (*reg)->row.identityHash, c.shared_from_this(), 0};
    schedule(id, loop_.nowMs() + static_cast<uint64_t>(ttlSec_) * 500);
    arm();
    c.onClose([this, id, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired()) drop(id);
    });
  }
  r.ok(std::move(svid).value());
}

void SvidService::schedule(uint64_t id, uint64_t dueMs) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  due_.erase({it->second.dueMs, id});
  it->second.dueMs = dueMs;
  due_.insert({dueMs, id});
}

void SvidService::drop(uint64_t id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  due_.erase({it->second.dueMs, id});
  subs_.erase(it);
  if (due_.empty()) timer_.stop();
}

void SvidService::arm() {
  if (due_.empty()) {
    timer_.stop();
    return;
  }
  uint64_t now = loop_.nowMs();
  uint64_t first = due_.begin()->first;
  timer_.start(first > now ? first - now : 0, 0, [this] { rotateDue(); });
}

void SvidService::rotateDue() {
  uint64_t now = loop_.nowMs();
  std::vector<uint64_t> ids;
  for (auto it = due_.begin(); it != due_.end() && it->first <= now; ++it) ids.push_back(it->second);
  for (uint64_t id : ids) {
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Sub& s = it->second;
    auto conn = s.conn.lock();
    const Registration* reg = registry_.find(s.address);
    if (!conn || conn->closed() || !reg || !reg->active || reg->row.identityHash != s.identityHash) {
      drop(id);
      continue;
    }
    auto svid = issue(*reg);
    if (!svid.isOk()) {
      // Keep the subscription; try again in a second rather than never.
      log::error(kMod, "svid rotation failed", {{"address", s.address}, {"error", svid.status().message()}});
      schedule(id, now + 1000);
      continue;
    }
    json ev = std::move(svid).value();
    ev["event"] = "svid";
    ev["address"] = s.address;
    log::info(kMod, "svid rotated", {{"address", s.address}, {"serial", ev["serial"]}});
    conn->pushEvent(ev);
    schedule(id, now + static_cast<uint64_t>(ttlSec_) * 500);
  }
  arm();
}

}  // namespace kith::daemon
