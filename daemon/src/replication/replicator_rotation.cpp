// Replicator: node identity rotation (see replicator.h, rotateIdentity).
#include "kith/common/log.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/replication/record.h"

namespace kith::daemon {
namespace {
namespace rep = kith::replication;
constexpr const char* kMod = "replication";
}  // namespace

void Replicator::rotateIdentity(const identity::SigningKey& key, const std::string& delegLine) {
  if (delegLine == opts_.delegLine && key.publicKey() == nodeKey_.publicKey()) return;
  auto deleg = rep::parseSigned(delegLine);
  if (!deleg.isOk()) {
    log::error(kMod, "rotated deleg does not parse; keeping the old identity", {{"error", deleg.status().message()}});
    return;
  }
  auto dkey = rep::delegKey(*deleg);
  if (deleg->subject != opts_.machine || !dkey.isOk() || *dkey != key.publicKey()) {
    log::error(kMod, "rotated deleg is for another machine or key; keeping the old identity");
    return;
  }
  if (Status st = verifier_.addDeleg(*deleg, now()); !st.isOk()) {
    log::error(kMod, "rotated deleg does not verify; keeping the old identity", {{"error", st.message()}});
    return;
  }
  bool newKey = key.publicKey() != nodeKey_.publicKey();
  opts_.delegLine = delegLine;
  records_.offer(*deleg);
  persist(*deleg);
  if (newKey && transport_) {
    // A new CURVE identity: the ROUTER and every DEALER are keyed with it, so
    // the transport restarts, on the port peers already know.
    nodeKey_ = key.clone();
    transport_->stop();
    transport_.reset();
    opts_.listen = endpoint_;
    dialled_.clear();
    if (Status st = startTransport(); !st.isOk()) {
      log::error(kMod, "replication did not restart after the key rotation", {{"error", st.message()}});
      return;
    }
    // Dial again every machine we know of (startTransport dialled the seeds).
    for (const rep::Record* r : records_.all()) {
      if (r->objtype == rep::ObjType::kInfra && r->zone != opts_.machine) absorb(*r, std::nullopt, false);
    }
    // Our live records were signed with the old key: sign them anew.
    std::vector<std::string> live;
    for (const rep::Record* r : records_.byZone(opts_.machine)) {
      if (r->objtype == rep::ObjType::kSrv) live.push_back(r->subject);
    }
    for (const auto& address : live) publishRegistration(address);
  } else if (transport_) {
    (void)transport_->setHello(hello());
  }
  if (transport_) (void)transport_->broadcast(rep::Message{std::string(rep::kRecords), {delegLine, infraLine_}});
  log::info(kMod, "published the rotated identity", {{"new_key", newKey}, {"seq", deleg->seq}});
}

void Replicator::redialOnNewKey(const rep::Record& deleg, const std::optional<rep::Record>& previous) {
  if (!transport_ || !previous || !dialled_.count(deleg.subject)) return;
  auto before = rep::delegKey(*previous), after = rep::delegKey(deleg);
  if (!before.isOk() || !after.isOk() || *before == *after) return;
  const rep::Record* infra = records_.find(deleg.subject, deleg.subject, rep::ObjType::kInfra);
  if (!infra) return;
  log::info(kMod, "peer rotated its node key; dialling it again", {{"peer", deleg.subject}});
  (void)transport_->addPeer(deleg.subject, infra->values[rep::kInfraReplication], *after);
}

}  // namespace kith::daemon
