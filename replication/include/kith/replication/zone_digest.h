// ZoneDigest: what a daemon holds of one zone, in a few bytes — the number of
// records and a BLAKE2b-128 over their sorted (subject, slot, seq) — so
// anti-entropy can see a gap a version vector cannot: a version vector keeps
// only the highest seq per zone, so a record missed while a newer record of
// the same zone arrived stays missed forever. A PULL carries our digests next
// to our version vector; the peer answers with every record newer than the
// vector, plus every record of each zone whose digest differs from its own
// while both vectors agree on that zone (zonesToResend). A receiver drops what
// it already holds as cheap replays, so a transient difference (a record
// reaped on one side first) costs one resend of that zone, no more.
//
// Wire form (PULL frame 2): JSON {"<zone>":[<count>,"<32 hex>"],...}.
//
// Thread rules: none (pure functions).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"
#include "kith/replication/record.h"
#include "kith/replication/record_set.h"
#include "kith/replication/version_vector.h"

namespace kith::replication {

struct ZoneDigest {
  uint64_t count = 0;
  std::string hash;  // 32 lowercase hex digits
  bool operator==(const ZoneDigest&) const = default;
};
using ZoneDigests = std::map<std::string, ZoneDigest>;

// The digest of one zone's records (any order; srv and gone share a slot).
ZoneDigest zoneDigest(const std::vector<const Record*>& records);
// Every zone of the set.
ZoneDigests zoneDigests(const RecordSet& set);

std::string encodeZoneDigests(const ZoneDigests& d);
// Untrusted input: a flat object of at most kMaxVersionVectorZones zones, each
// [count, 32 hex digits]; BAD_REQUEST otherwise.
Result<ZoneDigests> parseZoneDigests(std::string_view json);

// The zones a puller should get in full from us: we hold the zone, its digest
// differs from the puller's (or the puller sent none for it), and both
// version vectors have the same seq for it. A puller ahead of us holds more
// (our own PULL fetches it); a puller behind gets what is above its vector
// now and is compared again once it caught up.
std::vector<std::string> zonesToResend(const ZoneDigests& ours, const VersionVector& ourVv,
                                       const ZoneDigests& theirs, const VersionVector& theirVv);

}  // namespace kith::replication
