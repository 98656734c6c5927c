#include "kith/replication/record_set.h"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "kith/replication/version_vector.h"
#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;
using Outcome = RecordSet::Outcome;

namespace {

constexpr std::string_view kAddr = "dev.web.nginx1.default.node1";

// Records for the set need no valid signature (the set trusts its caller), so
// most tests build them unsigned and give them a validity window by hand.
Record srv(std::string_view machine, std::string_view address, uint64_t seq,
           int64_t until = kUntil) {
  Record r = makeSrv(kTrustDomain, machine, address, seq, {"tcp"}, "listen", {}, kHashHex);
  r.validFrom = kFrom;
  r.validUntil = until;
  return r;
}

Record gone(std::string_view machine, std::string_view address, uint64_t seq) {
  Record r = makeGone(kTrustDomain, machine, address, seq, "deregister");
  r.validFrom = kFrom;
  r.validUntil = kUntil;
  return r;
}

std::string addr(std::string_view machine, int i) {
  return "dev.web.w" + std::to_string(i) + ".default." + std::string(machine);
}

std::string outcome(Outcome o) { return std::string(RecordSet::outcomeName(o)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_record_set)

BOOST_AUTO_TEST_CASE(first_version_is_stored_and_a_newer_one_replaces_it) {
  RecordSet set;
  BOOST_TEST(outcome(set.offer(srv("node1", kAddr, 3))) == "stored");
  std::optional<Record> previous;
  BOOST_TEST(outcome(set.offer(srv("node1", kAddr, 5), &previous)) == "replaced");
  BOOST_REQUIRE(previous.has_value());
  BOOST_TEST(previous->seq == 3u);
  BOOST_TEST(set.size() == 1u);
  const Record* held = set.find("node1", kAddr, ObjType::kSrv);
  BOOST_REQUIRE(held != nullptr);
  BOOST_TEST(held->seq == 5u);
  BOOST_TEST(set.maxSeq("node1") == 5u);
}

BOOST_AUTO_TEST_CASE(same_seq_again_is_a_replay_and_changes_nothing) {
  RecordSet set;
  set.offer(srv("node1", kAddr, 5));
  Record rival = srv("node1", kAddr, 5);
  rival.values[kSrvTargetKind] = "tcp";
  std::optional<Record> previous;
  BOOST_TEST(outcome(set.offer(rival, &previous)) == "replayed");
  BOOST_TEST(!previous.has_value());
  BOOST_TEST(set.find("node1", kAddr, ObjType::kSrv)->values[kSrvTargetKind] == "listen");
}

BOOST_AUTO_TEST_CASE(older_seq_is_a_rollback_and_changes_nothing) {
  RecordSet set;
  set.offer(srv("node1", kAddr, 5));
  BOOST_TEST(outcome(set.offer(srv("node1", kAddr, 4))) == "rolled_back");
  BOOST_TEST(outcome(set.offer(gone("node1", kAddr, 1))) == "rolled_back");
  BOOST_TEST(set.find("node1", kAddr, ObjType::kSrv)->seq == 5u);
  BOOST_TEST(set.maxSeq("node1") == 5u);
}

BOOST_AUTO_TEST_CASE(classify_predicts_offer_without_storing) {
  RecordSet set;
  BOOST_TEST(outcome(set.classify(srv("node1", kAddr, 5))) == "stored");
  BOOST_TEST(set.size() == 0u);
  set.offer(srv("node1", kAddr, 5));
  BOOST_TEST(outcome(set.classify(srv("node1", kAddr, 5))) == "replayed");
  BOOST_TEST(outcome(set.classify(srv("node1", kAddr, 4))) == "rolled_back");
  BOOST_TEST(outcome(set.classify(gone("node1", kAddr, 6))) == "replaced");
  BOOST_TEST(set.find("node1", kAddr, ObjType::kSrv)->seq == 5u);
}

BOOST_AUTO_TEST_CASE(gone_replaces_srv_and_a_later_srv_replaces_gone) {
  RecordSet set;
  set.offer(srv("node1", kAddr, 5));
  std::optional<Record> previous;
  BOOST_TEST(outcome(set.offer(gone("node1", kAddr, 6), &previous)) == "replaced");
  BOOST_TEST((previous->objtype == ObjType::kSrv));
  BOOST_TEST(set.size() == 1u);
  const Record* held = set.find("node1", kAddr, ObjType::kSrv);
  BOOST_REQUIRE(held != nullptr);
  BOOST_TEST((held->objtype == ObjType::kGone));
  BOOST_TEST(set.find("node1", kAddr, ObjType::kGone) == held);
  BOOST_TEST(outcome(set.offer(srv("node1", kAddr, 9))) == "replaced");
  BOOST_TEST((set.find("node1", kAddr, ObjType::kGone)->objtype == ObjType::kSrv));
}

BOOST_AUTO_TEST_CASE(records_of_different_slots_and_zones_are_kept_apart) {
  RecordSet set;
  auto node = nodeKey();
  Record deleg = makeDeleg(kTrustDomain, "node1", 1, node.publicKey());
  Record infra = makeInfra(kTrustDomain, "node1", 2, "tcp://10.0.0.1:7001", "");
  Record ip4 = makeInfra(kTrustDomain, "node1", 3, "x", "");
  ip4.objtype = ObjType::kIp4;
  ip4.values = {"192.0.2.1"};
  BOOST_TEST(outcome(set.offer(deleg)) == "stored");
  BOOST_TEST(outcome(set.offer(infra)) == "stored");
  BOOST_TEST(outcome(set.offer(ip4)) == "stored");
  BOOST_TEST(outcome(set.offer(srv("node1", kAddr, 4))) == "stored");
  BOOST_TEST(outcome(set.offer(srv("node2", "dev.web.nginx1.default.node2", 4))) == "stored");
  BOOST_TEST(set.size() == 5u);
  BOOST_TEST(set.zoneCount() == 3u);  // ".", node1, node2
  BOOST_TEST(set.bySubject("node1").size() == 3u);  // deleg, infra, ip4
  BOOST_TEST(set.bySubject(kAddr).size() == 1u);
  BOOST_TEST(set.bySubject("nobody").empty());
  auto zone = set.byZone("node1");
  BOOST_REQUIRE(zone.size() == 3u);
  BOOST_TEST(zone[0]->seq == 2u);  // seq order
  BOOST_TEST(zone[1]->seq == 3u);
  BOOST_TEST(zone[2]->seq == 4u);
  BOOST_TEST(set.byZone("node9").empty());
  BOOST_TEST(set.find(".", "node1", ObjType::kDeleg) != nullptr);
  BOOST_TEST(set.find("node1", "node1", ObjType::kIp6) == nullptr);
  BOOST_TEST(set.find("node9", "node1", ObjType::kInfra) == nullptr);
  BOOST_TEST(set.all().size() == 5u);
}

BOOST_AUTO_TEST_CASE(version_vector_holds_the_highest_seq_per_zone) {
  RecordSet set;
  set.offer(srv("node1", addr("node1", 1), 4));
  set.offer(srv("node1", addr("node1", 2), 9));
  set.offer(srv("node1", addr("node1", 3), 7));
  set.offer(srv("node2", addr("node2", 1), 2));
  set.offer(srv("node2", addr("node2", 1), 1));  // rolled back: no effect
  BOOST_TEST((set.versionVector() == VersionVector{{"node1", 9}, {"node2", 2}}));
  BOOST_TEST(set.maxSeq("node3") == 0u);
}

BOOST_AUTO_TEST_CASE(newer_than_gives_what_the_peer_lacks_in_seq_order) {
  RecordSet set;
  for (int i = 1; i <= 10; ++i) set.offer(srv("node1", addr("node1", i), 11 - i));
  for (int i = 1; i <= 3; ++i) set.offer(srv("node2", addr("node2", i), i));
  set.offer(srv("node3", addr("node3", 1), 1));

  auto out = set.newerThan({{"node1", 7}, {"node2", 3}});
  // node1 seqs 8..10, nothing of node2, all of node3 (absent from the vector).
  BOOST_REQUIRE(out.size() == 4u);
  BOOST_TEST(out[0]->zone == "node1");
  BOOST_TEST(out[0]->seq == 8u);
  BOOST_TEST(out[1]->seq == 9u);
  BOOST_TEST(out[2]->seq == 10u);
  BOOST_TEST(out[3]->zone == "node3");
  BOOST_TEST(set.newerThan(set.versionVector()).empty());
  BOOST_TEST(set.newerThan({}).size() == set.size());
  // A peer ahead of us gets nothing.
  BOOST_TEST(set.newerThan({{"node1", 100}, {"node2", 100}, {"node3", 100}}).empty());
}

BOOST_AUTO_TEST_CASE(two_sets_converge_by_exchanging_vectors) {
  RecordSet a, b;
  for (int i = 1; i <= 50; ++i) a.offer(srv("node1", addr("node1", i % 20), i));
  for (int i = 1; i <= 30; ++i) b.offer(srv("node2", addr("node2", i % 7), i));
  a.offer(srv("node2", addr("node2", 1), 15));  // a has part of node2's history
  for (const Record* r : a.newerThan(b.versionVector())) b.offer(*r);
  for (const Record* r : b.newerThan(a.versionVector())) a.offer(*r);
  BOOST_TEST((a.versionVector() == b.versionVector()));
  BOOST_TEST(a.size() == b.size());
  BOOST_TEST(a.size() == 27u);
  for (const Record* r : a.all()) {
    const Record* other = b.find(r->zone, r->subject, r->objtype);
    BOOST_REQUIRE(other != nullptr);
    BOOST_TEST(other->seq == r->seq);
  }
}

BOOST_AUTO_TEST_CASE(reap_drops_expired_records_and_keeps_the_vector) {
  RecordSet set;
  set.offer(srv("node1", addr("node1", 1), 1, kFrom + 10));
  set.offer(srv("node1", addr("node1", 2), 2, kFrom + 20));
  set.offer(srv("node2", addr("node2", 1), 5, kFrom + 10));
  size_t bytesBefore = set.approxBytes();
  BOOST_TEST(set.reapExpired(kFrom + 10).empty());  // valid-until is inclusive
  auto dropped = set.reapExpired(kFrom + 11);
  BOOST_TEST(dropped.size() == 2u);
  BOOST_TEST(set.size() == 1u);
  BOOST_TEST(set.zoneCount() == 1u);
  BOOST_TEST(set.approxBytes() < bytesBefore);
  BOOST_TEST((set.versionVector() == VersionVector{{"node1", 2}, {"node2", 5}}));
  BOOST_TEST(set.find("node1", addr("node1", 1), ObjType::kSrv) == nullptr);
  BOOST_TEST(set.find("node1", addr("node1", 2), ObjType::kSrv) != nullptr);
  set.reapExpired(kFrom + 21);
  BOOST_TEST(set.size() == 0u);
  BOOST_TEST(set.approxBytes() == 0u);
}

// What a per-zone cache (the replicator's zone digests) relies on: a zone's
// generation moves when that zone changes, and only then.
BOOST_AUTO_TEST_CASE(a_zones_generation_moves_only_when_that_zone_changes) {
  RecordSet set;
  BOOST_TEST(set.zoneGeneration("node1") == 0u);
  const Record* held = nullptr;
  BOOST_TEST(outcome(set.offer(srv("node1", addr("node1", 1), 1, kFrom + 10), nullptr, &held)) == "stored");
  BOOST_REQUIRE(held != nullptr);
  BOOST_TEST(held->subject == addr("node1", 1));
  set.offer(srv("node2", addr("node2", 1), 5));
  uint64_t g1 = set.zoneGeneration("node1"), g2 = set.zoneGeneration("node2");
  BOOST_TEST(g1 != 0u);
  BOOST_TEST(g2 > g1);
  set.offer(srv("node1", addr("node1", 1), 1));  // a replay changes nothing
  BOOST_TEST(set.zoneGeneration("node1") == g1);
  set.offer(srv("node2", addr("node2", 2), 6));
  BOOST_TEST(set.zoneGeneration("node1") == g1);
  BOOST_TEST(set.zoneGeneration("node2") > g2);
  BOOST_TEST((set.zones() == std::vector<std::string>{"node1", "node2"}));
  // Reaping node1's only record forgets the zone; a new record of it later
  // gets a generation never seen before.
  set.reapExpired(kFrom + 11);
  BOOST_TEST(set.zoneGeneration("node1") == 0u);
  BOOST_TEST((set.zones() == std::vector<std::string>{"node2"}));
  set.offer(srv("node1", addr("node1", 3), 3));
  BOOST_TEST(set.zoneGeneration("node1") > g1);
}

BOOST_AUTO_TEST_CASE(memory_estimate_follows_the_records) {
  RecordSet set;
  BOOST_TEST(set.approxBytes() == 0u);
  Record r = srv("node1", kAddr, 1);
  r.line = std::string(300, 'x');
  set.offer(r);
  size_t one = set.approxBytes();
  BOOST_TEST(one > 300u + sizeof(Record));
  BOOST_TEST(one < 2000u);
  r.seq = 2;
  set.offer(r);
  BOOST_TEST(set.approxBytes() == one);
}

BOOST_AUTO_TEST_CASE(version_vector_json_round_trips) {
  VersionVector vv{{".", 3}, {"node1", 42}, {"node-2_b", UINT64_MAX}};
  std::string json = encodeVersionVector(vv);
  BOOST_TEST(json == R"({".":3,"node-2_b":18446744073709551615,"node1":42})");
  auto back = parseVersionVector(json);
  BOOST_REQUIRE_MESSAGE(back.isOk(), back.status().toString());
  BOOST_TEST((*back == vv));
  BOOST_TEST(encodeVersionVector({}) == "{}");
  BOOST_TEST(parseVersionVector("{}")->empty());
  BOOST_TEST(parseVersionVector(" { \"node1\" : 0 } \n").isOk());
}

BOOST_AUTO_TEST_CASE(malformed_version_vectors_are_rejected) {
  auto expectBad = [](std::string_view json, std::string_view needle) {
    auto r = parseVersionVector(json);
    BOOST_TEST_CONTEXT(json.substr(0, 80)) {
      BOOST_REQUIRE(!r.isOk());
      BOOST_TEST((r.status().code() == kith::Code::kBadRequest));
      BOOST_TEST(r.status().message().find(needle) != std::string::npos, r.status().message());
    }
  };
  expectBad("", "not valid JSON");
  expectBad("{", "not valid JSON");
  expectBad("{\"node1\":1} x", "not valid JSON");
  expectBad("{\"node1\":1}{}", "not valid JSON");
  expectBad("[]", "not a JSON object");
  expectBad("7", "must be an object");
  expectBad("{\"node1\":-1}", "unsigned integers");
  expectBad("{\"node1\":1.5}", "unsigned integers");
  expectBad("{\"node1\":1e3}", "unsigned integers");
  expectBad("{\"node1\":18446744073709551616}", "unsigned integers");
  expectBad("{\"node1\":\"3\"}", "unsigned integers");
  expectBad("{\"node1\":null}", "unsigned integers");
  expectBad("{\"node1\":true}", "unsigned integers");
  expectBad("{\"node1\":{}}", "unsigned integers");
  expectBad("{\"node1\":[1]}", "unsigned integers");
  expectBad("{\"node.1\":1}", "key 'node.1' is not a zone name");
  expectBad("{\"\":1}", "is not a zone name");
  expectBad("{\"node1\":1,\"node1\":2}", "zone 'node1' appears twice");
  expectBad(std::string(100000, '[') , "not a JSON object");
  expectBad(std::string(kMaxVersionVectorBytes + 1, ' '), "bytes, at most");
  std::string many = "{";
  for (size_t i = 0; i <= kMaxVersionVectorZones; ++i) {
    many += (i ? ",\"n" : "\"n") + std::to_string(i) + "\":1";
  }
  many += "}";
  expectBad(many, "more than 16384 zones");
}

BOOST_AUTO_TEST_CASE(anti_entropy_over_100k_records_completes) {
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  };
  // One realistic signed line, reused: the set does not check signatures.
  std::string line = srvRecord("node1", kAddr, 1, nodeKey()).line;
  constexpr int kZones = 100, kPerZone = 1000;
  RecordSet full;
  auto t0 = Clock::now();
  for (int z = 0; z < kZones; ++z) {
    std::string machine = "node" + std::to_string(z);
    for (int i = 1; i <= kPerZone; ++i) {
      Record r = srv(machine, addr(machine, i), static_cast<uint64_t>(i));
      r.line = line;
      full.offer(std::move(r));
    }
  }
  auto t1 = Clock::now();
  BOOST_REQUIRE(full.size() == 100000u);

  // A fresh peer pulls everything; a peer that is half-way pulls the rest.
  auto everything = full.newerThan({});
  auto t2 = Clock::now();
  VersionVector half;
  for (const auto& [zone, seq] : full.versionVector()) half[zone] = seq / 2;
  auto rest = full.newerThan(half);
  auto t3 = Clock::now();
  BOOST_TEST(everything.size() == 100000u);
  BOOST_TEST(rest.size() == 50000u);

  RecordSet fresh;
  for (const Record* r : everything) fresh.offer(*r);
  auto t4 = Clock::now();
  BOOST_TEST((fresh.versionVector() == full.versionVector()));
  auto vvJson = encodeVersionVector(full.versionVector());
  BOOST_TEST(parseVersionVector(vvJson).isOk());
  BOOST_TEST(fresh.reapExpired(kNow).empty());
  auto t5 = Clock::now();

  BOOST_TEST_MESSAGE("100k records: load " << ms(t0, t1) << " ms, newerThan(all) " << ms(t1, t2)
                     << " ms, newerThan(half) " << ms(t2, t3) << " ms, apply to a fresh set "
                     << ms(t3, t4) << " ms, vector JSON + reap " << ms(t4, t5) << " ms; ~"
                     << full.approxBytes() / full.size() << " B/record held");
}

BOOST_AUTO_TEST_SUITE_END()
