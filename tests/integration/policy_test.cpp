// Operator policy enforced by a real kithd: decisions, explanations, reloads,
// live enforcement on open streams, audit mode.
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "fixture.h"

using namespace kith::test;
using nlohmann::json;

namespace {

struct PolicyFixture {
  TempDir dir;
  std::string policyPath = dir.path() + "/policy.toml";
  std::string configPath = dir.path() + "/kithd.toml";
  DaemonProcess daemon{dir.path() + "/home"};
  std::string machine;

  explicit PolicyFixture(const std::string& policy = "") {
    writeFile(policyPath, policy);
    writeFile(configPath, "[policy]\nfile = \"" + policyPath + "\"\n");
  }
  void start() {
    kith::Status st = daemon.start({"--config", configPath});
    if (!st.isOk()) BOOST_FAIL("kithd did not start: " << st.message());
    machine = client().request({{"op", "hello"}})->json.value("machine", "");
  }
  ~PolicyFixture() {
    if (daemon.running()) {
      int st = daemon.stop();
      BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0));
    }
  }
  TestClient client() { return DaemonFixture::connectTo(daemon.apiSocket()); }
  TestClient admin() { return DaemonFixture::connectTo(daemon.adminSocket()); }
  std::string addr(const std::string& n) const { return n + "." + machine; }

  // A listening server; returns its client (keep it alive).
  TestClient serve(const std::string& name, json whitelist = json::array()) {
    auto c = client();
    auto r = c.request({{"op", "register"}, {"name", name}, {"whitelist", whitelist}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "listen"}, {"token", r->json["token"]}})->json), "OK");
    return c;
  }
  std::pair<TestClient, std::string> source(const std::string& name) {
    auto c = client();
    auto r = c.request({{"op", "register"}, {"name", name}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    return {std::move(c), r->json["token"].get<std::string>()};
  }
  json connect(TestClient& c, const std::string& token, const std::string& dst, const std::string& proto = "tcp") {
    return c.request({{"op", "connect"}, {"token", token}, {"destination", dst}, {"proto", proto}})->json;
  }
  json reload() { return admin().request({{"op", "policy.reload"}})->json; }
};

const char* kBase = R"(
[[allow]]
name = "web-to-db"
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
proto = ["tcp"]

[[deny]]
name = "no-legacy"
from = "dev.web.legacy.*.*"
to = "dev.db.*.*.*"

[[allow]]
name = "web-to-prod-db"
from = "dev.web.*.*.*"
to = "prod.db.*.*.*"
cross_scope = true

[[allow]]
name = "dns-udp-only"
from = "dev.*.*.*.*"
to = "dev.dns.*.*.*"
proto = ["udp"]
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_enforcement)

BOOST_AUTO_TEST_CASE(rules_decide_connects_with_explanations) {
  PolicyFixture f(kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto prod = f.serve("prod.db.pg9.default");
  auto dns = f.serve("dev.dns.ns1.default");
  auto [web, webTok] = f.source("dev.web.w1.default");
  auto [legacy, legacyTok] = f.source("dev.web.legacy.default");
  auto [other, otherTok] = f.source("dev.batch.b1.default");
  // Operator allow without any whitelist.
  BOOST_TEST(errorCode(f.connect(web, webTok, f.addr("dev.db.pg1.default"))) == "OK");
  // Deny beats allow; the message names the rule and where it is.
  auto denied = f.connect(legacy, legacyTok, f.addr("dev.db.pg1.default"));
  BOOST_TEST(errorCode(denied) == "UNAUTHORIZED");
  std::string msg = denied["error"]["message"];
  BOOST_TEST(msg.find("no-legacy") != std::string::npos);
  BOOST_TEST(msg.find("policy.toml:") != std::string::npos);
  // Default deny for a source no rule covers.
  BOOST_TEST(errorCode(f.connect(other, otherTok, f.addr("dev.db.pg1.default"))) == "UNAUTHORIZED");
  // Explicit cross-scope allow.
  BOOST_TEST(errorCode(f.connect(web, webTok, f.addr("prod.db.pg9.default"))) == "OK");
  // Cross scope without such a rule is denied even for a whitelist of everything.
  auto anyone = f.serve("prod.api.a1.default", json::array({"*.*.*.*.*"}));
  auto cross = f.connect(web, webTok, f.addr("prod.api.a1.default"));
  BOOST_TEST(errorCode(cross) == "UNAUTHORIZED");
  BOOST_TEST(cross["error"]["message"].get<std::string>().find("scopes differ") != std::string::npos);
  // Protocol mismatch: dns allows udp only.
  BOOST_TEST(errorCode(f.connect(other, otherTok, f.addr("dev.dns.ns1.default"), "tcp")) == "UNAUTHORIZED");
  // policy.check explains the same way, without connecting.
  auto chk = f.admin().request({{"op", "policy.check"}, {"src", f.addr("dev.web.legacy.default")},
                                {"dst", f.addr("dev.db.pg1.default")}});
  BOOST_TEST(chk->json["decision"] == "deny");
  BOOST_TEST(chk->json["rule"] == "no-legacy");
  BOOST_TEST(chk->json["where"].get<std::string>().find("policy.toml:") != std::string::npos);
  auto st = f.client().request({{"op", "status"}});
  BOOST_TEST(st->json["policy"]["denied"].get<int>() >= 3);
}

BOOST_AUTO_TEST_CASE(a_bad_file_is_rejected_whole_and_the_old_policy_stays) {
  PolicyFixture f(kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto [web, webTok] = f.source("dev.web.w1.default");
  BOOST_TEST(errorCode(f.connect(web, webTok, f.addr("dev.db.pg1.default"))) == "OK");
  // Syntax error: rejected with file:line, old rules still apply.
  writeFile(f.policyPath, "[[allow]]\nfrom = \"dev.web.*.*.*\"\nto = [broken\n");
  auto r = f.reload();
  BOOST_TEST(errorCode(r) == "BAD_REQUEST");
  BOOST_TEST(r["error"]["message"].get<std::string>().find("policy.toml:3") != std::string::npos);
  BOOST_TEST(errorCode(f.connect(web, webTok, f.addr("dev.db.pg1.default"))) == "OK");
  // A failing [[test]] rejects an otherwise valid file.
  writeFile(f.policyPath, std::string(kBase) + R"(
[[test]]
from = "dev.web.w1.default.n1"
to = "dev.db.pg1.default.n1"
proto = "tcp"
expect = "deny"
)");
  r = f.reload();
  BOOST_TEST(errorCode(r) == "BAD_REQUEST");
  BOOST_TEST(r["error"]["message"].get<std::string>().find("test") != std::string::npos);
  BOOST_TEST(errorCode(f.connect(web, webTok, f.addr("dev.db.pg1.default"))) == "OK");
  // The daemon kept serving throughout.
  BOOST_TEST(errorCode(f.client().request({{"op", "hello"}})->json) == "OK");
}

BOOST_AUTO_TEST_CASE(reload_closes_a_stream_that_became_forbidden_and_keeps_an_allowed_one) {
  PolicyFixture f(kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto [w1, t1] = f.source("dev.web.w1.default");
  auto [w2, t2] = f.source("dev.web.w2.default");
  auto c1 = w1.request({{"op", "connect"}, {"token", t1}, {"destination", f.addr("dev.db.pg1.default")}});
  auto c2 = w2.request({{"op", "connect"}, {"token", t2}, {"destination", f.addr("dev.db.pg1.default")}});
  BOOST_REQUIRE_EQUAL(errorCode(c1->json), "OK");
  BOOST_REQUIRE_EQUAL(errorCode(c2->json), "OK");
  auto in1 = db.nextEvent(2000);
  auto in2 = db.nextEvent(2000);
  BOOST_REQUIRE(in1.isOk() && in2.isOk());
  // Now w1 is forbidden.
  writeFile(f.policyPath, std::string(kBase) + R"(
[[deny]]
name = "cut-w1"
from = "dev.web.w1.*.*"
to = "dev.db.*.*.*"
)");
  auto r = f.reload();
  BOOST_REQUIRE_EQUAL(errorCode(r), "OK");
  // The answer counts both streams as re-checked and one as closed.
  BOOST_TEST(r["open_streams"] == 2);
  BOOST_TEST(r["closed_streams"] == 1);
  // w1's stream ends (EOF or reset) ...
  char b;
  pollfd p{c1->fd.get(), POLLIN, 0};
  BOOST_REQUIRE(poll(&p, 1, 3000) == 1);
  BOOST_TEST(recv(c1->fd.get(), &b, 1, 0) <= 0);
  // ... and w2's still carries data both ways.
  BOOST_REQUIRE(send(c2->fd.get(), "x", 1, 0) == 1);
  kith::UniqueFd& srv2 = in1->json["source"] == f.addr("dev.web.w2.default") ? in1->fd : in2->fd;
  pollfd q{srv2.get(), POLLIN, 0};
  BOOST_REQUIRE(poll(&q, 1, 3000) == 1);
  BOOST_TEST(recv(srv2.get(), &b, 1, 0) == 1);
  // The closing is logged with both identities and the rule.
  BOOST_TEST(waitFor([&] { return f.daemon.log().find("open stream no longer allowed") != std::string::npos; }, 2000));
  std::string log = f.daemon.log();
  BOOST_TEST(log.find("cut-w1") != std::string::npos);
  BOOST_TEST(log.find(f.addr("dev.web.w1.default")) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(deregistration_closes_the_workloads_open_streams) {
  PolicyFixture f(kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto [w1, t1] = f.source("dev.web.w1.default");
  auto c1 = w1.request({{"op", "connect"}, {"token", t1}, {"destination", f.addr("dev.db.pg1.default")}});
  BOOST_REQUIRE_EQUAL(errorCode(c1->json), "OK");
  auto in = db.nextEvent(2000);
  BOOST_REQUIRE(in.isOk());
  BOOST_REQUIRE_EQUAL(errorCode(w1.request({{"op", "deregister"}, {"token", t1}})->json), "OK");
  pollfd p{in->fd.get(), POLLIN, 0};
  BOOST_REQUIRE(poll(&p, 1, 3000) == 1);
  char b;
  BOOST_TEST(recv(in->fd.get(), &b, 1, 0) <= 0);
}

BOOST_AUTO_TEST_CASE(audit_mode_allows_what_it_would_deny_and_logs_it) {
  PolicyFixture f(std::string("audit = true\n") + kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto [legacy, tok] = f.source("dev.web.legacy.default");
  BOOST_TEST(errorCode(f.connect(legacy, tok, f.addr("dev.db.pg1.default"))) == "OK");
  BOOST_TEST(waitFor([&] { return f.daemon.log().find("audit: would deny") != std::string::npos; }, 2000));
  auto st = f.client().request({{"op", "status"}});
  BOOST_TEST(st->json["policy"]["audited"] == 1);
  BOOST_TEST(st->json["policy"]["audit"] == true);
}

BOOST_AUTO_TEST_CASE(a_bad_policy_at_start_is_refused_with_file_and_line) {
  PolicyFixture f("[[allow]]\nfrom = \"dev.web.*.*\"\nto = \"dev.db.*.*.*\"\n");
  BOOST_REQUIRE(f.daemon.spawn({"--dev", "--home", f.daemon.home(), "--config", f.configPath}).isOk());
  int st = f.daemon.waitExit(10000);
  BOOST_TEST(WIFEXITED(st));
  BOOST_TEST(WEXITSTATUS(st) != 0);
  BOOST_TEST(f.daemon.log().find("policy.toml:2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_policy) {
  PolicyFixture f(kBase);
  f.start();
  auto db = f.serve("dev.db.pg1.default");
  auto [batch, tok] = f.source("dev.batch.b1.default");
  BOOST_TEST(errorCode(f.connect(batch, tok, f.addr("dev.db.pg1.default"))) == "UNAUTHORIZED");
  writeFile(f.policyPath, std::string(kBase) + "\n[[allow]]\nfrom = \"dev.batch.*.*.*\"\nto = \"dev.db.*.*.*\"\n");
  ::kill(f.daemon.pid(), SIGHUP);
  BOOST_TEST(waitFor([&] { return errorCode(f.connect(batch, tok, f.addr("dev.db.pg1.default"))) == "OK"; }, 3000));
}

BOOST_AUTO_TEST_SUITE_END()
