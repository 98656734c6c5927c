#include "kith/replication/verifier.h"

#include <boost/test/unit_test.hpp>

#include <string>

#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;
using kith::identity::SigningKey;

namespace {

constexpr std::string_view kAddr = "dev.web.nginx1.default.node1";

// node1 held; the tests also make records of other machines with its keys.
using Mesh = VerifierWithNode1;

// Verifies and checks the outcome: the reason, its counter, and the message prefix.
void expectRejection(Verifier& v, const Record& r, int64_t now, Rejection want) {
  uint64_t before = v.rejectedCount(want);
  Rejection why = Rejection::kMalformed;
  kith::Status st = v.verify(r, now, &why);
  BOOST_TEST_CONTEXT(r.line) {
    BOOST_REQUIRE(!st.isOk());
    BOOST_TEST(rejectionName(why) == rejectionName(want));
    BOOST_TEST(v.rejectedCount(want) == before + 1);
    BOOST_TEST(st.message().rfind(std::string(rejectionName(want)) + ": ", 0) == 0u, st.message());
    BOOST_TEST((st.code() == (want == Rejection::kMalformed ? kith::Code::kBadRequest
                                                              : kith::Code::kUnauthorized)));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_verifier)

BOOST_AUTO_TEST_CASE(record_signed_by_the_delegated_node_key_verifies) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  kith::Status st = m.v.verify(srv, kNow);
  BOOST_TEST(st.isOk(), st.toString());
  BOOST_TEST(m.v.delegCount() == 1u);
  BOOST_REQUIRE(m.v.nodeKey("node1") != nullptr);
  BOOST_TEST((*m.v.nodeKey("node1") == m.node.publicKey()));
  BOOST_TEST(m.v.deleg("node1")->seq == 1u);
  BOOST_TEST(m.v.nodeKey("node2") == nullptr);
  BOOST_TEST((m.v.machines() == std::vector<std::string>{"node1"}));
  for (const auto& [name, n] : m.v.rejected()) BOOST_TEST(n == 0u, name);
  BOOST_TEST(m.v.rejected().size() == kRejectionCount);
}

BOOST_AUTO_TEST_CASE(a_line_from_the_network_is_accepted_end_to_end) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  auto r = m.v.accept(srv.line, kNow);
  BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().toString());
  BOOST_TEST(r->sameAs(srv));
  Rejection why{};
  auto bad = m.v.accept(srv.line + " ", kNow, &why);
  BOOST_TEST(!bad.isOk());
  BOOST_TEST(rejectionName(why) == "malformed");
  BOOST_TEST(m.v.rejected().at("malformed") == 1u);
  BOOST_TEST(bad.status().message().find("malformed: record: empty token") == 0u,
             bad.status().message());
}

BOOST_AUTO_TEST_CASE(forged_signature_is_rejected) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  Record flipped = srv;
  flipped.signature[5] ^= 0x40;
  expectRejection(m.v, flipped, kNow, Rejection::kBadSignature);
  // Signed by some other key that claims to be node1.
  Record impostor = srvRecord("node1", kAddr, 7, SigningKey::generate());
  expectRejection(m.v, impostor, kNow, Rejection::kBadSignature);
  // Signed by the root key, which is not the zone's key.
  Record byRoot = srvRecord("node1", kAddr, 7, m.root);
  expectRejection(m.v, byRoot, kNow, Rejection::kBadSignature);
}

BOOST_AUTO_TEST_CASE(tampered_value_is_no_longer_covered_by_the_signature) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  // In memory.
  Record wider = srv;
  wider.values[kSrvWhitelist] = "*.*.*.*.*";
  expectRejection(m.v, wider, kNow, Rejection::kBadSignature);
  Record bumped = srv;
  bumped.seq = 8;
  expectRejection(m.v, bumped, kNow, Rejection::kBadSignature);
  Record longer = srv;
  longer.validUntil += 86400;
  expectRejection(m.v, longer, kNow, Rejection::kBadSignature);
  // On the wire: the same edit in the signed line still parses, and is refused.
  std::string line = srv.line;
  line.replace(line.find("dev.client.*.*.*"), 16, "*.*.*.*.*");
  Rejection why{};
  auto r = m.v.accept(line, kNow, &why);
  BOOST_TEST(!r.isOk());
  BOOST_TEST(rejectionName(why) == "bad_signature");
}

BOOST_AUTO_TEST_CASE(records_outside_their_window_are_expired_or_not_yet_valid) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node, kFrom + 100, kFrom + 200);
  BOOST_TEST(m.v.verify(srv, kFrom + 100).isOk());  // both ends inclusive
  BOOST_TEST(m.v.verify(srv, kFrom + 200).isOk());
  expectRejection(m.v, srv, kFrom + 201, Rejection::kExpired);
  expectRejection(m.v, srv, kFrom + 99, Rejection::kNotYetValid);
  kith::Status st = m.v.verify(srv, kFrom + 201);
  BOOST_TEST(st.message().find("expired at 2026-11-22T08:09:12Z") != std::string::npos,
             st.message());
}

BOOST_AUTO_TEST_CASE(record_of_a_zone_without_deleg_is_unknown_zone) {
  Mesh m;
  SigningKey other = SigningKey::generate();
  Record srv = srvRecord("node2", "dev.web.x.default.node2", 1, other);
  expectRejection(m.v, srv, kNow, Rejection::kUnknownZone);
}

BOOST_AUTO_TEST_CASE(deleg_signed_by_another_root_is_refused) {
  Mesh m;
  SigningKey otherRoot = SigningKey::generate();
  SigningKey node2 = SigningKey::generate();
  Record deleg = delegRecord("node2", 1, node2, otherRoot);
  Rejection why{};
  kith::Status st = m.v.addDeleg(deleg, kNow, &why);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(rejectionName(why) == "bad_signature");
  BOOST_TEST(st.message().find("does not verify with the root key") != std::string::npos,
             st.message());
  BOOST_TEST(m.v.nodeKey("node2") == nullptr);
  // So node2's records stay unknown.
  expectRejection(m.v, srvRecord("node2", "dev.web.x.default.node2", 1, node2), kNow,
                  Rejection::kUnknownZone);
  // verify() on a deleg checks it against the root key too.
  expectRejection(m.v, deleg, kNow, Rejection::kBadSignature);
  BOOST_TEST(m.v.verify(delegRecord("node2", 1, node2, m.root), kNow).isOk());
}

BOOST_AUTO_TEST_CASE(node_may_not_speak_for_another_machine) {
  Mesh m;
  SigningKey node2 = SigningKey::generate();
  BOOST_REQUIRE(m.v.addDeleg(delegRecord("node2", 1, node2, m.root), kNow).isOk());
  // node1 signs, in its own zone, an address of node2.
  expectRejection(m.v, srvRecord("node1", "dev.web.x.default.node2", 3, m.node), kNow,
                  Rejection::kOutOfZone);
  expectRejection(m.v,
                  signedOrFail(makeGone(kTrustDomain, "node1", "dev.web.x.default.node2", 4, "exit"),
                               m.node),
                  kNow, Rejection::kOutOfZone);
  Record infra = makeInfra(kTrustDomain, "node1", 5, "tcp://x:1", "");
  infra.subject = "node2";
  expectRejection(m.v, signedOrFail(std::move(infra), m.node), kNow, Rejection::kOutOfZone);
  // node1 signs in node2's zone: node2's key does not verify it.
  expectRejection(m.v, srvRecord("node2", "dev.web.x.default.node2", 3, m.node), kNow,
                  Rejection::kBadSignature);
  // node2 speaking for itself is fine.
  BOOST_TEST(m.v.verify(srvRecord("node2", "dev.web.x.default.node2", 3, node2), kNow).isOk());
}

BOOST_AUTO_TEST_CASE(record_of_another_trust_domain_is_wrong_context) {
  Mesh m;
  Record srv = signedOrFail(makeSrv("prod.kith", "node1", kAddr, 7, {"tcp"}, "listen", {},
                                    kHashHex),
                            m.node);
  expectRejection(m.v, srv, kNow, Rejection::kWrongContext);
  Record deleg = signedOrFail(makeDeleg("prod.kith", "node3", 1, m.node.publicKey()), m.root);
  Rejection why{};
  BOOST_TEST(!m.v.addDeleg(deleg, kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "wrong_context");
}

BOOST_AUTO_TEST_CASE(newer_deleg_rotates_the_node_key) {
  Mesh m;
  Record oldSrv = srvRecord("node1", kAddr, 7, m.node);
  BOOST_REQUIRE(m.v.verify(oldSrv, kNow).isOk());

  SigningKey rotated = SigningKey::generate();
  Record deleg2 = delegRecord("node1", 2, rotated, m.root);
  kith::Status st = m.v.addDeleg(deleg2, kNow);
  BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  BOOST_TEST((*m.v.nodeKey("node1") == rotated.publicKey()));
  BOOST_TEST(m.v.deleg("node1")->seq == 2u);
  expectRejection(m.v, oldSrv, kNow, Rejection::kBadSignature);
  BOOST_TEST(m.v.verify(srvRecord("node1", kAddr, 8, rotated), kNow).isOk());

  // The same deleg again is fine; the old one, or a rival with the same seq, is not.
  BOOST_TEST(m.v.addDeleg(deleg2, kNow).isOk());
  Rejection why{};
  BOOST_TEST(!m.v.addDeleg(delegRecord("node1", 1, m.node, m.root), kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "rolled_back");
  BOOST_TEST(!m.v.addDeleg(delegRecord("node1", 2, m.node, m.root), kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "replayed");
  BOOST_TEST((*m.v.nodeKey("node1") == rotated.publicKey()));
  BOOST_TEST(m.v.rejected().at("rolled_back") == 1u);
  BOOST_TEST(m.v.rejected().at("replayed") == 1u);
}

BOOST_AUTO_TEST_CASE(expired_deleg_stops_its_zone_from_verifying) {
  SigningKey root = rootKey();
  SigningKey node = nodeKey();
  Verifier v(std::string(kTrustDomain), root.publicKey());
  BOOST_REQUIRE(v.addDeleg(delegRecord("node1", 1, node, root, kFrom, kFrom + 1000), kFrom).isOk());
  Record srv = srvRecord("node1", kAddr, 7, node, kFrom, kUntil);
  BOOST_TEST(v.verify(srv, kFrom + 1000).isOk());
  expectRejection(v, srv, kFrom + 1001, Rejection::kExpired);
  kith::Status st = v.verify(srv, kFrom + 1001);
  BOOST_TEST(st.message().find("the deleg of zone node1 expired") != std::string::npos,
             st.message());
  BOOST_TEST(v.reapExpired(kFrom + 1000).empty());
  BOOST_TEST((v.reapExpired(kFrom + 1001) == std::vector<std::string>{"node1"}));
  expectRejection(v, srv, kFrom + 1001, Rejection::kUnknownZone);
  // An expired or not yet valid deleg is not taken at all.
  Rejection why{};
  BOOST_TEST(!v.addDeleg(delegRecord("node1", 2, node, root, kFrom, kFrom + 1000), kFrom + 5000,
                         &why)
                  .isOk());
  BOOST_TEST(rejectionName(why) == "expired");
  BOOST_TEST(!v.addDeleg(delegRecord("node1", 2, node, root, kFrom + 10, kUntil), kFrom, &why)
                  .isOk());
  BOOST_TEST(rejectionName(why) == "not_yet_valid");
  BOOST_TEST(v.delegCount() == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_records_built_in_memory_are_rejected) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  Record shortValues = srv;
  shortValues.values.pop_back();
  expectRejection(m.v, shortValues, kNow, Rejection::kMalformed);
  Record backwards = srv;
  std::swap(backwards.validFrom, backwards.validUntil);
  expectRejection(m.v, backwards, kNow, Rejection::kMalformed);
  Record cipher = srv;
  cipher.cipher = 2;
  expectRejection(m.v, cipher, kNow, Rejection::kMalformed);
  Rejection why{};
  BOOST_TEST(!m.v.addDeleg(srv, kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "malformed");
}

BOOST_AUTO_TEST_CASE(rejections_decided_elsewhere_are_counted_too) {
  Mesh m;
  m.v.count(Rejection::kReplayed);
  m.v.count(Rejection::kRolledBack);
  m.v.count(Rejection::kRolledBack);
  auto c = m.v.rejected();
  BOOST_TEST(c.at("replayed") == 1u);
  BOOST_TEST(c.at("rolled_back") == 2u);
  BOOST_TEST(c.at("bad_signature") == 0u);
  for (size_t i = 0; i < kRejectionCount; ++i) {
    BOOST_TEST(c.count(std::string(rejectionName(static_cast<Rejection>(i)))) == 1u);
  }
}

// precheck + a signature check elsewhere + conclude: what the daemon does with
// its SignaturePool. Same verdicts and counters as verify().
BOOST_AUTO_TEST_CASE(split_verification_accepts_what_verify_accepts) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  SignatureCheck check;
  kith::Status st = m.v.precheck(srv, &check);
  BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  BOOST_TEST((check.key == m.node.publicKey()));
  BOOST_TEST(check.input == signingInput(srv));
  BOOST_TEST(check.valid());
  st = m.v.conclude(srv, check, check.valid(), kNow);
  BOOST_TEST(st.isOk(), st.toString());
  for (const auto& [name, n] : m.v.rejected()) BOOST_TEST(n == 0u, name);
}

BOOST_AUTO_TEST_CASE(split_verification_rejects_a_bad_signature_verdict) {
  Mesh m;
  Record srv = srvRecord("node1", kAddr, 7, m.node);
  SignatureCheck check;
  BOOST_REQUIRE(m.v.precheck(srv, &check).isOk());
  Rejection why{};
  kith::Status st = m.v.conclude(srv, check, /*signatureValid=*/false, kNow, &why);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(rejectionName(why) == "bad_signature");
  BOOST_TEST(m.v.rejected().at("bad_signature") == 1u);
  // A forged record's check says so itself.
  Record forged = srv;
  forged.signature[0] ^= 1;
  BOOST_REQUIRE(m.v.precheck(forged, &check).isOk());
  BOOST_TEST(!check.valid());
}

BOOST_AUTO_TEST_CASE(precheck_applies_the_rules_before_the_signature) {
  Mesh m;
  SignatureCheck check;
  Rejection why{};
  BOOST_TEST(!m.v.precheck(srvRecord("node2", "dev.web.a.default.node2", 3, m.node), &check, &why).isOk());
  BOOST_TEST(rejectionName(why) == "unknown_zone");
  Record other = signedOrFail(makeSrv("other.kith", "node1", kAddr, 4, {"tcp"}, "listen", {}, kHashHex), m.node);
  BOOST_TEST(!m.v.precheck(other, &check, &why).isOk());
  BOOST_TEST(rejectionName(why) == "wrong_context");
  // Expiry is conclude's (after the signature), as in verify().
  Record old = srvRecord("node1", kAddr, 5, m.node, kFrom - 100, kFrom - 10);
  BOOST_REQUIRE(m.v.precheck(old, &check).isOk());
  BOOST_TEST(!m.v.conclude(old, check, check.valid(), kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "expired");
  BOOST_TEST(m.v.rejected().at("unknown_zone") == 1u);
  BOOST_TEST(m.v.rejected().at("wrong_context") == 1u);
  BOOST_TEST(m.v.rejected().at("expired") == 1u);
}

// A rotation between precheck and conclude: the record is judged by the deleg
// held at conclude, whatever the check said about the old key.
BOOST_AUTO_TEST_CASE(conclude_judges_by_the_deleg_held_then) {
  Mesh m;
  Record oldSrv = srvRecord("node1", kAddr, 7, m.node);
  SignatureCheck oldCheck;
  BOOST_REQUIRE(m.v.precheck(oldSrv, &oldCheck).isOk());
  BOOST_REQUIRE(oldCheck.valid());

  SigningKey rotated = SigningKey::generate();
  Record newSrv = srvRecord("node1", kAddr, 8, rotated);
  SignatureCheck newCheck;
  BOOST_REQUIRE(m.v.precheck(newSrv, &newCheck).isOk());
  BOOST_TEST(!newCheck.valid());  // against the old key

  BOOST_REQUIRE(m.v.addDeleg(delegRecord("node1", 2, rotated, m.root), kNow).isOk());
  Rejection why{};
  BOOST_TEST(!m.v.conclude(oldSrv, oldCheck, true, kNow, &why).isOk());
  BOOST_TEST(rejectionName(why) == "bad_signature");
  kith::Status st = m.v.conclude(newSrv, newCheck, false, kNow);
  BOOST_TEST(st.isOk(), st.toString());
  BOOST_TEST(m.v.rejected().at("bad_signature") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
