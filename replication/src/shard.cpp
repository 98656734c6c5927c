#include "kith/replication/shard.h"

#include <sodium.h>

#include <vector>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/identity/spiffe.h"
#include "kith/replication/record.h"
#include "kith/replication/verifier.h"

namespace kith::replication {
namespace {

constexpr size_t kMaxShardLine = 1024;
constexpr size_t kMaxToken = 255;

Status bad(std::string what) { return Status::badRequest("shard: " + what); }
Status refused(std::string what) { return Status(Code::kUnauthorized, "shard: " + what); }

bool isToken(std::string_view s) {
  if (s.empty() || s.size() > kMaxToken) return false;
  for (char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

bool isLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A time token, strictly: it must re-format to itself.
bool parseTime(std::string_view s, int64_t* out) {
  std::string str(s);
  return parseSecondsIso(str, out) && *out >= 0 && *out <= kMaxRecordTime &&
         formatSecondsIso(*out) == str;
}

bool parseCount(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

template <size_t N>
bool decodeHex(std::string_view s, std::array<uint8_t, N>* out) {
  if (!isLowerHex(s, 2 * N)) return false;
  auto bytes = fromHex(s);
  if (!bytes || bytes->size() != N) return false;
  std::copy(bytes->begin(), bytes->end(), out->begin());
  return true;
}

}  // namespace

ShardDigest shardDigest(std::span<const std::string> frames) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kShardDigestBytes);
  for (const auto& f : frames) {
    // Length-prefixed (fixed byte order): no two different frame lists hash
    // the same input.
    uint8_t len[8];
    uint64_t n = f.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(f.data()), f.size());
  }
  ShardDigest out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

namespace {

// "SHARD <from> <until> <cipher> [<hexsig> ]<context> <zone> <count> <digest>"
std::string compose(const ShardSeal& s, bool withSignature) {
  std::string out(kShardPrefix);
  out += formatSecondsIso(s.validFrom);
  out += ' ';
  out += formatSecondsIso(s.validUntil);
  out += ' ';
  out += std::to_string(s.cipher);
  out += ' ';
  if (withSignature) {
    out += toHex(s.signature.data(), s.signature.size());
    out += ' ';
  }
  out += s.context;
  out += ' ';
  out += s.zone;
  out += ' ';
  out += std::to_string(s.count);
  out += ' ';
  out += toHex(s.digest.data(), s.digest.size());
  return out;
}

}  // namespace

std::string shardSigningInput(const ShardSeal& s) { return compose(s, false); }

std::string shardLine(const ShardSeal& s) { return compose(s, true); }

Result<ShardSeal> parseShard(std::string_view line) {
  if (line.size() > kMaxShardLine) return bad("longer than " + std::to_string(kMaxShardLine) + " bytes");
  if (!isShardFrame(line)) return bad("does not start with 'SHARD '");
  std::vector<std::string_view> t;
  size_t at = 0;
  while (at <= line.size()) {
    size_t sp = line.find(' ', at);
    if (sp == std::string_view::npos) sp = line.size();
    t.push_back(line.substr(at, sp - at));
    at = sp + 1;
  }
  if (t.size() != 9) return bad("expected 9 tokens, got " + std::to_string(t.size()));
  ShardSeal s;
  if (!parseTime(t[1], &s.validFrom)) return bad("bad valid-from");
  if (!parseTime(t[2], &s.validUntil)) return bad("bad valid-until");
  if (s.validUntil < s.validFrom) return bad("empty validity window");
  if (t[3] != "1") return bad("unknown cipher");
  s.cipher = kCipherEd25519;
  if (!decodeHex(t[4], &s.signature)) return bad("signature is not 128 lowercase hex digits");
  if (!isToken(t[5])) return bad("bad context");
  s.context = std::string(t[5]);
  if (!identity::isValidMachineName(t[6])) return bad("zone is not a machine name");
  s.zone = std::string(t[6]);
  if (!parseCount(t[7], &s.count)) return bad("bad count");
  if (!decodeHex(t[8], &s.digest)) return bad("digest is not 64 lowercase hex digits");
  return s;
}

Result<std::string> sealShard(std::string_view context, std::string_view zone,
                              std::span<const std::string> frames, const identity::SigningKey& key,
                              int64_t validFrom, int64_t validUntil) {
  if (validFrom < 0 || validUntil > kMaxRecordTime || validUntil < validFrom) {
    return bad("validity window is empty or out of range");
  }
  ShardSeal s;
  s.context = std::string(context);
  s.zone = std::string(zone);
  s.count = frames.size();
  s.digest = shardDigest(frames);
  s.validFrom = validFrom;
  s.validUntil = validUntil;
  s.cipher = kCipherEd25519;
  s.signature = key.sign(shardSigningInput(s));
  return shardLine(s);
}

Status checkShard(const ShardSeal& seal, std::span<const std::string> frames,
                  const Verifier& verifier, int64_t now, identity::PublicKey* key) {
  return checkShard(seal, shardDigest(frames), frames.size(), verifier, now, key);
}

Status checkShard(const ShardSeal& seal, const ShardDigest& framesDigest, size_t frameCount,
                  const Verifier& verifier, int64_t now, identity::PublicKey* key) {
  std::string what = "seal of zone " + seal.zone;
  if (seal.context != verifier.trustDomain()) {
    return refused(what + " is for trust domain '" + seal.context.substr(0, 80) + "'");
  }
  if (seal.cipher != kCipherEd25519) return bad(what + ": unknown cipher");
  const identity::PublicKey* nodeKey = verifier.nodeKey(seal.zone);
  if (nodeKey == nullptr) return refused(what + ": no deleg held for the zone");
  if (seal.count != frameCount) {
    return bad(what + " counts " + std::to_string(seal.count) + " records, the message has " +
               std::to_string(frameCount));
  }
  if (now > seal.validUntil) return refused(what + " expired at " + formatSecondsIso(seal.validUntil));
  if (now < seal.validFrom) return refused(what + " is valid from " + formatSecondsIso(seal.validFrom));
  if (framesDigest != seal.digest) return refused(what + ": the records do not match its digest");
  if (!identity::verifyEd25519(*nodeKey, shardSigningInput(seal), seal.signature)) {
    return refused(what + " does not verify with the zone's node key");
  }
  *key = *nodeKey;
  return Status::ok();
}

}  // namespace kith::replication
