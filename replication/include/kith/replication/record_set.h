// RecordSet: the records a daemon holds — the latest version per (zone,
// subject, slot) — plus the per-zone version vector for anti-entropy. The
// RAINS assertion cache: expired records are reaped.
//
// Slots: `srv` and `gone` share one (a tombstone replaces the registration it
// ends, and a later registration replaces the tombstone); deleg, infra, ip4 and
// ip6 each have their own. offer() enforces the last rule of
// docs/REPLICATION.md: only a higher seq replaces what is held; the same seq is
// a replay, a lower one a rollback (the caller counts those with
// Verifier::count). Records offered here must already have passed
// Verifier::verify; the set does not check signatures.
//
// The version vector holds, per zone, the highest seq ever stored — it does not
// go down when records are replaced or reaped, so peers are not asked to resend
// what was superseded or expired.
//
// Cost: offer, find O(1) average (zones in a small ordered map); newerThan
// O(records held + k log k); reapExpired O(records held). Pointers returned stay
// valid until the next non-const call.
//
// Thread rules: none; one owner uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kith/replication/record.h"
#include "kith/replication/version_vector.h"

namespace kith::replication {

class RecordSet {
 public:
  enum class Outcome { kStored, kReplaced, kReplayed, kRolledBack };
  // "stored", "replaced", "replayed", "rolled_back".
  static std::string_view outcomeName(Outcome o);

  // Stores r if its slot is empty (kStored) or holds a lower seq (kReplaced;
  // the old record is moved to *previous when given). Otherwise the set is
  // unchanged: kReplayed (same seq) or kRolledBack (held seq is higher).
  // When stored or replaced, *held (if given) points at the record as held.
  Outcome offer(Record r, std::optional<Record>* previous = nullptr, const Record** held = nullptr);
  // What offer(r) would answer, without storing. Cheap (no signature check),
  // so a receiver can drop replays and rollbacks before paying for verify().
  Outcome classify(const Record& r) const;

  // The record held in the slot of `type` (kSrv and kGone find the same one).
  const Record* find(std::string_view zone, std::string_view subject, ObjType type) const;
  // Every record about `subject`, over all zones and slots.
  std::vector<const Record*> bySubject(std::string_view subject) const;
  // Every record of `zone`, in seq order.
  std::vector<const Record*> byZone(std::string_view zone) const;
  // Every record, by zone name then seq.
  std::vector<const Record*> all() const;

  // Highest seq stored per zone.
  const VersionVector& versionVector() const { return versions_; }
  uint64_t maxSeq(std::string_view zone) const;

  // Anti-entropy: every held record whose seq is above the peer's entry for its
  // zone, and every record of zones the peer does not list; by zone then seq
  // (so a receiver applies each origin's records in order).
  std::vector<const Record*> newerThan(const VersionVector& peer) const;

  // Drops records whose valid-until is before `now` and returns them.
  std::vector<Record> reapExpired(int64_t now);

  size_t size() const { return count_; }
  size_t zoneCount() const { return zones_.size(); }
  // Records held of one zone: byZone(zone).size() without the copy and sort.
  size_t zoneSize(std::string_view zone) const;
  // Changes whenever a record is stored, replaced or reaped: lets callers
  // cache what they derive from the set (zone digests).
  uint64_t generation() const { return generation_; }
  // The generation() of the last change to `zone` (0: not held): lets callers
  // cache what they derive per zone.
  uint64_t zoneGeneration(std::string_view zone) const;
  // The zones held, in name order.
  std::vector<std::string> zones() const;
  // Approximate heap + struct bytes held for the records (not the vector).
  size_t approxBytes() const { return bytes_; }

 private:
  struct Zone {
    // Key: "<slot> <subject>" (tokens never contain spaces).
    std::unordered_map<std::string, Record> records;
    uint64_t changedAt = 0;  // generation_ after its last change
  };

  std::map<std::string, Zone, std::less<>> zones_;
  VersionVector versions_;
  size_t count_ = 0;
  size_t bytes_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace kith::replication
