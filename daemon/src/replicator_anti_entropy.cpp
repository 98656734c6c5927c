// Replicator: anti-entropy — PULL with version vector and zone digests, and
// the answer to a peer's PULL (see replicator.h and docs/REPLICATION.md).
#include <algorithm>

#include "kith/common/log.h"
#include "kith/daemon/replicator.h"
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

const rep::ZoneDigests& Replicator::digests() const {
  // O(records log records) to compute: only when the set changed.
  if (digestsGen_ != records_.generation() || !digestsValid_) {
    digests_ = rep::zoneDigests(records_);
    digestsGen_ = records_.generation();
    digestsValid_ = true;
  }
  return digests_;
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
    auto resend = rep::zonesToResend(digests(), records_.versionVector(), *theirDigests, vv);
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
  for (size_t i = 0; i < newer.size(); i += kRecordsPerMessage) {
    rep::Message msg{std::string(rep::kRecords), {}};
    for (size_t j = i; j < std::min(newer.size(), i + kRecordsPerMessage); ++j) msg.frames.push_back(newer[j]->line);
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
