// Shards on a real kithd (docs/REPLICATION.md, "Shards"): a seal vouches only
// for the exact records of its own zone that its zone's node key sealed;
// anything else about the records is judged as without a seal, and a seal
// that fails any check costs only itself — the records are then checked one
// by one. The pushes come from a RogueNode: a valid node of the mesh's CA
// speaking the real protocol.
#include <boost/test/unit_test.hpp>

#include "rogue_node.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

uint64_t stat(Mesh& mesh, const std::string& m, const std::string& name) {
  return replicationStats(mesh, m).value(name, uint64_t{0});
}
std::string addr(const std::string& group, int i, const std::string& machine) {
  return "dev." + group + ".w" + std::to_string(i) + ".default." + machine;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_shards)

BOOST_AUTO_TEST_CASE(a_tampered_shard_is_refused_and_its_records_are_checked_one_by_one) {
  Mesh mesh;
  mesh.start("a");
  RogueNode p(mesh, "p", "a");
  int64_t t = RogueNode::now();
  std::vector<std::string> lines;
  for (int i = 0; i < 5; ++i) lines.push_back(p.srv("p", addr("tam", i, "p"), 10 + i, t - 60, t + 3600).line);
  auto msg = p.sealed("p", lines);
  // Changed after sealing: neither the seal's digest nor the record's own
  // signature covers it.
  std::string& third = msg[3];
  third.replace(third.find("dev.tam.w2"), 10, "dev.tam.x2");
  p.push(msg);
  BOOST_TEST(waitFor([&] { return stat(mesh, "a", "shards_refused") >= 1; }, 10000), kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "bad_signature") >= 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  for (int i : {0, 1, 3, 4}) BOOST_TEST(errorCode(mesh.resolve("a", addr("tam", i, "p"), 10000)) == "OK", i);
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.tam.x2.*.*")) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(errorCode(mesh.resolve("a", addr("tam", 2, "p"))) == "DESTINATION_NOT_FOUND");
  json st = replicationStats(mesh, "a");
  BOOST_TEST(st["shards_accepted"].get<uint64_t>() == 0u, kith::dumpJson(st));
  BOOST_TEST(st["signatures_vouched_by_shard"].get<uint64_t>() == 0u, kith::dumpJson(st));
}

BOOST_AUTO_TEST_CASE(a_shard_vouches_only_for_records_of_its_own_zone) {
  Mesh mesh;
  mesh.start("a");
  RogueNode p(mesh, "p", "a");
  int64_t t = RogueNode::now();
  // p's own records (vouched for), a's records forged with p's key (zone a:
  // checked one by one against a's key), and records of zone p about a's
  // machine (vouched signatures, but still out of zone).
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i) lines.push_back(p.srv("p", addr("own", i, "p"), 10 + i, t - 60, t + 3600).line);
  for (int i = 0; i < 2; ++i) lines.push_back(p.srv("a", addr("forged", i, "a"), 10 + i, t - 60, t + 3600).line);
  lines.push_back(p.srv("p", addr("oz", 0, "a"), 20, t - 60, t + 3600).line);
  p.push(p.sealed("p", lines));
  for (int i = 0; i < 4; ++i) BOOST_TEST(errorCode(mesh.resolve("a", addr("own", i, "p"), 10000)) == "OK", i);
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "bad_signature") >= 2; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "out_of_zone") >= 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  json st = replicationStats(mesh, "a");
  BOOST_TEST(st["shards_accepted"].get<uint64_t>() == 1u, kith::dumpJson(st));
  // The four of its own zone and the out-of-zone one (zone p): the seal
  // vouched for their signatures, the zone rule still refused the last.
  BOOST_TEST(st["signatures_vouched_by_shard"].get<uint64_t>() == 5u, kith::dumpJson(st));
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.forged.*.*.*")) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.oz.*.*.*")) == "DESTINATION_NOT_FOUND");

  // A seal that claims a's zone, made with p's key: refused; the forged
  // records are then checked one by one, and fail.
  std::vector<std::string> more;
  for (int i = 2; i < 6; ++i) more.push_back(p.srv("a", addr("forged", i, "a"), 10 + i, t - 60, t + 3600).line);
  uint64_t refusedBefore = stat(mesh, "a", "shards_refused"), badBefore = rejectedFor(mesh, "a", "bad_signature");
  p.push(p.sealed("a", more));
  BOOST_TEST(waitFor([&] { return stat(mesh, "a", "shards_refused") > refusedBefore; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "bad_signature") >= badBefore + 4; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.forged.*.*.*")) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(stat(mesh, "a", "signatures_vouched_by_shard") == 5u);
}

BOOST_AUTO_TEST_CASE(a_replayed_or_expired_shard_gains_nothing) {
  Mesh mesh;
  mesh.start("a");
  RogueNode p(mesh, "p", "a");
  int64_t t = RogueNode::now();
  std::vector<std::string> v1;
  for (int i = 0; i < 4; ++i) v1.push_back(p.srv("p", addr("rep", i, "p"), 10 + i, t - 60, t + 3600).line);
  auto first = p.sealed("p", v1);
  p.push(first);
  for (int i = 0; i < 4; ++i) BOOST_REQUIRE(errorCode(mesh.resolve("a", addr("rep", i, "p"), 10000)) == "OK");
  BOOST_TEST(stat(mesh, "a", "signatures_vouched_by_shard") == 4u);
  // w0 ends (a newer tombstone).
  auto gone = kith::replication::makeGone("mesh.kith", "p", addr("rep", 0, "p"), 30, "deregister");
  BOOST_REQUIRE(kith::replication::sign(gone, p.key(), t - 60, t + 3600).isOk());
  p.push({gone.line});
  BOOST_REQUIRE(waitFor([&] { return errorCode(mesh.resolve("a", addr("rep", 0, "p"))) == "DESTINATION_NOT_FOUND"; },
                        10000));
  // The first shard again, seal and all: valid, and worth nothing — w0's
  // registration is older than its tombstone, the rest are held already.
  uint64_t replayed = stat(mesh, "a", "replayed"), rolled = stat(mesh, "a", "rolled_back");
  p.push(first);
  BOOST_TEST(waitFor([&] { return stat(mesh, "a", "replayed") >= replayed + 3; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return stat(mesh, "a", "rolled_back") >= rolled + 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(errorCode(mesh.resolve("a", addr("rep", 0, "p"))) == "DESTINATION_NOT_FOUND");

  // An expired seal over new, valid records: refused, and the records are
  // checked one by one (and pass: each is signed on its own).
  std::vector<std::string> v2;
  for (int i = 4; i < 8; ++i) v2.push_back(p.srv("p", addr("rep", i, "p"), 40 + i, t - 60, t + 3600).line);
  std::vector<std::string> stale{p.seal("p", v2, t - 7200, t - 3600)};
  stale.insert(stale.end(), v2.begin(), v2.end());
  uint64_t refused = stat(mesh, "a", "shards_refused"), vouched = stat(mesh, "a", "signatures_vouched_by_shard");
  p.push(stale);
  for (int i = 4; i < 8; ++i) BOOST_TEST(errorCode(mesh.resolve("a", addr("rep", i, "p"), 10000)) == "OK", i);
  BOOST_TEST(stat(mesh, "a", "shards_refused") == refused + 1);
  BOOST_TEST(stat(mesh, "a", "signatures_vouched_by_shard") == vouched);
  BOOST_TEST(mesh.daemons["a"]->running());
}

BOOST_AUTO_TEST_SUITE_END()
