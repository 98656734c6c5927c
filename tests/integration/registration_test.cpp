// Registration, attestation and leases against a real kithd.
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>

#include "fixture.h"

using namespace kith::test;
using nlohmann::json;

BOOST_FIXTURE_TEST_SUITE(registration, DaemonFixture)

BOOST_AUTO_TEST_CASE(register_derives_address_spiffe_id_hash_and_token) {
  auto c = client();
  auto r = reg(c, {{"name", "dev.web.w1.default"}});
  BOOST_TEST(r["ok"] == true);
  BOOST_TEST(r["address"] == addr("dev.web.w1.default"));
  BOOST_TEST(r["spiffe_id"] == "spiffe://dev.kith/dev/web/w1/default/" + machine);
  BOOST_TEST(r["identity_hash"].get<std::string>().size() == 64u);
  BOOST_TEST(r["token"].get<std::string>().size() == 64u);
  auto w = workload(addr("dev.web.w1.default"));
  BOOST_REQUIRE(!w.is_null());
  BOOST_TEST(w["pid"] == getpid());
  BOOST_TEST(w["uid"] == getuid());
}

BOOST_AUTO_TEST_CASE(bad_names_are_bad_request_and_other_machines_unauthorized) {
  auto c = client();
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web"}})) == "BAD_REQUEST");
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web.w 1.default"}})) == "BAD_REQUEST");
  BOOST_TEST(errorCode(reg(c, {{"name", 7}})) == "BAD_REQUEST");
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web.w1.default.someoneelse"}})) == "UNAUTHORIZED");
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web.w1.default"}, {"ttl_ms", 5}})) == "BAD_REQUEST");
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web.w1.default"}, {"target", "tcp:10.0.0.1:80"}})) ==
             "BAD_REQUEST");
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.web.w1.default"}, {"whitelist", {"not-a-pattern"}}})) ==
             "BAD_REQUEST");
  // Five labels ending in this machine are accepted.
  BOOST_TEST(errorCode(reg(c, {{"name", addr("dev.web.w1.default")}})) == "OK");
}

BOOST_AUTO_TEST_CASE(token_presented_by_another_uid_is_unauthorized) {
  BOOST_REQUIRE_MESSAGE(getuid() == 0, "this test switches uid and must run as root");
  auto c = client();
  auto r = reg(c, {{"name", "dev.web.owner.default"}});
  std::string token = r["token"];
  // A child that becomes `nobody` presents root's token.
  int pipefd[2];
  BOOST_REQUIRE(pipe(pipefd) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(pipefd[0]);
    int code = 2;
    if (setgid(65534) == 0 && setuid(65534) == 0) {
      auto cc = TestClient::connect(daemon.apiSocket());
      if (cc.isOk()) {
        auto hb = cc->request({{"op", "heartbeat"}, {"token", token}});
        auto cn = cc->request({{"op", "connect"}, {"token", token}, {"destination", "dev.*.*.*.*"}});
        bool hbUnauth = hb.isOk() && errorCode(hb->json) == "UNAUTHORIZED";
        bool cnUnauth = cn.isOk() && errorCode(cn->json) == "UNAUTHORIZED";
        code = hbUnauth && cnUnauth ? 0 : 1;
      }
    }
    _exit(code);
  }
  close(pipefd[1]);
  int st = 0;
  BOOST_REQUIRE(waitpid(child, &st, 0) == child);
  BOOST_TEST(WIFEXITED(st));
  BOOST_TEST(WEXITSTATUS(st) == 0);
  // The owner still can.
  auto hb = c.request({{"op", "heartbeat"}, {"token", token}});
  BOOST_TEST(errorCode(hb->json) == "OK");
}

BOOST_AUTO_TEST_CASE(a_client_cannot_claim_another_uid_or_pid) {
  BOOST_REQUIRE(getuid() == 0);
  WorkloadProcess w;
  // Fields a client might try to assert are not part of the protocol; the
  // kernel's credentials are recorded whatever the request says.
  BOOST_REQUIRE(w.start({daemon.apiSocket(),
                         {{"op", "register"}, {"name", "dev.web.nobody.default"},
                          {"uid", 0}, {"pid", 1}, {"gid", 0}},
                         65534})
                    .isOk());
  BOOST_REQUIRE(w.reply().value("ok", false));
  auto info = workload(w.address());
  BOOST_REQUIRE(!info.is_null());
  BOOST_TEST(info["uid"] == 65534);
  BOOST_TEST(info["gid"] == 65534);
  BOOST_TEST(info["pid"] == w.pid());
}

BOOST_AUTO_TEST_CASE(killed_process_is_gone_within_one_second_and_watch_reports_it) {
  auto watcher = client();
  auto wr = watcher.request({{"op", "watch"}});
  BOOST_REQUIRE(wr.isOk());
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(), {{"op", "register"}, {"name", "dev.job.j1.default"}}}).isOk());
  auto reg1 = watcher.nextEvent(2000);
  BOOST_REQUIRE(reg1.isOk());
  BOOST_TEST(reg1->json["event"] == "register");
  BOOST_TEST(reg1->json["address"] == w.address());
  auto t0 = std::chrono::steady_clock::now();
  w.kill9();
  auto ev = watcher.nextEvent(1000);
  BOOST_REQUIRE_MESSAGE(ev.isOk(), "no deregister event within 1 s");
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  BOOST_TEST(ev->json["event"] == "deregister");
  BOOST_TEST(ev->json["address"] == w.address());
  BOOST_TEST(ev->json["reason"] == "exit");
  BOOST_TEST(elapsed.count() < 1000);
  BOOST_TEST(workload(w.address()).is_null());
}

BOOST_AUTO_TEST_CASE(lease_without_connection_or_heartbeat_expires_then_token_times_out) {
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(),
                         {{"op", "register"}, {"name", "dev.job.lease.default"}, {"ttl_ms", 1000}},
                         0, /*closeConnection=*/true})
                    .isOk());
  std::string token = w.token();
  auto c = client();
  // A heartbeat from another connection of the same uid refreshes it (how
  // long a lease lives, with and without heartbeats, is the registry's unit
  // tests' business, on an injected clock).
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", token}})->json) == "OK");
  BOOST_TEST(!workload(w.address()).is_null());
  // Then it lapses.
  BOOST_TEST(waitFor([&] { return workload(w.address()).is_null(); }, 3000));
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", token}})->json) == "TIMEOUT");
  BOOST_TEST(errorCode(c.request({{"op", "connect"}, {"token", token}, {"destination", "dev.*.*.*.*"}})->json) ==
             "TIMEOUT");
}

BOOST_AUTO_TEST_CASE(deregister_ends_it_and_the_token_is_then_invalid_source) {
  auto c = client();
  auto r = reg(c, {{"name", "dev.job.dereg.default"}});
  std::string token = r["token"];
  BOOST_TEST(errorCode(c.request({{"op", "deregister"}, {"token", token}})->json) == "OK");
  BOOST_TEST(workload(r["address"]).is_null());
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", token}})->json) == "INVALID_SOURCE");
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", std::string(64, 'a')}})->json) ==
             "INVALID_SOURCE");
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", "short"}})->json) == "BAD_REQUEST");
}

BOOST_AUTO_TEST_CASE(held_address_is_already_registered_for_another_live_process) {
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(), {{"op", "register"}, {"name", "dev.db.primary.default"}}}).isOk());
  auto c = client();
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.db.primary.default"}})) == "ALREADY_REGISTERED");
  // Once the holder is gone the address is free.
  w.kill9();
  BOOST_TEST(waitFor([&] { return workload(addr("dev.db.primary.default")).is_null(); }, 1000));
  auto r = reg(c, {{"name", "dev.db.primary.default"}});
  BOOST_TEST(errorCode(r) == "OK");
  // The same process registering again replaces its registration: old token dead.
  auto again = reg(c, {{"name", "dev.db.primary.default"}});
  BOOST_TEST(errorCode(again) == "OK");
  BOOST_TEST(again["token"] != r["token"]);
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", r["token"]}})->json) == "INVALID_SOURCE");
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", again["token"]}})->json) == "OK");
}

BOOST_AUTO_TEST_CASE(resolve_waits_for_a_record_that_arrives_before_its_deadline) {
  auto c = client();
  BOOST_TEST(errorCode(c.request({{"op", "resolve"}, {"name", "dev.late.*.*.*"}})->json) ==
             "DESTINATION_NOT_FOUND");
  BOOST_REQUIRE(c.sendRaw(R"({"id":"w","op":"resolve","name":"dev.late.*.*.*","wait_ms":5000})" "\n").isOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  auto other = client();
  reg(other, {{"name", "dev.late.l1.default"}});
  auto ans = c.next(3000);
  BOOST_REQUIRE(ans.isOk());
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(ans->json["id"] == "w");
  BOOST_TEST(errorCode(ans->json) == "OK");
  BOOST_TEST(ans->json["workloads"][0]["address"] == addr("dev.late.l1.default"));
  BOOST_TEST(ms < 1000);
  // And a deadline that passes answers DESTINATION_NOT_FOUND.
  auto miss = c.request({{"op", "resolve"}, {"name", "dev.never.*.*.*"}, {"wait_ms", 200}});
  BOOST_TEST(errorCode(miss->json) == "DESTINATION_NOT_FOUND");
}

BOOST_AUTO_TEST_CASE(list_status_and_hello_describe_the_daemon) {
  auto c = client();
  reg(c, {{"name", "dev.web.a.default"}});
  auto h = c.request({{"op", "hello"}});
  BOOST_TEST(h->json["peer"]["pid"] == getpid());
  BOOST_TEST(h->json["version"] == 1);
  auto s = c.request({{"op", "status"}});
  BOOST_TEST(s->json["workloads"] == 1);
  auto l = c.request({{"op", "list"}});
  BOOST_TEST(l->json["workloads"].size() == 1u);
  BOOST_TEST(!l->json["workloads"][0].contains("pid"));  // api.sock does not expose pids
}

BOOST_AUTO_TEST_CASE(admin_ops_are_refused_on_the_api_socket) {
  auto c = client();
  BOOST_TEST(errorCode(c.request({{"op", "workloads"}})->json) == "UNAUTHORIZED");
  BOOST_TEST(errorCode(c.request({{"op", "events"}})->json) == "UNAUTHORIZED");
  auto a = admin();
  BOOST_TEST(errorCode(a.request({{"op", "workloads"}})->json) == "OK");
}

BOOST_AUTO_TEST_SUITE_END()
