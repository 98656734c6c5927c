// Shard: an origin's one signature over a batch of its own zone's records —
// RAINS's signed shard — so that a daemon catching up checks one signature per
// RECORDS message instead of one per record (docs/REPLICATION.md, "Shards").
//
// A RECORDS message may start with a seal frame:
//
//   SHARD <valid-from> <valid-until> <cipher> <hexsig> <context> <zone> <count> <digest>
//
// - <count>: the number of frames after the seal (all of the message's records);
// - <digest>: 64 hex digits, BLAKE2b-256 over those frames in order, each
//   preceded by its length as 8 bytes little-endian;
// - the signature (cipher 1 = Ed25519, by <zone>'s node key) covers
//   "SHARD <valid-from> <valid-until> <cipher> <context> <zone> <count> <digest>".
//   The "SHARD " prefix keeps a seal's signing input from ever being a
//   record's (a record's starts with a digit).
//
// What a seal vouches for: that the holder of <zone>'s node key sent exactly
// these record lines. A receiver whose check of the seal passes takes the
// signature of each record OF THAT ZONE in the message as checked; every other
// rule of the Verifier still applies to each record (context, window, zone of
// the subject, the zone's deleg and its window, seq newer than held). Records
// of other zones in a sealed message are checked one by one. A seal that fails
// any check costs nothing but its own check: the records are then checked one
// by one, as if it were absent. A daemon that predates shards rejects the seal
// frame as one malformed record and checks the rest one by one.
//
// Records are pure values; the functions here are pure and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::replication {

class Verifier;

inline constexpr std::string_view kShardPrefix = "SHARD ";
inline constexpr size_t kShardDigestBytes = 32;
using ShardDigest = std::array<uint8_t, kShardDigestBytes>;

struct ShardSeal {
  std::string context;
  std::string zone;
  uint64_t count = 0;
  ShardDigest digest{};
  int64_t validFrom = 0;
  int64_t validUntil = 0;
  uint8_t cipher = 1;
  identity::Signature signature{};
};

// Whether a RECORDS frame is a seal (starts with "SHARD ").
inline bool isShardFrame(std::string_view frame) { return frame.starts_with(kShardPrefix); }

// BLAKE2b-256 over the frames as described above.
ShardDigest shardDigest(std::span<const std::string> frames);

// "SHARD <valid-from> <valid-until> <cipher> <context> <zone> <count> <digest>"
std::string shardSigningInput(const ShardSeal& s);
// The seal frame (with the signature).
std::string shardLine(const ShardSeal& s);

// Strict parse of a seal frame; BAD_REQUEST "shard: <what is wrong>".
Result<ShardSeal> parseShard(std::string_view line);

// The seal frame for `frames` (records of `zone`), signed with `key`, valid
// [validFrom, validUntil]. BAD_REQUEST for an empty or inverted window.
Result<std::string> sealShard(std::string_view context, std::string_view zone,
                              std::span<const std::string> frames, const identity::SigningKey& key,
                              int64_t validFrom, int64_t validUntil);

// Checks `seal` against the records that follow it and the verifier's held
// delegs: our trust domain, cipher 1, a held deleg for the zone, count and
// digest equal to `frames`, now inside the seal's window, and the signature
// by the zone's node key. On success *key is the key that signed it (a record
// is vouched for only while its zone's deleg still names that key).
// UNAUTHORIZED (BAD_REQUEST for count/cipher) naming the failed check.
// Counts nothing: a failed seal rejects no record.
Status checkShard(const ShardSeal& seal, std::span<const std::string> frames,
                  const Verifier& verifier, int64_t now, identity::PublicKey* key);
// The same, given the digest and number of those frames (computed earlier,
// before the frames were consumed).
Status checkShard(const ShardSeal& seal, const ShardDigest& framesDigest, size_t frameCount,
                  const Verifier& verifier, int64_t now, identity::PublicKey* key);

}  // namespace kith::replication
