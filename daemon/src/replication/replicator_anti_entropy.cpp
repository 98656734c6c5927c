// Replicator: anti-entropy — PULL with version vector and zone digests, and
// the answer to a peer's PULL (see replicator.h and docs/REPLICATION.md).
#include <algorithm>

#include "kith/common/log.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/replication/shard.h"
#include "kith/replication/version_vector.h"
#include "kith/replication/zone_digest.h"

namespace kith::daemon {
namespace {

namespace rep = kith::replication;
constexpr const char* kMod = "replication";
// At most one whole-zone resend per peer and zone in this long (two
// anti-entropy rounds: a resend lost while a link comes up is retried soon).
constexpr uint64_t kZoneResendGapMs = 10000;
// The longest a peer goes without our PULL while it keeps sending us records.
constexpr uint64_t kMaxPullGapMs = 30000;
// A HELLO this soon after our last PULL to its machine does not PULL again.
constexpr uint64_t kHelloPullGapMs = 1000;

}  // namespace

const rep::ZoneDigest& Replicator::zoneDigestOf(const std::string& zone) const {
  // O(records of the zone × log) to compute: only when the zone changed.
  uint64_t gen = records_.zoneGeneration(zone);
  auto& cached = digestCache_[zone];
  if (cached.first != gen || gen == 0) cached = {gen, rep::zoneDigest(records_.byZone(zone))};
  return cached.second;
}

rep::ZoneDigests Replicator::digests(const std::vector<std::string>* onlyZones) const {
  std::vector<std::string> held = records_.zones();
  // Forget the digests of zones no longer held.
  for (auto it = digestCache_.begin(); it != digestCache_.end();) {
    it = std::binary_search(held.begin(), held.end(), it->first) ? std::next(it) : digestCache_.erase(it);
  }
  rep::ZoneDigests out;
  for (const auto& zone : onlyZones ? *onlyZones : held) {
    if (records_.zoneGeneration(zone) != 0) out.emplace(zone, zoneDigestOf(zone));
  }
  return out;
}

rep::Message Replicator::pullMessage() const {
  return rep::Message{std::string(rep::kPull), {rep::encodeVersionVector(records_.versionVector()),
                                                rep::encodeZoneDigests(digests())}};
}

void Replicator::onPull(const std::string& machine, const rep::Message& m) {
  if (m.frames.empty() || m.frames.size() > 2) return;
  auto vv = rep::parseVersionVector(m.frames[0]);
  if (!vv.isOk()) return;
  std::optional<rep::ZoneDigests> digests;
  if (m.frames.size() == 2) {
    auto d = rep::parseZoneDigests(m.frames[1]);
    if (!d.isOk()) {
      log::debug(kMod, "bad zone digests", {{"from", machine}, {"error", d.status().message()}});
      return;
    }
    digests = std::move(d).value();
  }
  sendNewerThan(machine, *vv, digests ? &*digests : nullptr);
}

void Replicator::sendNewerThan(const std::string& machine, const rep::VersionVector& vv,
                               const rep::ZoneDigests* theirDigests) {
  auto newer = records_.newerThan(vv);
  if (theirDigests) {
    // Zones whose contents differ although the vector says nothing is newer:
    // a record the peer missed; send the whole zone (what it holds is a cheap replay).
    // Only zones where both vectors agree can be resent (zonesToResend): a
    // puller catching up on a zone costs no digest of that zone here.
    const rep::VersionVector& ourVv = records_.versionVector();
    std::vector<std::string> agreeing;
    for (const auto& zone : records_.zones()) {
      auto o = ourVv.find(zone), t = vv.find(zone);
      if ((o == ourVv.end() ? 0 : o->second) == (t == vv.end() ? 0 : t->second)) agreeing.push_back(zone);
    }
    auto resend = rep::zonesToResend(digests(&agreeing), ourVv, *theirDigests, vv);
    if (!resend.empty()) {
      std::set<const rep::Record*> already(newer.begin(), newer.end());
      uint64_t nowMs = loop_.nowMs();
      for (const auto& zone : resend) {
        // A peer still digesting a big resend (or a catch-up) differs for a
        // while: one whole-zone resend per peer and zone per kZoneResendGapMs.
        uint64_t& last = lastZoneResend_[{machine, zone}];
        if (last != 0 && nowMs - last < kZoneResendGapMs) continue;
        last = nowMs;
        ++stats_.zoneResends;
        for (const rep::Record* r : records_.byZone(zone)) {
          if (!already.count(r)) newer.push_back(r);
        }
      }
    }
  }
  // Our own zone's records travel sealed, after the rest (which carries the
  // delegs): a receiver checks one signature per message for them.
  std::vector<const std::string*> own, other;
  for (const rep::Record* r : newer) (r->zone == opts_.machine ? own : other).push_back(&r->line);
  sendLines(machine, other, false);
  sendLines(machine, own, true);
}

void Replicator::sendLines(const std::string& machine, const std::vector<const std::string*>& lines, bool seal) {
  for (size_t i = 0; i < lines.size(); i += kRecordsPerMessage) {
    size_t end = std::min(lines.size(), i + kRecordsPerMessage);
    rep::Message msg{std::string(rep::kRecords), {}};
    bool sealed = seal && end - i >= kMinSealedRecords;
    msg.frames.reserve(end - i + (sealed ? 1 : 0));
    if (sealed) msg.frames.emplace_back();  // the seal, once the records are in
    for (size_t j = i; j < end; ++j) msg.frames.push_back(*lines[j]);
    if (sealed) {
      int64_t t = now();
      auto line = rep::sealShard(verifier_.trustDomain(), opts_.machine, std::span(msg.frames).subspan(1),
                                 nodeKey_, t - 60, t + kShardValiditySec);
      if (line.isOk()) {
        msg.frames[0] = std::move(line).value();
        ++stats_.shardsSent;
      } else {
        // Impossible with our own clock; the records still verify one by one.
        log::warn(kMod, "cannot seal a shard", {{"error", line.status().message()}});
        msg.frames.erase(msg.frames.begin());
      }
    }
    (void)transport_->send(machine, std::move(msg));
  }
}

bool Replicator::pullNow(const std::string& machine, bool onHello) {
  // A peer that sent us RECORDS within the last round is still answering (a
  // catch-up takes many rounds): a PULL now would be answered with everything
  // above our vector again, i.e. what is already on its way. Ask anyway when
  // the last PULL to it is kMaxPullGapMs old, so steady pushes never starve
  // anti-entropy.
  uint64_t nowMs = loop_.nowMs();
  auto rec = lastRecordsFrom_.find(machine);
  auto pulled = lastPullTo_.find(machine);
  // Its RECORDS still being verified count as arriving: the vector we would
  // send lacks them, so the answer would be every one of them again.
  bool verifying = std::any_of(batches_.begin(), batches_.end(),
                               [&](const std::shared_ptr<Batch>& b) { return b->machine == machine; });
  bool busy = verifying ||
              (rec != lastRecordsFrom_.end() && nowMs - rec->second < static_cast<uint64_t>(opts_.antiEntropyMs));
  bool recent = pulled != lastPullTo_.end() && nowMs - pulled->second < kMaxPullGapMs;
  // A new link pair verifies two HELLOs within milliseconds (we dial the
  // peer, it dials us back): the second would PULL the same vector again
  // and the peer would send every record twice. One PULL per link-up; if it
  // was lost, the periodic PULL (no RECORDS came, so not `busy`) repeats it.
  if (onHello && pulled != lastPullTo_.end() && nowMs - pulled->second < kHelloPullGapMs) {
    ++stats_.pullsSkipped;
    return false;
  }
  if (busy && recent) {
    ++stats_.pullsSkipped;
    return false;
  }
  lastPullTo_[machine] = nowMs;
  ++stats_.pulls;
  return true;
}

void Replicator::antiEntropy() {
  if (!transport_) return;
  std::optional<rep::Message> pull;
  for (const auto& p : transport_->peers()) {
    if (!p.up || !pullNow(p.machine)) continue;
    if (!pull) pull = pullMessage();
    (void)transport_->send(p.machine, *pull);
  }
}

}  // namespace kith::daemon
