// What a real kithd does with records a VALID node of its own CA pushes
// (docs/REPLICATION.md "Chain of trust"): records for another machine,
// tampered, expired, replayed and rolled-back records are rejected and
// counted; none of them is stored, served or forwarded.
#include <boost/test/unit_test.hpp>

#include "rogue_node.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(replication_security)

BOOST_AUTO_TEST_CASE(a_valid_node_cannot_publish_records_for_another_machine) {
  Mesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.allUp("a", 1) && mesh.allUp("b", 1); }, 15000));
  RogueNode evil(mesh, "evil", "a");
  int64_t t = RogueNode::now();
  // Its own zone, another machine's address: out of zone.
  auto outOfZone = evil.srv("evil", "dev.db.d1.default.a", 10, t - 60, t + 3600);
  // a's zone, signed with evil's key: the signature is not a's.
  auto forged = evil.srv("a", "dev.db.d2.default.a", 10, t - 60, t + 3600);
  // And one record it may publish: proves the channel works.
  auto own = evil.srv("evil", "dev.ok.o1.default.evil", 10, t - 60, t + 3600);
  evil.push({outOfZone.line, forged.line, own.line});
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.ok.o1.default.evil", 10000)) == "OK");
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "out_of_zone") >= 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "bad_signature") >= 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.db.*.*.*")) == "DESTINATION_NOT_FOUND");
  // b got the legitimate record (forwarded by a), never the others.
  BOOST_TEST(errorCode(mesh.resolve("b", "dev.ok.o1.default.evil", 10000)) == "OK");
  BOOST_TEST(errorCode(mesh.resolve("b", "dev.db.*.*.*")) == "DESTINATION_NOT_FOUND");
  std::string records = kith::dumpJson(mesh.admin("a").request({{"op", "records"}})->json);
  BOOST_TEST(records.find("dev.db.") == std::string::npos, records);
}

BOOST_AUTO_TEST_CASE(tampered_expired_replayed_and_rolled_back_records_are_rejected) {
  Mesh mesh;
  mesh.start("a");
  RogueNode peer(mesh, "p", "a");
  int64_t t = RogueNode::now();
  // Tampered: signed for t1, then the address changed to t2.
  auto tampered = peer.srv("p", "dev.tam.t1.default.p", 10, t - 60, t + 3600);
  std::string line = tampered.line;
  line.replace(line.find("dev.tam.t1"), 10, "dev.tam.t2");
  // Expired an hour ago.
  auto expired = peer.srv("p", "dev.exp.e1.default.p", 10, t - 7200, t - 3600);
  // Not valid for another hour.
  auto future = peer.srv("p", "dev.fut.f1.default.p", 10, t + 3600, t + 7200);
  peer.push({line, expired.line, future.line});
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "bad_signature") >= 1; }, 10000),
             kith::dumpJson(replicationStats(mesh, "a")));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "expired") >= 1; }, 10000));
  BOOST_TEST(waitFor([&] { return rejectedFor(mesh, "a", "not_yet_valid") >= 1; }, 10000));
  for (const char* p : {"dev.tam.*.*.*", "dev.exp.*.*.*", "dev.fut.*.*.*"}) {
    BOOST_TEST(errorCode(mesh.resolve("a", p)) == "DESTINATION_NOT_FOUND", p);
  }
  // A good record, then the same again (replay), then an older tombstone of
  // it (rollback): only the first counts.
  auto v2 = peer.srv("p", "dev.rep.r1.default.p", 20, t - 60, t + 3600);
  peer.push({v2.line});
  BOOST_REQUIRE(errorCode(mesh.resolve("a", "dev.rep.r1.default.p", 10000)) == "OK");
  uint64_t replayedBefore = replicationStats(mesh, "a")["replayed"];
  uint64_t rolledBefore = replicationStats(mesh, "a")["rolled_back"];
  auto gone = kith::replication::makeGone("mesh.kith", "p", "dev.rep.r1.default.p", 19, "deregister");
  BOOST_REQUIRE(kith::replication::sign(gone, peer.key(), t - 60, t + 3600).isOk());
  peer.push({v2.line, gone.line});
  BOOST_TEST(waitFor([&] { return replicationStats(mesh, "a")["replayed"].get<uint64_t>() > replayedBefore; },
                     10000));
  BOOST_TEST(waitFor([&] { return replicationStats(mesh, "a")["rolled_back"].get<uint64_t>() > rolledBefore; },
                     10000));
  // An old tombstone did not end the newer registration.
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.rep.r1.default.p")) == "OK");
  // And the daemon is fine.
  BOOST_TEST(mesh.daemons["a"]->running());
  BOOST_TEST(errorCode(mesh.api("a").request({{"op", "hello"}})->json) == "OK");
}

// At start a daemon re-checks its stored records against the delegs it holds
// (each deleg against the root key), their windows and zones; a row that does
// not parse is deleted. Signatures were checked on arrival and are not checked
// again (docs/ARCHITECTURE.md, Replication: Restart).
BOOST_AUTO_TEST_CASE(a_restart_rechecks_stored_records_against_the_root_and_drops_what_fails) {
  Mesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.allUp("a", 1) && mesh.allUp("b", 1); }, 15000));
  auto cb = mesh.api("b");
  BOOST_REQUIRE_EQUAL(errorCode(cb.request({{"op", "register"}, {"name", "dev.keep.k1.default"},
                                            {"replicate_wait_ms", 5000}})->json), "OK");
  BOOST_REQUIRE(errorCode(mesh.resolve("a", "dev.keep.k1.default.b", 10000)) == "OK");
  {
    RogueNode p(mesh, "p", "a");
    int64_t t = RogueNode::now();
    p.push({p.srv("p", "dev.rp.r1.default.p", 10, t - 60, t + 3600).line});
    BOOST_REQUIRE(errorCode(mesh.resolve("a", "dev.rp.r1.default.p", 10000)) == "OK");
  }
  mesh.daemons["b"]->stop();
  BOOST_REQUIRE_EQUAL(mesh.daemons["a"]->stop(), 0);
  std::string db = mesh.home("a") + "/state.db", out;
  // p's deleg no longer verifies against the root (its signature changed);
  // a row that is not a record at all.
  BOOST_REQUIRE_MESSAGE(runCommand("sqlite3 " + db +
                                       " \"UPDATE records SET line = substr(line, 1, 46) || "
                                       "(CASE WHEN substr(line, 47, 8) = '00000000' THEN '11111111' ELSE '00000000' END) || "
                                       "substr(line, 55) WHERE zone = '.' AND subject = 'p'; "
                                       "INSERT INTO records(zone, subject, slot, seq, line, valid_until) "
                                       "VALUES('q', 'dev.x.y.default.q', 'srv', 1, 'S garbage', 4102444800); "
                                       "SELECT changes();\"",
                                   &out) == 0,
                        out);
  mesh.restart("a");
  // b's record is served from the database, without b.
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.keep.k1.default.b")) == "OK");
  // p's zone went with its deleg; the garbage row is gone from the database.
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.rp.*.*.*")) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(waitFor([&] {
    out.clear();
    return runCommand("sqlite3 " + db + " \"SELECT count(*) FROM records WHERE zone IN ('p', 'q') OR subject = 'p'\"",
                      &out) == 0 && out.substr(0, 1) == "0";
  }, 10000), out);
}

BOOST_AUTO_TEST_SUITE_END()
