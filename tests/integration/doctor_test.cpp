// kithctl doctor against real daemons: healthy, certificates near or past
// expiry, a world-readable node key, a rejected policy reload, an unprivileged
// caller, and no daemon at all.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "fixture.h"
#include "kith/common/json.h"
#include "kith/identity/ca_dir.h"

using namespace kith::test;
using nlohmann::json;
namespace id = kith::identity;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The output line of one check ("" if absent).
std::string lineOf(const std::string& out, const std::string& check) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    // "<result>  <check>  ..." with the check column padded.
    size_t p = line.find("  ");
    if (p == std::string::npos) continue;
    size_t start = line.find_first_not_of(' ', p);
    if (start != std::string::npos && line.compare(start, check.size() + 1, check + " ") == 0) return line;
  }
  return "";
}

bool resultIs(const std::string& out, const std::string& check, const std::string& result) {
  std::string line = lineOf(out, check);
  return line.rfind(result + " ", 0) == 0;
}

struct DoctorFixture : DaemonFixture {
  std::string doctor(const std::string& args, int* rc, const std::string& env = "") {
    std::string out;
    *rc = runCommand((env.empty() ? "KITH_HOME=" + daemon.home() : env) + " " + binDir() + "/kithctl doctor " +
                         args, &out);
    return out;
  }
  // A node directory for this daemon's machine from a CA of its own.
  std::string issueNode(const std::string& name, const std::string& extra) {
    std::string ca = dir.path() + "/ca-" + name, out;
    if (runCommand(binDir() + "/kithctl ca init --trust-domain dev.kith --out " + ca, &out) != 0 &&
        !contains(out, "already holds a CA")) {
      BOOST_FAIL(out);
    }
    std::string node = dir.path() + "/" + name;
    out.clear();
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + machine + " --ca " + ca + " --out " +
                                         node + " " + extra, &out) == 0, out);
    return node;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(doctor, DoctorFixture)

BOOST_AUTO_TEST_CASE(a_healthy_dev_daemon_passes_with_ok_lines) {
  int rc = -1;
  std::string out = doctor("", &rc);
  BOOST_TEST(rc == 0, out);
  for (const char* check : {"api.sock", "admin.sock", "socket modes", "clock", "cert node.crt",
                            "cert node-ca.crt", "cert ca.crt", "node identity", "policy"}) {
    BOOST_TEST(resultIs(out, check, "ok"), check << ": " << out);
  }
  BOOST_TEST(contains(lineOf(out, "socket modes"), "api.sock 0666, admin.sock 0600"), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), "spiffe://dev.kith/node/" + machine), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), daemon.home() + "/node"), out);
  BOOST_TEST(resultIs(out, "peers", "skip"), out);
  BOOST_TEST(contains(lineOf(out, "peers"), "skipped: replication not configured"), out);
  BOOST_TEST(!contains(out, "fail "), out);

  // --json: the same checks as data.
  out = doctor("--json", &rc);
  BOOST_TEST(rc == 0);
  auto j = kith::parseJson(out);
  BOOST_REQUIRE_MESSAGE(j.is_object(), out);
  BOOST_TEST(j["ok"] == true);
  BOOST_TEST(j["node_dir"] == daemon.home() + "/node");
  bool sawApi = false;
  for (const auto& c : j["checks"]) {
    if (c["check"] == "api.sock") sawApi = c["result"] == "ok";
  }
  BOOST_TEST(sawApi);
}

BOOST_AUTO_TEST_CASE(a_certificate_expiring_within_30_days_warns_with_a_renewal_hint) {
  std::string node = issueNode("expiring", "--validity-days 10");
  int rc = -1;
  std::string out = doctor("--node-dir " + node, &rc);
  BOOST_TEST(rc == 0, out);  // a warning is not a failure
  BOOST_TEST(resultIs(out, "cert node.crt", "warn"), out);
  BOOST_TEST(contains(lineOf(out, "cert node.crt"), "expires in 10 days"), out);
  BOOST_TEST(contains(lineOf(out, "cert node.crt"), "fix: renew: kithctl ca issue-node " + machine), out);
  BOOST_TEST(resultIs(out, "cert node-ca.crt", "warn"), out);
  BOOST_TEST(resultIs(out, "cert ca.crt", "ok"), out);
  BOOST_TEST(resultIs(out, "node identity", "ok"), out);

  // Found through $KITH_HOME (HOME/node) when the daemon is named by --socket.
  std::string home = dir.path() + "/otherhome";
  BOOST_REQUIRE(runCommand("mkdir -p " + home + " && cp -a " + node + " " + home + "/node", nullptr) == 0);
  out = doctor("--socket " + daemon.apiSocket(), &rc, "KITH_HOME=" + home);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(resultIs(out, "api.sock", "ok"), out);
  BOOST_TEST(resultIs(out, "cert node.crt", "warn"), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), home + "/node"), out);
  // ... and through --home.
  out = doctor("--home " + home, &rc);
  BOOST_TEST(resultIs(out, "cert node.crt", "warn"), out);
}

BOOST_AUTO_TEST_CASE(an_expired_certificate_fails_and_exits_1) {
  // Issued 20 days ago for 5 days: identity/ dates it with an injected clock.
  std::string ca = dir.path() + "/ca-old", node = dir.path() + "/expired";
  BOOST_REQUIRE(id::initCa(ca, "dev.kith").isOk());
  kith::FakeClock past(kith::systemClock().nowMicros() - 20 * id::kDaySeconds * 1'000'000);
  BOOST_REQUIRE(id::issueNode(ca, machine, node, {5 * id::kDaySeconds, &past}).isOk());
  int rc = -1;
  std::string out = doctor("--node-dir " + node, &rc);
  BOOST_TEST(rc == 1, out);
  BOOST_TEST(resultIs(out, "cert node.crt", "fail"), out);
  BOOST_TEST(contains(lineOf(out, "cert node.crt"), "expired at"), out);
  BOOST_TEST(contains(lineOf(out, "cert node.crt"), "fix: renew"), out);
  BOOST_TEST(resultIs(out, "node identity", "fail"), out);
  BOOST_TEST(resultIs(out, "api.sock", "ok"), out);
}

BOOST_AUTO_TEST_CASE(a_node_key_others_can_read_fails_with_the_chmod_fix) {
  std::string node = issueNode("loose", "");
  BOOST_REQUIRE(::chmod((node + "/node.key").c_str(), 0644) == 0);
  int rc = -1;
  std::string out = doctor("--node-dir " + node, &rc);
  BOOST_TEST(rc == 1, out);
  BOOST_TEST(resultIs(out, "node identity", "fail"), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), "mode 0644"), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), "fix: chmod 600 " + node + "/node.key"), out);
  // The certificates themselves are fine.
  BOOST_TEST(resultIs(out, "cert node.crt", "ok"), out);
}

BOOST_AUTO_TEST_CASE(an_unprivileged_user_gets_permission_hints_not_failures) {
  // nobody reaches api.sock (0666) but neither admin.sock (0600) nor HOME/node (0700).
  int rc = -1;
  std::string out = doctor("", &rc,
                           "setpriv --reuid=65534 --regid=65534 --clear-groups env KITH_HOME=" + daemon.home());
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(resultIs(out, "api.sock", "ok"), out);
  BOOST_TEST(resultIs(out, "admin.sock", "warn"), out);
  BOOST_TEST(contains(lineOf(out, "admin.sock"), "permission denied"), out);
  BOOST_TEST(contains(lineOf(out, "admin.sock"), "admin_group"), out);
  BOOST_TEST(resultIs(out, "node identity", "warn"), out);
  BOOST_TEST(contains(lineOf(out, "node identity"), "run as root"), out);
}

BOOST_AUTO_TEST_CASE(no_daemon_fails_with_a_fix_hint_and_exit_1) {
  int rc = -1;
  std::string nowhere = dir.path() + "/nowhere/run";
  std::string out = doctor("--socket " + nowhere + "/api.sock --node-dir " + daemon.home() + "/node", &rc);
  BOOST_TEST(rc == 1, out);
  BOOST_TEST(resultIs(out, "api.sock", "fail"), out);
  BOOST_TEST(contains(lineOf(out, "api.sock"), "cannot connect to " + nowhere + "/api.sock"), out);
  BOOST_TEST(contains(lineOf(out, "api.sock"), "fix: start kithd"), out);
  BOOST_TEST(resultIs(out, "admin.sock", "skip"), out);
  BOOST_TEST(resultIs(out, "policy", "skip"), out);
  // Offline checks still run.
  BOOST_TEST(resultIs(out, "clock", "ok"), out);
  BOOST_TEST(resultIs(out, "cert node.crt", "ok"), out);
  // A stale socket file (a daemon died without removing it) is named as such.
  std::string stale = dir.path() + "/stale";
  BOOST_REQUIRE(runCommand("mkdir -p " + stale + " && python3 -c \"import socket; "
                           "socket.socket(socket.AF_UNIX).bind('" + stale + "/api.sock')\"", nullptr) == 0);
  out = doctor("--socket " + stale + "/api.sock", &rc);
  BOOST_TEST(rc == 1, out);
  BOOST_TEST(resultIs(out, "api.sock", "fail"), out);
  BOOST_TEST(contains(lineOf(out, "api.sock"), "stale socket"), out);
}

BOOST_AUTO_TEST_SUITE_END()

// A daemon with a policy file whose last reload was rejected.
BOOST_AUTO_TEST_SUITE(doctor_policy)

BOOST_AUTO_TEST_CASE(a_rejected_policy_reload_warns_with_the_test_command) {
  TempDir dir;
  std::string policy = dir.path() + "/policy.toml", cfg = dir.path() + "/kithd.toml";
  writeFile(policy, "[[allow]]\nfrom = \"dev.web.*.*.*\"\nto = \"dev.db.*.*.*\"\n");
  writeFile(cfg, "[policy]\nfile = \"" + policy + "\"\n");
  DaemonProcess d(dir.path() + "/home");
  BOOST_REQUIRE(d.start({"--config", cfg}).isOk());
  std::string env = "KITH_HOME=" + d.home() + " ", out;
  int rc = runCommand(env + binDir() + "/kithctl doctor", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(resultIs(out, "policy", "ok"), out);
  BOOST_TEST(contains(lineOf(out, "policy"), policy + ": 1 rules loaded"), out);

  writeFile(policy, "[[allow]\nbroken");
  BOOST_TEST(runCommand(env + binDir() + "/kithctl policy reload", nullptr) == 1);
  out.clear();
  rc = runCommand(env + binDir() + "/kithctl doctor", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(resultIs(out, "policy", "warn"), out);
  BOOST_TEST(contains(lineOf(out, "policy"), "1 reload(s) were rejected"), out);
  BOOST_TEST(contains(lineOf(out, "policy"), "fix: kithctl policy test " + policy), out);
  BOOST_TEST(d.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
