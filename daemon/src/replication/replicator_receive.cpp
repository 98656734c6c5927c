// Replicator: receiving RECORDS — each message is a batch, prechecked on the
// loop, its signatures checked on the SignaturePool, concluded, stored and
// ACKed in arrival order (see replicator.h and docs/ARCHITECTURE.md).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "kith/common/log.h"
#include "kith/daemon/replication/replicator.h"
#include "kith/replication/record.h"
#include "kith/replication/shard.h"

namespace kith::daemon {
namespace {

namespace rep = kith::replication;
using nlohmann::json;
constexpr const char* kMod = "replication";

// One ACK frame. Only the sender's own records are ACKed: a sender waits for
// the ACKs of what it published (onAck ignores other zones), and in a full
// mesh every record arrives forwarded by each other peer too — ACKing those
// doubled the messages of each registration for nothing.
// Written by hand, not by nlohmann::json: a catch-up ACKs 100,000 records.
// A zone is a machine name (validated: letters, digits, '-', '_'), so it
// needs no escaping.
std::string ackFrame(const rep::Record& r) {
  std::string out = "{\"zone\":\"";
  out += r.zone;
  out += "\",\"seq\":";
  out += std::to_string(r.seq);
  out += '}';
  return out;
}

}  // namespace

void Replicator::onRecords(const std::string& machine, rep::Message m) {
  lastRecordsFrom_[machine] = loop_.nowMs();
  auto b = std::make_shared<Batch>();
  b->machine = machine;
  b->message = std::move(m);
  batches_.push_back(std::move(b));
  prepareBatches();
  drainBatches();
}

bool Replicator::bringsNewDeleg(const rep::Message& m) const {
  for (const auto& f : m.frames) {
    if (f.find(" deleg ") == std::string::npos) continue;
    auto parsed = rep::parseSigned(f);
    if (!parsed.isOk() || parsed->objtype != rep::ObjType::kDeleg) continue;  // rejected in its turn
    const rep::Record* held = verifier_.deleg(parsed->subject);
    if (held == nullptr || !held->sameAs(*parsed)) return true;
  }
  return false;
}

void Replicator::prepareBatches() {
  // In order; a batch with a new deleg waits until every batch ahead of it
  // is concluded (their records are judged by the delegs before it).
  for (size_t i = 0; i < batches_.size(); ++i) {
    auto& b = batches_[i];
    if (b->prepared) continue;
    if (i > 0 && bringsNewDeleg(b->message)) return;
    prepare(b);
  }
}

void Replicator::prepare(const std::shared_ptr<Batch>& b) {
  int64_t t = now();
  b->ack = rep::Message{std::string(rep::kAck), {}};
  auto& frames = b->message.frames;
  // A seal first (shard.h) vouches for the signatures of its zone's records.
  // Their digest is taken now: the loop below takes the frames over.
  size_t first = !frames.empty() && rep::isShardFrame(frames[0]) ? 1 : 0;
  rep::ShardDigest digest{};
  if (first) digest = rep::shardDigest(std::span(frames).subspan(1));
  // Delegs first, so records of a newly learned zone verify in the same batch.
  std::vector<std::string*> order;
  for (size_t i = first; i < frames.size(); ++i) {
    std::string& f = frames[i];
    if (f.find(" deleg ") != std::string::npos) order.insert(order.begin(), &f);
    else order.push_back(&f);
  }
  // The seal is checked once the message's delegs are held (its zone's may be one).
  std::optional<std::pair<std::string, identity::PublicKey>> seal;
  bool sealChecked = first == 0;
  auto checkSeal = [&] {
    sealChecked = true;
    auto parsed = rep::parseShard(frames[0]);
    identity::PublicKey key{};
    Status st = parsed.isOk() ? rep::checkShard(*parsed, digest, frames.size() - 1, verifier_, t, &key)
                              : parsed.status();
    if (!st.isOk()) {
      // Costs only its own check: the records are checked one by one.
      ++stats_.shardsRefused;
      log::debug(kMod, "shard refused", {{"from", b->machine}, {"error", st.message()}});
      return;
    }
    ++stats_.shardsAccepted;
    seal.emplace(parsed->zone, key);
  };
  b->items.reserve(order.size());
  for (std::string* line : order) {
    ++stats_.received;
    auto parsed = rep::parseSignedTaking(std::move(*line));
    if (!parsed.isOk()) {
      ++stats_.rejected;
      continue;
    }
    // Replays and rollbacks cost no signature check.
    auto outcome = records_.classify(*parsed);
    if (outcome == rep::RecordSet::Outcome::kReplayed || outcome == rep::RecordSet::Outcome::kRolledBack) {
      (outcome == rep::RecordSet::Outcome::kReplayed ? stats_.replayed : stats_.rolledBack)++;
      if (parsed->zone == b->machine) b->ack.frames.push_back(ackFrame(*parsed));
      continue;
    }
    if (parsed->objtype == rep::ObjType::kDeleg) {
      if (Status st = verifier_.addDeleg(*parsed, t); !st.isOk()) {
        ++stats_.rejected;
        log::debug(kMod, "record rejected", {{"from", b->machine}, {"error", st.message()}});
        continue;
      }
      b->items.push_back({std::move(parsed).value(), -1});
      continue;
    }
    if (!sealChecked) checkSeal();
    bool inSeal = seal && parsed->zone == seal->first;
    rep::SignatureCheck check;
    if (Status st = verifier_.precheck(*parsed, &check, nullptr, !inSeal); !st.isOk()) {
      ++stats_.rejected;
      log::debug(kMod, "record rejected", {{"from", b->machine}, {"error", st.message()}});
      continue;
    }
    if (inSeal && check.key != seal->second) {
      // The zone's key changed since the seal was checked: no longer vouched for.
      check.input = rep::signingInput(*parsed);
      inSeal = false;
    }
    if (inSeal) {
      ++stats_.vouchedBySeal;
      b->items.push_back({std::move(parsed).value(), static_cast<int>(b->vouched.size()), true});
      b->vouched.push_back(std::move(check));
      continue;
    }
    b->items.push_back({std::move(parsed).value(), static_cast<int>(b->checks.size())});
    b->checks.push_back(std::move(check));
  }
  b->prepared = true;
  b->message.frames.clear();
  b->message.frames.shrink_to_fit();
  // A push of a few records at the head of the queue is checked here: a hop
  // to a worker and back would cost more than the checks.
  constexpr size_t kInlineChecks = 8;
  if (b->checks.empty() || (b->checks.size() <= kInlineChecks && batches_.front() == b)) {
    b->valid.resize(b->checks.size());
    for (size_t i = 0; i < b->checks.size(); ++i) b->valid[i] = b->checks[i].valid() ? 1 : 0;
    stats_.checkedInline += b->checks.size();
    b->ready = true;
    return;
  }
  stats_.checkedInPool += b->checks.size();
  std::weak_ptr<bool> alive = alive_;
  pool_->check(b->checks, [this, alive, b](std::vector<uint8_t> valid) {
    // A worker thread: hop to the loop.
    loop_.post([this, alive, b, valid = std::move(valid)]() mutable {
      auto a = alive.lock();
      if (!a || !*a) return;
      b->valid = std::move(valid);
      b->ready = true;
      drainBatches();
    });
  });
}

void Replicator::drainBatches() {
  while (!batches_.empty() && batches_.front()->ready) {
    std::shared_ptr<Batch> b = std::move(batches_.front());
    batches_.pop_front();
    finish(*b);
    prepareBatches();
  }
}

void Replicator::finish(Batch& b) {
  int64_t t = now();
  // Records new to us travel on to the other up peers (forward); none, no copies.
  bool forwarding = false;
  if (transport_) {
    for (const auto& p : transport_->peers()) forwarding = forwarding || (p.up && p.machine != b.machine);
  }
  std::vector<Fresh> fresh;
  std::vector<RecordRow> rows;
  rows.reserve(b.items.size());
  for (auto& item : b.items) {
    if (item.check >= 0) {
      auto i = static_cast<size_t>(item.check);
      Status st = item.sealed ? verifier_.conclude(item.record, b.vouched[i], true, t)
                              : verifier_.conclude(item.record, b.checks[i], i < b.valid.size() && b.valid[i] != 0, t);
      if (!st.isOk()) {
        ++stats_.rejected;
        log::debug(kMod, "record rejected", {{"from", b.machine}, {"error", st.message()}});
        continue;
      }
    }
    bool own = item.record.zone == b.machine;
    if (own) b.ack.frames.push_back(ackFrame(item.record));
    // The row (the writer thread's copy) before the record moves into the set.
    bool storable = item.record.seq <= static_cast<uint64_t>(INT64_MAX);  // kith never makes others
    RecordRow row;
    if (storable) row = rowOf(item.record);
    std::optional<rep::Record> prev;
    const rep::Record* held = nullptr;
    auto outcome = records_.offer(std::move(item.record), &prev, &held);
    if (outcome == rep::RecordSet::Outcome::kReplayed || outcome == rep::RecordSet::Outcome::kRolledBack) {
      // A batch ahead of this one brought it (or a newer one) meanwhile.
      (outcome == rep::RecordSet::Outcome::kReplayed ? stats_.replayed : stats_.rolledBack)++;
      continue;
    }
    ++stats_.stored;
    // `held` is valid until the set changes: copy what forward needs first.
    if (forwarding) fresh.push_back({held->zone, held->line, held->objtype == rep::ObjType::kDeleg});
    absorb(*held, prev, true);
    if (storable) rows.push_back(std::move(row));
  }
  const std::string& machine = b.machine;
  // ACK means "stored": it leaves when the batch's writes have committed (the
  // store commits in order), so a sender's replicate_wait_ms reports copies
  // that survive a crash of this daemon.
  std::function<void()> sendAck;
  if (!b.ack.frames.empty()) {
    sendAck = [this, alive = std::weak_ptr<bool>(alive_), machine, ack = std::move(b.ack)]() mutable {
      auto a = alive.lock();
      if (a && *a && transport_) (void)transport_->send(machine, std::move(ack));
    };
  }
  if (!rows.empty()) {
    store_.putRecords(std::move(rows), [after = std::move(sendAck)](Status st) {
      if (!st.isOk()) log::error(kMod, "records not stored", {{"error", st.toString()}});
      if (after) after();
    });
  } else if (sendAck) {
    sendAck();
  }
  forward(machine, std::move(fresh));
}

}  // namespace kith::daemon
