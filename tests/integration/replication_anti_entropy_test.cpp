// Anti-entropy by zone digest with real daemons: a record one daemon missed
// while a newer record of the same zone reached it is still delivered, which
// a version vector alone (max seq per zone) can never do.
#include <boost/test/unit_test.hpp>
#include <fstream>

#include "rogue_node.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(replication_anti_entropy)

BOOST_AUTO_TEST_CASE(a_record_missed_behind_a_newer_one_of_its_zone_is_pulled_by_digest) {
  Mesh mesh;
  mesh.start("a");
  std::string seedA = mesh.seed;
  // b starts unlinked to a (no seed), so nothing is forwarded between them yet.
  mesh.seed.clear();
  mesh.start("b");
  mesh.seed = seedA;
  RogueNode p(mesh, "p", "b");
  p.dial(mesh, "a");
  int64_t t = RogueNode::now();
  auto s1 = p.srv("p", "dev.gap.old.default.p", 10, t - 60, t + 3600);
  auto s2 = p.srv("p", "dev.gap.new.default.p", 20, t - 60, t + 3600);
  p.push("b", {s1.line, s2.line});
  p.push("a", {s2.line});  // a misses seq 10 and gets seq 20: the gap
  BOOST_REQUIRE(errorCode(mesh.resolve("b", "dev.gap.old.default.p", 10000)) == "OK");
  BOOST_REQUIRE(errorCode(mesh.resolve("b", "dev.gap.new.default.p", 10000)) == "OK");
  BOOST_REQUIRE(errorCode(mesh.resolve("a", "dev.gap.new.default.p", 10000)) == "OK");
  BOOST_REQUIRE(errorCode(mesh.resolve("a", "dev.gap.old.default.p")) == "DESTINATION_NOT_FOUND");
  // Link b to a: same version vector for zone p on both (20), different digests.
  mesh.daemons["b"]->stop();
  {
    std::ofstream cfg(mesh.home("b") + ".toml", std::ios::app);
    cfg << "seeds = [\"" << seedA << "\"]\n";
  }
  mesh.restart("b");
  BOOST_TEST(waitFor([&] { return mesh.allUp("a", 1) && mesh.allUp("b", 1); }, 20000));
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.gap.old.default.p", 40000)) == "OK",
             kith::dumpJson(mesh.admin("b").request({{"op", "status"}})->json["replication"]));
  auto st = mesh.admin("b").request({{"op", "status"}})->json["replication"];
  BOOST_TEST(st["zone_resends"].get<uint64_t>() >= 1u, kith::dumpJson(st));
}

BOOST_AUTO_TEST_SUITE_END()
