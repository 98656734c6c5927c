#include "kith/replication/record_set.h"

#include <algorithm>
#include <utility>

namespace kith::replication {
namespace {

std::string_view slotName(ObjType t) {
  return t == ObjType::kGone ? objTypeName(ObjType::kSrv) : objTypeName(t);
}

std::string slotKey(ObjType t, std::string_view subject) {
  std::string_view slot = slotName(t);
  std::string key;
  key.reserve(slot.size() + 1 + subject.size());
  key.append(slot);
  key.push_back(' ');
  key.append(subject);
  return key;
}

// Heap bytes of a string beyond its in-object (SSO) buffer.
size_t heapOf(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

// What one held record costs: the struct, its strings, its key, and an
// unordered_map node (next pointer + cached hash) plus its bucket slot.
size_t costOf(const std::string& key, const Record& r) {
  size_t n = sizeof(std::string) + sizeof(Record) + 3 * sizeof(void*);
  n += heapOf(key) + heapOf(r.context) + heapOf(r.zone) + heapOf(r.subject) + heapOf(r.line);
  n += r.values.capacity() * sizeof(std::string);
  for (const auto& v : r.values) n += heapOf(v);
  return n;
}

bool bySeq(const Record* a, const Record* b) {
  return a->seq != b->seq ? a->seq < b->seq : a->subject < b->subject;
}

}  // namespace

std::string_view RecordSet::outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kStored: return "stored";
    case Outcome::kReplaced: return "replaced";
    case Outcome::kReplayed: return "replayed";
    case Outcome::kRolledBack: return "rolled_back";
  }
  return "unknown";
}

RecordSet::Outcome RecordSet::offer(Record r, std::optional<Record>* previous, const Record** held) {
  auto zit = zones_.find(r.zone);
  if (zit == zones_.end()) zit = zones_.emplace(r.zone, Zone{}).first;
  auto& records = zit->second.records;
  std::string key = slotKey(r.objtype, r.subject);
  uint64_t seq = r.seq;
  auto it = records.find(key);
  Outcome outcome = Outcome::kStored;
  if (it != records.end()) {
    if (seq == it->second.seq) return Outcome::kReplayed;
    if (seq < it->second.seq) return Outcome::kRolledBack;
    bytes_ -= costOf(it->first, it->second);
    if (previous) *previous = std::move(it->second);
    it->second = std::move(r);
    bytes_ += costOf(it->first, it->second);
    outcome = Outcome::kReplaced;
  } else {
    it = records.emplace(std::move(key), std::move(r)).first;
    bytes_ += costOf(it->first, it->second);
    ++count_;
  }
  uint64_t& max = versions_[zit->first];
  max = std::max(max, seq);
  zit->second.changedAt = ++generation_;
  if (held) *held = &it->second;
  return outcome;
}

RecordSet::Outcome RecordSet::classify(const Record& r) const {
  const Record* held = find(r.zone, r.subject, r.objtype);
  if (!held) return Outcome::kStored;
  if (r.seq == held->seq) return Outcome::kReplayed;
  return r.seq < held->seq ? Outcome::kRolledBack : Outcome::kReplaced;
}

const Record* RecordSet::find(std::string_view zone, std::string_view subject,
                              ObjType type) const {
  auto zit = zones_.find(zone);
  if (zit == zones_.end()) return nullptr;
  auto it = zit->second.records.find(slotKey(type, subject));
  return it == zit->second.records.end() ? nullptr : &it->second;
}

std::vector<const Record*> RecordSet::bySubject(std::string_view subject) const {
  std::vector<const Record*> out;
  for (const auto& [name, zone] : zones_) {
    for (ObjType t : {ObjType::kDeleg, ObjType::kInfra, ObjType::kSrv, ObjType::kIp4,
                      ObjType::kIp6}) {
      auto it = zone.records.find(slotKey(t, subject));
      if (it != zone.records.end()) out.push_back(&it->second);
    }
  }
  return out;
}

std::vector<const Record*> RecordSet::byZone(std::string_view zone) const {
  std::vector<const Record*> out;
  auto zit = zones_.find(zone);
  if (zit == zones_.end()) return out;
  out.reserve(zit->second.records.size());
  for (const auto& [key, r] : zit->second.records) out.push_back(&r);
  std::sort(out.begin(), out.end(), bySeq);
  return out;
}

size_t RecordSet::zoneSize(std::string_view zone) const {
  auto zit = zones_.find(zone);
  return zit == zones_.end() ? 0 : zit->second.records.size();
}

std::vector<const Record*> RecordSet::all() const { return newerThan({}); }

uint64_t RecordSet::maxSeq(std::string_view zone) const {
  auto it = versions_.find(std::string(zone));
  return it == versions_.end() ? 0 : it->second;
}

std::vector<const Record*> RecordSet::newerThan(const VersionVector& peer) const {
  std::vector<const Record*> out;
  for (const auto& [name, zone] : zones_) {
    auto pit = peer.find(name);
    bool absent = pit == peer.end();
    uint64_t have = absent ? 0 : pit->second;
    // Our vector says whether this zone has anything the peer lacks.
    if (!absent && maxSeq(name) <= have) continue;
    size_t first = out.size();
    for (const auto& [key, r] : zone.records) {
      if (absent || r.seq > have) out.push_back(&r);
    }
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), bySeq);
  }
  return out;
}

uint64_t RecordSet::zoneGeneration(std::string_view zone) const {
  auto it = zones_.find(zone);
  return it == zones_.end() ? 0 : it->second.changedAt;
}

std::vector<std::string> RecordSet::zones() const {
  std::vector<std::string> out;
  out.reserve(zones_.size());
  for (const auto& [name, zone] : zones_) out.push_back(name);
  return out;
}

std::vector<Record> RecordSet::reapExpired(int64_t now) {
  std::vector<Record> dropped;
  for (auto zit = zones_.begin(); zit != zones_.end();) {
    auto& records = zit->second.records;
    for (auto it = records.begin(); it != records.end();) {
      if (it->second.validUntil < now) {
        bytes_ -= costOf(it->first, it->second);
        dropped.push_back(std::move(it->second));
        it = records.erase(it);
        zit->second.changedAt = ++generation_;
        --count_;
      } else {
        ++it;
      }
    }
    // The zone's entry in versions_ stays: it records what we have seen.
    zit = records.empty() ? zones_.erase(zit) : std::next(zit);
  }
  return dropped;
}

}  // namespace kith::replication
