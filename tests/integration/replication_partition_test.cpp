// Five real daemons converge; one of them, in its own network namespace
// behind a veth pair, is partitioned from the other four and healed:
// registrations made on both sides during the partition are visible
// everywhere afterwards.
#include <boost/test/unit_test.hpp>

#include "mesh.h"
#include "netns.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kMachines = {"a", "b", "c", "d", "e"};

bool seesEverywhere(Mesh& mesh, const std::vector<std::string>& on, const std::string& address) {
  for (const auto& m : on) {
    if (errorCode(mesh.resolve(m, address)) != "OK") return false;
  }
  return true;
}

std::string peerState(Mesh& mesh, const std::string& on, const std::string& machine) {
  for (auto& p : mesh.peers(on)) {
    if (p["machine"] == machine) return p.value("state", "");
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_partition)

BOOST_AUTO_TEST_CASE(five_daemons_converge_and_a_partition_heals) {
  if (!VethNetns::available()) {
    BOOST_TEST_MESSAGE("skipped: needs root and ip(8) for a network namespace");
    return;
  }
  VethNetns ns;
  Mesh mesh;
  // a..d bind the host end of the veth, e the namespace end: every link to e
  // crosses the veth, which cut() takes down.
  mesh.listenHost = ns.hostIp();
  mesh.listenHostOf["e"] = ns.nsIp();
  mesh.netnsOf["e"] = ns.name();
  for (const auto& m : kMachines) mesh.start(m);
  BOOST_REQUIRE(waitFor([&] {
    for (const auto& m : kMachines) {
      if (!mesh.allUp(m, 4)) return false;
    }
    return true;
  }, 30000));
  // One registration per machine, each visible on all five.
  std::map<std::string, TestClient> clients;
  for (const auto& m : kMachines) {
    clients.emplace(m, mesh.api(m));
    auto r = clients.at(m).request({{"op", "register"}, {"name", "dev.svc.s1.default"}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  }
  BOOST_TEST(waitFor([&] {
    for (const auto& m : kMachines) {
      if (!seesEverywhere(mesh, kMachines, "dev.svc.s1.default." + m)) return false;
    }
    return true;
  }, 30000));
  auto list = mesh.api("c").request({{"op", "resolve"}, {"name", "dev.svc.*.*.*"}})->json;
  BOOST_TEST(list["workloads"].size() == 5u, kith::dumpJson(list));

  // Partition e from the rest; wait until both sides see it.
  ns.cut();
  BOOST_REQUIRE(waitFor([&] { return peerState(mesh, "a", "e") == "down" && peerState(mesh, "e", "a") == "down"; },
                        30000));
  auto onA = clients.at("a").request({{"op", "register"}, {"name", "dev.split.left.default"}});
  auto onE = clients.at("e").request({{"op", "register"}, {"name", "dev.split.right.default"}});
  BOOST_REQUIRE_EQUAL(errorCode(onA->json), "OK");
  BOOST_REQUIRE_EQUAL(errorCode(onE->json), "OK");
  // The left side has its own at once, and not the right side's.
  BOOST_TEST(waitFor([&] { return seesEverywhere(mesh, {"a", "b", "c", "d"}, "dev.split.left.default.a"); }, 20000));
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.split.right.default.e", 1000)) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(errorCode(mesh.resolve("e", "dev.split.left.default.a", 1000)) == "DESTINATION_NOT_FOUND");

  // Heal: both sides converge on both registrations.
  ns.heal();
  BOOST_TEST(waitFor([&] { return seesEverywhere(mesh, kMachines, "dev.split.left.default.a"); }, 60000));
  BOOST_TEST(waitFor([&] { return seesEverywhere(mesh, kMachines, "dev.split.right.default.e"); }, 60000));
  BOOST_TEST(waitFor([&] { return peerState(mesh, "a", "e") == "up"; }, 30000));
}

BOOST_AUTO_TEST_SUITE_END()
