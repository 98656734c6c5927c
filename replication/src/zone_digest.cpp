#include "kith/replication/zone_digest.h"

#include <sodium.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "kith/common/encoding.h"
#include "kith/common/json.h"
#include "kith/identity/spiffe.h"

namespace kith::replication {
namespace {

constexpr size_t kHashBytes = 16;

std::string_view slotName(const Record& r) {
  return r.objtype == ObjType::kGone ? objTypeName(ObjType::kSrv) : objTypeName(r.objtype);
}

bool validZone(std::string_view z) { return z == kRootZone || identity::isValidMachineName(z); }

bool isLowerHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

ZoneDigest zoneDigest(const std::vector<const Record*>& records) {
  std::vector<std::string> keys;
  keys.reserve(records.size());
  for (const Record* r : records) {
    std::string k = r->subject;
    k += '\0';
    k += slotName(*r);
    k += '\0';
    k += std::to_string(r->seq);
    keys.push_back(std::move(k));
  }
  std::sort(keys.begin(), keys.end());
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kHashBytes);
  for (const auto& k : keys) {
    // Length-prefixed, so no two different sets hash the same input.
    uint64_t n = k.size();
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(&n), sizeof n);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(k.data()), k.size());
  }
  unsigned char out[kHashBytes];
  crypto_generichash_final(&st, out, sizeof out);
  return ZoneDigest{records.size(), toHex(out, sizeof out)};
}

ZoneDigests zoneDigests(const RecordSet& set) {
  std::map<std::string, std::vector<const Record*>> byZone;
  for (const Record* r : set.all()) byZone[r->zone].push_back(r);
  ZoneDigests out;
  for (const auto& [zone, recs] : byZone) out.emplace(zone, zoneDigest(recs));
  return out;
}

std::string encodeZoneDigests(const ZoneDigests& d) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [zone, z] : d) j[zone] = nlohmann::json::array({z.count, z.hash});
  return dumpJson(j);
}

Result<ZoneDigests> parseZoneDigests(std::string_view text) {
  auto j = parseJson(text);
  if (!j.is_object()) return Status::badRequest("zone digests: not a JSON object");
  if (j.size() > kMaxVersionVectorZones) return Status::badRequest("zone digests: too many zones");
  ZoneDigests out;
  for (const auto& [zone, v] : j.items()) {
    if (!validZone(zone)) return Status::badRequest("zone digests: '" + zone.substr(0, 80) + "' is not a zone");
    if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_string()) {
      return Status::badRequest("zone digests: " + zone + " is not [count, hash]");
    }
    std::string hash = v[1].get<std::string>();
    if (hash.size() != 2 * kHashBytes || !isLowerHex(hash)) {
      return Status::badRequest("zone digests: " + zone + " hash is not 32 lowercase hex digits");
    }
    out.emplace(zone, ZoneDigest{v[0].get<uint64_t>(), std::move(hash)});
  }
  return out;
}

std::vector<std::string> zonesToResend(const ZoneDigests& ours, const VersionVector& ourVv,
                                       const ZoneDigests& theirs, const VersionVector& theirVv) {
  std::vector<std::string> out;
  for (const auto& [zone, d] : ours) {
    auto t = theirs.find(zone);
    if (t != theirs.end() && t->second == d) continue;
    auto ov = ourVv.find(zone), tv = theirVv.find(zone);
    uint64_t mine = ov == ourVv.end() ? 0 : ov->second, theirsMax = tv == theirVv.end() ? 0 : tv->second;
    // Only where the vectors agree: a puller that is behind gets what is above
    // its vector anyway (newerThan) and is looked at again once it caught up;
    // resending whole zones to it meanwhile would send its catch-up twice.
    if (theirsMax != mine) continue;
    out.push_back(zone);
  }
  return out;
}

}  // namespace kith::replication
