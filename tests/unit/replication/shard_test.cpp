// Shards (shard.h): the seal's bytes pinned by a test vector computed apart
// (Python's hashlib BLAKE2b and the `cryptography` package's Ed25519 over the
// RFC 8032 TEST 2 seed), the strict parser, and every check of checkShard.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "kith/replication/shard.h"
#include "kith/replication/verifier.h"
#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;
using kith::identity::SigningKey;

namespace {

constexpr std::string_view kDigestHex = "adc409138ac882800ca86a1efc057d204504430a7eaccffed21b422e4c49679f";
constexpr std::string_view kSigHex =
    "33881a0b1c586e1bd49ac50aa1465846a6531a23647091c78febae9f3519c39b"
    "9de1e9faf7bf26003af21b0f3c71a7be77bb9fecfbad45b421860db810afbb00";
const std::vector<std::string> kFrames = {"frame one", "frame two"};

using Held = VerifierWithNode1;
// The srv records of node1, sealed by `key` as zone `zone`.
std::vector<std::string> records(const SigningKey& key, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(srvRecord("node1", "dev.web.w" + std::to_string(i) + ".default.node1", 10 + i, key).line);
  }
  return out;
}

ShardSeal sealOf(std::string_view zone, const std::vector<std::string>& frames, const SigningKey& key,
                 int64_t from = kFrom, int64_t until = kUntil) {
  auto line = sealShard(kTrustDomain, zone, frames, key, from, until);
  BOOST_REQUIRE_MESSAGE(line.isOk(), line.status().toString());
  auto s = parseShard(*line);
  BOOST_REQUIRE_MESSAGE(s.isOk(), s.status().toString());
  return *s;
}

std::string refusal(const ShardSeal& s, const std::vector<std::string>& frames, const Verifier& v,
                    int64_t now = kNow) {
  kith::identity::PublicKey key{};
  kith::Status st = checkShard(s, frames, v, now, &key);
  BOOST_REQUIRE(!st.isOk());
  return st.message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shard)

BOOST_AUTO_TEST_CASE(test_vector_pins_the_digest_signing_input_and_seal_line) {
  SigningKey node = nodeKey();
  auto line = sealShard(kTrustDomain, "node1", kFrames, node, kFrom, kUntil);
  BOOST_REQUIRE(line.isOk());
  std::string input = "SHARD 2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 dev.kith node1 2 " + std::string(kDigestHex);
  BOOST_TEST(*line == "SHARD 2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 " + std::string(kSigHex) +
                          " dev.kith node1 2 " + std::string(kDigestHex));
  auto s = parseShard(*line);
  BOOST_REQUIRE(s.isOk());
  BOOST_TEST(shardSigningInput(*s) == input);
  BOOST_TEST(kith::toHex(s->digest.data(), s->digest.size()) == kDigestHex);
  BOOST_TEST(shardLine(*s) == *line);
  BOOST_TEST(s->count == 2u);
  BOOST_TEST(s->validFrom == kFrom);
  BOOST_TEST(s->validUntil == kUntil);
}

BOOST_AUTO_TEST_CASE(the_digest_tells_order_and_boundaries_apart) {
  ShardDigest ab = shardDigest(std::vector<std::string>{"ab", "c"});
  BOOST_TEST((ab != shardDigest(std::vector<std::string>{"a", "bc"})));
  BOOST_TEST((ab != shardDigest(std::vector<std::string>{"c", "ab"})));
  BOOST_TEST((ab != shardDigest(std::vector<std::string>{"ab", "c", ""})));
  BOOST_TEST((ab == shardDigest(std::vector<std::string>{"ab", "c"})));
}

BOOST_AUTO_TEST_CASE(malformed_seals_are_refused_by_the_parser) {
  SigningKey node = nodeKey();
  std::string good = *sealShard(kTrustDomain, "node1", kFrames, node, kFrom, kUntil);
  BOOST_REQUIRE(parseShard(good).isOk());
  auto swap = [&](size_t token, const std::string& with) {
    std::vector<std::string> t;
    size_t at = 0;
    while (true) {
      size_t sp = good.find(' ', at);
      t.push_back(good.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
      if (sp == std::string::npos) break;
      at = sp + 1;
    }
    t[token] = with;
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) out += (i ? " " : "") + t[i];
    return out;
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "does not start"},
      {"S " + good.substr(6), "does not start"},
      {good + " ", "expected 9 tokens"},
      {good + " extra", "expected 9 tokens"},
      {swap(1, "2026-11-22 08:05:52"), "expected 9 tokens"},
      {swap(1, "2026-02-31T08:05:52Z"), "valid-from"},
      {swap(2, "2026-11-21T08:05:52Z"), "empty validity window"},
      {swap(3, "2"), "unknown cipher"},
      {swap(4, std::string(128, 'A')), "signature"},
      {swap(4, "00"), "signature"},
      {swap(6, "no.dots"), "zone"},
      {swap(7, "02"), "count"},
      {swap(7, "-1"), "count"},
      {swap(7, "99999999999999999999"), "count"},
      {swap(8, std::string(kDigestHex).substr(2)), "digest"},
      {good + std::string(1100, 'x'), "longer than"},
  };
  for (const auto& [line, why] : bad) {
    auto s = parseShard(line);
    BOOST_TEST(!s.isOk(), line.substr(0, 80));
    if (!s.isOk()) BOOST_TEST(s.status().message().find(why) != std::string::npos, s.status().message());
  }
}

BOOST_AUTO_TEST_CASE(a_seal_by_the_zones_node_key_over_exactly_its_records_passes) {
  Held h;
  auto frames = records(h.node, 5);
  ShardSeal s = sealOf("node1", frames, h.node);
  kith::identity::PublicKey key{};
  kith::Status st = checkShard(s, frames, h.v, kNow, &key);
  BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  BOOST_TEST((key == h.node.publicKey()));
  // The precomputed form says the same.
  BOOST_TEST(checkShard(s, shardDigest(frames), frames.size(), h.v, kNow, &key).isOk());
  // It counts nothing: a seal is not a record.
  for (const auto& [reason, n] : h.v.rejected()) BOOST_TEST(n == 0u, reason);
}

BOOST_AUTO_TEST_CASE(a_tampered_record_or_a_changed_message_breaks_the_digest) {
  Held h;
  auto frames = records(h.node, 5);
  ShardSeal s = sealOf("node1", frames, h.node);
  auto tampered = frames;
  tampered[2].replace(tampered[2].find("dev.web.w2"), 10, "dev.web.x2");
  BOOST_TEST(refusal(s, tampered, h.v).find("do not match its digest") != std::string::npos);
  auto reordered = frames;
  std::swap(reordered[0], reordered[1]);
  BOOST_TEST(refusal(s, reordered, h.v).find("do not match its digest") != std::string::npos);
  auto shorter = frames;
  shorter.pop_back();
  BOOST_TEST(refusal(s, shorter, h.v).find("counts 5 records, the message has 4") != std::string::npos);
  // A changed digest in the seal itself: the signature no longer covers it.
  ShardSeal forged = sealOf("node1", tampered, h.node);
  forged.signature = s.signature;
  BOOST_TEST(refusal(forged, tampered, h.v).find("does not verify") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_seal_must_be_signed_by_its_own_zones_key) {
  Held h;
  auto frames = records(h.node, 4);
  // node1's records, sealed with another key that claims to be node1.
  ShardSeal impostor = sealOf("node1", frames, SigningKey::generate());
  BOOST_TEST(refusal(impostor, frames, h.v).find("does not verify with the zone's node key") != std::string::npos);
  // Sealed with the root key, which is not the zone's key.
  ShardSeal byRoot = sealOf("node1", frames, h.root);
  BOOST_TEST(refusal(byRoot, frames, h.v).find("does not verify") != std::string::npos);
  // A zone we hold no deleg for.
  ShardSeal unknown = sealOf("node2", frames, h.node);
  BOOST_TEST(refusal(unknown, frames, h.v).find("no deleg held") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_seal_outside_its_window_or_of_another_trust_domain_is_refused) {
  Held h;
  auto frames = records(h.node, 4);
  ShardSeal s = sealOf("node1", frames, h.node, kNow - 600, kNow + 600);
  kith::identity::PublicKey key{};
  BOOST_TEST(checkShard(s, frames, h.v, kNow, &key).isOk());
  BOOST_TEST(refusal(s, frames, h.v, kNow + 601).find("expired") != std::string::npos);
  BOOST_TEST(refusal(s, frames, h.v, kNow - 601).find("is valid from") != std::string::npos);
  auto other = sealShard("other.kith", "node1", frames, h.node, kFrom, kUntil);
  BOOST_REQUIRE(other.isOk());
  auto parsed = parseShard(*other);
  BOOST_REQUIRE(parsed.isOk());
  BOOST_TEST(refusal(*parsed, frames, h.v).find("trust domain") != std::string::npos);
  // sealShard refuses an inverted window.
  BOOST_TEST(!sealShard(kTrustDomain, "node1", frames, h.node, kUntil, kFrom).isOk());
}

BOOST_AUTO_TEST_SUITE_END()
