// Node identity rotation without a restart, with real daemons and real
// `kithctl ca` / `openssl`: a new node key (issue-node --replace) on SIGHUP,
// a same-key renewal (csr --reuse-key + sign-csr) noticed by the periodic
// check, and a broken directory refused while the old identity stays.
#include <signal.h>

#include <boost/test/unit_test.hpp>

#include "mesh.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

json peerEntry(Mesh& mesh, const std::string& on, const std::string& machine) {
  for (auto& p : mesh.peers(on)) {
    if (p["machine"] == machine) return p;
  }
  return nullptr;
}

std::string nodeKeyOf(Mesh& mesh, const std::string& m) {
  return mesh.admin(m).request({{"op", "peers"}})->json.value("node_key", "");
}

// Asks `m` for an SVID as a fresh workload; returns the reply.
json svidOn(Mesh& mesh, const std::string& m, TestClient& c, const std::string& name) {
  auto reg = c.request({{"op", "register"}, {"name", name}});
  BOOST_REQUIRE_EQUAL(errorCode(reg->json), "OK");
  auto s = c.request({{"op", "svid"}, {"token", reg->json["token"]}});
  BOOST_REQUIRE_EQUAL(errorCode(s->json), "OK");
  return s->json;
}

// openssl verify of an SVID's leaf against `bundle` through `intermediate`.
bool verifies(const TempDir& dir, const json& svid, const std::string& bundle, const std::string& intermediate) {
  writeFile(dir.path() + "/leaf.pem", svid["certificate"].get<std::string>());
  std::string out;
  runCommand("openssl verify -CAfile " + bundle + " -untrusted " + intermediate + " " + dir.path() + "/leaf.pem",
             &out);
  return out.find("leaf.pem: OK") != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(node_rotation)

BOOST_AUTO_TEST_CASE(a_new_node_key_on_sighup_is_used_and_peers_follow_it) {
  Mesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.allUp("a", 1) && mesh.allUp("b", 1); }, 15000));
  std::string oldKey = nodeKeyOf(mesh, "a");
  BOOST_REQUIRE_EQUAL(peerEntry(mesh, "b", "a").value("node_key", ""), oldKey);
  auto ca = mesh.api("a");
  BOOST_REQUIRE_EQUAL(errorCode(ca.request({{"op", "register"}, {"name", "dev.before.b1.default"},
                                            {"replicate_wait_ms", 5000}})->json), "OK");
  TempDir keep;
  std::string out;
  BOOST_REQUIRE(runCommand("cp " + mesh.home("a") + "/node/node-ca.crt " + keep.path() + "/old-node-ca.crt", &out) == 0);

  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node a --ca " + mesh.ca + " --out " +
                                       mesh.home("a") + "/node --replace", &out) == 0, out);
  ::kill(mesh.daemons["a"]->pid(), SIGHUP);
  BOOST_REQUIRE(waitFor([&] { return mesh.daemons["a"]->log().find("cert_rotated") != std::string::npos; }, 10000));
  std::string newKey = nodeKeyOf(mesh, "a");
  BOOST_TEST(newKey != oldKey, mesh.daemons["a"]->log());
  BOOST_TEST(newKey.size() == 64u);
  // b learns the new deleg and dials a again under a's new CURVE key.
  BOOST_TEST(waitFor([&] {
    json p = peerEntry(mesh, "b", "a");
    return p.is_object() && p.value("node_key", "") == newKey && p.value("state", "") == "up";
  }, 20000), kith::dumpJson(peerEntry(mesh, "b", "a")));
  BOOST_TEST(waitFor([&] { return mesh.allUp("a", 1); }, 20000));
  // Records signed with the new key reach b: a new registration, and the old
  // one (re-signed) is still there.
  BOOST_REQUIRE_EQUAL(errorCode(ca.request({{"op", "register"}, {"name", "dev.after.a1.default"}})->json), "OK");
  BOOST_TEST(errorCode(mesh.resolve("b", "dev.after.a1.default.a", 15000)) == "OK");
  BOOST_TEST(errorCode(mesh.resolve("b", "dev.before.b1.default.a")) == "OK");
  BOOST_TEST(mesh.daemons["b"]->log().find("record rejected") == std::string::npos);
  // SVIDs now come from the new node CA.
  auto c = mesh.api("a");
  json s = svidOn(mesh, "a", c, "dev.tls.t1.default");
  TempDir files;
  std::string bundle = mesh.home("a") + "/node/ca.crt";
  BOOST_TEST(verifies(files, s, bundle, mesh.home("a") + "/node/node-ca.crt"));
  BOOST_TEST(!verifies(files, s, bundle, keep.path() + "/old-node-ca.crt"));
  // The daemon never restarted.
  BOOST_TEST(mesh.daemons["a"]->running());
  BOOST_TEST(::kill(mesh.daemons["a"]->pid(), 0) == 0);
}

BOOST_AUTO_TEST_CASE(a_renewed_certificate_for_the_same_key_is_noticed_without_a_signal) {
  Mesh mesh;
  mesh.extraConfig = "[identity]\nwatch_ms = 200\n";
  mesh.start("a");
  std::string key = nodeKeyOf(mesh, "a");
  std::string node = mesh.home("a") + "/node", renew = mesh.dir.path() + "/renew", out;
  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca csr a --out " + node + " --reuse-key", &out) == 0, out);
  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca sign-csr " + node + "/node.csr --machine a --ca " +
                                       mesh.ca + " --out " + renew + " --validity-days 30", &out) == 0, out);
  BOOST_REQUIRE(runCommand("cp " + renew + "/node.crt " + renew + "/node-ca.crt " + renew + "/deleg " + node + "/",
                           &out) == 0);
  BOOST_REQUIRE(waitFor([&] { return mesh.daemons["a"]->log().find("cert_rotated") != std::string::npos; }, 10000));
  BOOST_TEST(nodeKeyOf(mesh, "a") == key);
  // The renewed node CA (30 days) issues from now on.
  auto c = mesh.api("a");
  json s = svidOn(mesh, "a", c, "dev.tls.t2.default");
  TempDir files;
  BOOST_TEST(verifies(files, s, node + "/ca.crt", renew + "/node-ca.crt"));
  std::string chainCa = s["chain"].get<std::string>();
  std::string renewedCa;
  runCommand("cat " + renew + "/node-ca.crt", &renewedCa);
  BOOST_TEST(chainCa.find(renewedCa) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_broken_node_directory_is_refused_and_the_old_identity_stays) {
  Mesh mesh;
  mesh.start("a");
  std::string node = mesh.home("a") + "/node";
  std::string key = nodeKeyOf(mesh, "a");
  writeFile(node + "/node.crt", "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
  ::kill(mesh.daemons["a"]->pid(), SIGHUP);
  BOOST_REQUIRE(waitFor([&] { return mesh.daemons["a"]->log().find("cert_rotation_rejected") != std::string::npos; },
                        10000));
  BOOST_TEST(mesh.daemons["a"]->log().find("cert_rotated\"") == std::string::npos);
  BOOST_TEST(nodeKeyOf(mesh, "a") == key);
  // It still issues SVIDs from the identity it loaded at start.
  auto c = mesh.api("a");
  json s = svidOn(mesh, "a", c, "dev.tls.t3.default");
  TempDir files;
  BOOST_TEST(verifies(files, s, node + "/ca.crt", node + "/node-ca.crt"));
}

BOOST_AUTO_TEST_SUITE_END()
