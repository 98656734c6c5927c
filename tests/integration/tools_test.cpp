// kithcat, kithctl and a libkith program, run for real against a real kithd.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "fixture.h"
#include "kith/common/json.h"

using namespace kith::test;

namespace {

struct ToolsFixture : DaemonFixture {
  std::string env() const { return "KITH_HOME=" + daemon.home() + " "; }
  std::string bin(const std::string& tool) const { return binDir() + "/" + tool; }
  // Starts a shell command in the background; returns its pid.
  pid_t background(const std::string& cmd) {
    std::string out;
    runCommand("sh -c '" + cmd + " >/dev/null 2>" + dir.path() + "/bg.err & echo $!'", &out);
    return static_cast<pid_t>(std::stol(out));
  }
  bool waitRegistered(const std::string& address) {
    return waitFor([&] { return !workload(address).is_null() && workload(address)["listening"] == true; }, 5000);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tools, ToolsFixture)

BOOST_AUTO_TEST_CASE(kithcat_contract_example_prints_hi) {
  pid_t l = background(env() + bin("kithcat") + " -l dev.echo.e1.default -e cat --allow \"dev.*.*.*.*\"");
  BOOST_REQUIRE(waitRegistered(addr("dev.echo.e1.default")));
  std::string out;
  int rc = runCommand("echo hi | " + env() + bin("kithcat") + " --as dev.cli.c1.default " +
                          addr("dev.echo.e1.default"), &out);
  BOOST_TEST(rc == 0);
  BOOST_TEST(out == "hi\n");
  kill(l, SIGTERM);
}

BOOST_AUTO_TEST_CASE(kithcat_carries_bulk_data_intact_in_fd_and_path_modes) {
  std::string data = dir.path() + "/data";
  BOOST_REQUIRE(runCommand("head -c 8388608 /dev/urandom > " + data, nullptr) == 0);
  pid_t l = background(env() + bin("kithcat") + " -k -l dev.echo.bulk.default -e cat --allow \"dev.*.*.*.*\"");
  BOOST_REQUIRE(waitRegistered(addr("dev.echo.bulk.default")));
  for (std::string mode : {"fd", "path"}) {
    std::string sums;
    int rc = runCommand("a=$(sha256sum < " + data + "); b=$(" + env() + bin("kithcat") +
                            " --as dev.cli.bulk" + mode + ".default --mode " + mode + " " +
                            addr("dev.echo.bulk.default") + " < " + data +
                            " | sha256sum); [ \"$a\" = \"$b\" ] && echo same || echo \"differ: $a / $b\"",
                        &sums);
    BOOST_TEST(rc == 0);
    BOOST_TEST(sums == "same\n", "mode " << mode << ": " << sums);
  }
  kill(l, SIGTERM);
}

BOOST_AUTO_TEST_CASE(kithcat_reports_refusals_with_the_code_and_exit_1) {
  std::string out;
  int rc = runCommand(env() + bin("kithcat") + " --as dev.cli.c1.default " + addr("dev.nobody.n.default") +
                          " </dev/null", &out);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("DESTINATION_NOT_FOUND") != std::string::npos);
  rc = runCommand(bin("kithcat") + " --bogus-flag", &out);
  BOOST_TEST(rc == 2);
}

BOOST_AUTO_TEST_CASE(kithctl_status_workloads_and_events_speak_json) {
  auto c = client();
  reg(c, {{"name", "dev.web.w1.default"}});
  std::string out;
  BOOST_TEST(runCommand(env() + bin("kithctl") + " status --json", &out) == 0);
  auto st = kith::parseJson(out);
  BOOST_TEST(st["machine"] == machine);
  out.clear();
  BOOST_TEST(runCommand(env() + bin("kithctl") + " workloads --json", &out) == 0);
  auto wl = kith::parseJson(out);
  BOOST_TEST(wl["workloads"][0]["address"] == addr("dev.web.w1.default"));
  out.clear();
  BOOST_TEST(runCommand(env() + bin("kithctl") + " workloads", &out) == 0);
  BOOST_TEST(out.find(addr("dev.web.w1.default")) != std::string::npos);
  out.clear();
  BOOST_TEST(runCommand(env() + bin("kithctl") + " events --json", &out) == 0);
  BOOST_TEST(out.find("\"registered\"") != std::string::npos);
  // Unreachable daemon: 1; usage error: 2.
  BOOST_TEST(runCommand(bin("kithctl") + " status --socket /nonexistent/api.sock", nullptr) == 1);
  BOOST_TEST(runCommand(bin("kithctl") + " frobnicate", nullptr) == 2);
}

BOOST_AUTO_TEST_CASE(kithctl_policy_check_explains_and_exits_by_decision) {
  auto c = client();
  reg(c, {{"name", "dev.db.pg1.default"}, {"whitelist", {"dev.web.*.*.*"}}});
  std::string out;
  int rc = runCommand(env() + bin("kithctl") + " policy check " + addr("dev.web.w1.default") + " " +
                          addr("dev.db.pg1.default"), &out);
  BOOST_TEST(rc == 0);
  BOOST_TEST(out.find("allow") == 0u);
  BOOST_TEST(out.find("whitelist") != std::string::npos);
  out.clear();
  rc = runCommand(env() + bin("kithctl") + " policy check " + addr("prod.web.w1.default") + " " +
                      addr("dev.db.pg1.default"), &out);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("scopes differ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_readme_libkith_example_builds_and_greets) {
  std::string src = std::string(KITH_SOURCE_DIR) + "/libclient/examples/greet.c";
  std::string lib = binDir() + "/../lib";
  std::string exe = dir.path() + "/greet";
  std::string out;
  int rc = runCommand("cc " + src + " -I" + KITH_SOURCE_DIR + "/libclient/include " + lib +
                          "/libkith.a -lstdc++ -lm " + KITH_SANITIZE_FLAGS + " -o " + exe, &out);
  BOOST_REQUIRE_MESSAGE(rc == 0, out);
  out.clear();
  rc = runCommand(env() + exe, &out);
  BOOST_TEST(rc == 0);
  BOOST_TEST(out == "hello " + addr("dev.greet.client.default") + " (spiffe://dev.kith/dev/greet/client/default/" +
                        machine + ")\n");
}

BOOST_AUTO_TEST_SUITE_END()
