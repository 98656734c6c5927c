// Fixed keys, times and records shared by the record-layer tests.
#pragma once

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "kith/common/encoding.h"
#include "kith/identity/keys.h"
#include "kith/replication/record.h"
#include "kith/replication/signer.h"
#include "kith/replication/verifier.h"

namespace kith::replication::testing {

// RFC 8032 section 7.1 TEST 1 (root) and TEST 2 (node) seeds.
inline constexpr std::string_view kRootSeedHex =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
inline constexpr std::string_view kNodeSeedHex =
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
inline constexpr std::string_view kNodePubHex =
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
inline constexpr std::string_view kTrustDomain = "dev.kith";
inline constexpr std::string_view kHashHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
// 2026-11-22T08:05:52Z and one week later.
inline constexpr int64_t kFrom = 1795334752;
inline constexpr int64_t kUntil = 1795939552;
inline constexpr int64_t kNow = kFrom + 3600;

inline identity::SigningKey keyFromSeed(std::string_view hex) {
  auto seed = fromHex(hex);
  BOOST_REQUIRE(seed.has_value());
  auto key = identity::SigningKey::fromSeed(*seed);
  BOOST_REQUIRE(key.isOk());
  return std::move(key).value();
}
inline identity::SigningKey rootKey() { return keyFromSeed(kRootSeedHex); }
inline identity::SigningKey nodeKey() { return keyFromSeed(kNodeSeedHex); }

inline Record signedOrFail(Record r, const identity::SigningKey& key, int64_t from = kFrom,
                           int64_t until = kUntil) {
  Status st = sign(r, key, from, until);
  BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  return r;
}

inline Record srvRecord(std::string_view machine, std::string_view address, uint64_t seq,
                        const identity::SigningKey& key, int64_t from = kFrom,
                        int64_t until = kUntil) {
  return signedOrFail(makeSrv(kTrustDomain, machine, address, seq, {"tcp"}, "listen",
                              {"dev.client.*.*.*"}, kHashHex),
                      key, from, until);
}

inline Record delegRecord(std::string_view machine, uint64_t seq,
                          const identity::SigningKey& node, const identity::SigningKey& root,
                          int64_t from = kFrom, int64_t until = kUntil) {
  return signedOrFail(makeDeleg(kTrustDomain, machine, seq, node.publicKey()), root, from, until);
}

// The root and node keys, and a Verifier holding node1's deleg (seq 1).
struct VerifierWithNode1 {
  identity::SigningKey root = rootKey();
  identity::SigningKey node = nodeKey();
  Verifier v{std::string(kTrustDomain), root.publicKey()};

  VerifierWithNode1() {
    Status st = v.addDeleg(delegRecord("node1", 1, node, root), kNow);
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  }
};

}  // namespace kith::replication::testing
