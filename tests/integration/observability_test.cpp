// Metrics and health events from real kithd processes: `kithctl metrics` is
// valid Prometheus text whose values move, the HTTP listener answers curl on
// loopback only, and action-required / health events come and go with their
// causes (a rejected policy file, an expiring certificate).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <set>
#include <sstream>

#include "../helpers/prometheus_text.h"
#include "fixture.h"
#include "kith/common/clock.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string kithctl(const std::string& socket, const std::string& args, int* rc) {
  std::string out;
  *rc = runCommand(binDir() + "/kithctl --socket " + socket + " " + args + " 2>&1", &out);
  return out;
}

double metric(const std::string& text, const std::string& series) {
  auto v = sampleValue(text, series);
  BOOST_REQUIRE_MESSAGE(v.has_value(), series << " missing from:\n" << text);
  return *v;
}

// A daemon with a config file of its own (plus --dev for the identity).
struct ConfiguredDaemon {
  TempDir dir;
  std::string configPath = dir.path() + "/kithd.toml";
  DaemonProcess daemon{dir.path() + "/home"};

  ~ConfiguredDaemon() {
    if (daemon.running()) {
      int st = daemon.stop();
      BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0), daemon.log());
    }
  }
  void start(const std::string& config) {
    writeFile(configPath, config);
    kith::Status st = daemon.start({"--config", configPath});
    if (!st.isOk()) BOOST_FAIL("kithd did not start: " << st.message() << "\n" << daemon.log());
  }
  TestClient client() { return DaemonFixture::connectTo(daemon.apiSocket()); }
  TestClient admin() { return DaemonFixture::connectTo(daemon.adminSocket()); }
  // Every health record the daemon holds, oldest first.
  std::vector<json> healthEvents() {
    auto r = admin().request({{"op", "events"}});
    BOOST_REQUIRE(r.isOk());
    std::vector<json> out;
    for (auto& e : r->json["events"]) {
      if (e.value("mod", "") == "health") out.push_back(e);
    }
    return out;
  }
};

size_t countWith(const std::vector<json>& evs, const std::string& key, const std::string& id, bool null) {
  size_t n = 0;
  for (const auto& e : evs) {
    if (!e.contains(key)) continue;
    if (null && e[key].is_null() && e.value("id", "") == id) ++n;
    if (!null && e[key].is_object() && e[key].value("id", "") == id) ++n;
  }
  return n;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(metrics, DaemonFixture)

BOOST_AUTO_TEST_CASE(kithctl_metrics_is_valid_exposition_and_moves_with_registrations) {
  int rc = -1;
  std::string before = kithctl(daemon.apiSocket(), "metrics", &rc);
  BOOST_REQUIRE_EQUAL(rc, 0);
  std::string why;
  BOOST_TEST(validExposition(before, &why), why);
  for (const char* family : {"kith_workloads", "kith_api_connections", "kith_streams_open", "kith_relayed_bytes_total",
                             "kith_policy_decisions_total", "kith_api_errors_total", "kith_peers", "kith_records",
                             "kith_certificate_expiry_timestamp_seconds", "kith_healthy", "kith_build_info"}) {
    BOOST_TEST(contains(before, std::string("# TYPE ") + family + " "), family);
  }
  BOOST_TEST(metric(before, "kith_workloads") == 0.0);
  BOOST_TEST(metric(before, "kith_healthy") == 1.0);
  double now = static_cast<double>(kith::systemClock().nowMicros() / 1000000);
  BOOST_TEST(metric(before, "kith_certificate_expiry_timestamp_seconds{file=\"node.crt\"}") > now);
  double badBefore = metric(before, "kith_api_errors_total{code=\"BAD_REQUEST\"}");
  double regBefore = metric(before, "kith_registrations_total");

  std::vector<TestClient> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(client());
    auto r = reg(held.back(), {{"name", "dev.metrics.w" + std::to_string(i) + ".default"}});
    BOOST_REQUIRE_EQUAL(errorCode(r), "OK");
  }
  auto c = client();
  BOOST_TEST(errorCode(c.request({{"op", "register"}, {"name", "not a name"}})->json) == "BAD_REQUEST");

  std::string after = kithctl(daemon.apiSocket(), "metrics", &rc);
  BOOST_REQUIRE_EQUAL(rc, 0);
  BOOST_TEST(validExposition(after, &why), why);
  BOOST_TEST(metric(after, "kith_workloads") == 3.0);
  BOOST_TEST(metric(after, "kith_registrations_total") == regBefore + 3);
  BOOST_TEST(metric(after, "kith_api_errors_total{code=\"BAD_REQUEST\"}") == badBefore + 1);
  BOOST_TEST(metric(after, "kith_api_connections") >= 4.0);

  // --json carries the same text; api.sock alone is refused (admin op).
  std::string js = kithctl(daemon.apiSocket(), "metrics --json", &rc);
  BOOST_TEST(rc == 0);
  auto j = kith::parseJson(js);
  BOOST_TEST((j.is_object() && contains(j.value("text", ""), "kith_workloads 3\n")), js);
  BOOST_TEST(j["http"].is_null());
  auto r = c.request({{"op", "metrics"}});
  BOOST_TEST(errorCode(r->json) == "UNAUTHORIZED");
}

BOOST_AUTO_TEST_CASE(relayed_bytes_and_open_streams_are_counted) {
  auto srv = client();
  auto s = reg(srv, {{"name", "dev.metrics.srv.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE_EQUAL(errorCode(srv.request({{"op", "listen"}, {"token", s["token"]}})->json), "OK");
  auto cli = client();
  auto t = reg(cli, {{"name", "dev.metrics.cli.default"}});
  auto a = admin();
  double bytes0 = metric(a.request({{"op", "metrics"}})->json["text"], "kith_relayed_bytes_total");
  auto conn = cli.request({{"op", "connect"}, {"token", t["token"]}, {"destination", addr("dev.metrics.srv.default")}});
  BOOST_REQUIRE_EQUAL(errorCode(conn->json), "OK");
  auto inc = srv.nextEvent();
  BOOST_REQUIRE(inc.isOk());
  BOOST_REQUIRE(inc->fd);
  std::string msg(10000, 'x');
  BOOST_REQUIRE(::write(conn->fd.get(), msg.data(), msg.size()) == static_cast<ssize_t>(msg.size()));
  size_t got = 0;
  char buf[4096];
  while (got < msg.size()) {
    ssize_t n = ::read(inc->fd.get(), buf, sizeof buf);
    BOOST_REQUIRE(n > 0);
    got += static_cast<size_t>(n);
  }
  std::string text = a.request({{"op", "metrics"}})->json["text"];
  BOOST_TEST(metric(text, "kith_streams_open") == 1.0);
  BOOST_TEST(metric(text, "kith_relayed_bytes_total") >= bytes0 + 10000);
  BOOST_TEST(metric(text, "kith_connects_total{result=\"relayed\"}") >= 1.0);
  BOOST_TEST(metric(text, "kith_policy_decisions_total{result=\"allow\"}") >= 1.0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics_http)

BOOST_AUTO_TEST_CASE(the_http_listener_serves_metrics_to_curl_on_loopback) {
  ConfiguredDaemon d;
  d.start("[metrics]\nlisten = \"127.0.0.1:0\"\n");
  auto r = d.admin().request({{"op", "metrics"}});
  BOOST_REQUIRE(r.isOk());
  std::string addr = r->json.value("http", "");
  BOOST_REQUIRE_MESSAGE(addr.rfind("127.0.0.1:", 0) == 0, kith::dumpJson(r->json));
  std::string out;
  int rc = runCommand("curl -sf --max-time 10 http://" + addr + "/metrics", &out);
  BOOST_REQUIRE_MESSAGE(rc == 0, out);
  std::string why;
  BOOST_TEST(validExposition(out, &why), why);
  BOOST_TEST(contains(out, "kith_workloads 0\n"));
  out.clear();
  runCommand("curl -s --max-time 10 -o /dev/null -w '%{http_code}' http://" + addr + "/nothing", &out);
  BOOST_TEST(out == "404");
  out.clear();
  runCommand("curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST http://" + addr + "/metrics", &out);
  BOOST_TEST(out == "405");
  out.clear();
  runCommand("curl -sI --max-time 10 http://" + addr + "/metrics", &out);
  BOOST_TEST(contains(out, "Content-Type: text/plain; version=0.0.4"), out);
  // Garbage, an endless request line and a client that says nothing are
  // answered or closed, and do not hurt the daemon.
  out.clear();
  runCommand("printf 'junk\\r\\n\\r\\n' | curl -s --max-time 5 telnet://" + addr, &out);
  BOOST_TEST(contains(out, "HTTP/1.1 400"), out);
  out.clear();
  runCommand("head -c 9000 /dev/zero | tr '\\0' A | curl -s --max-time 5 telnet://" + addr, &out);
  BOOST_TEST(contains(out, "HTTP/1.1 431"), out);
  out.clear();
  {
    // Says nothing: closed after the 5 s request deadline.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1))));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto t0 = std::chrono::steady_clock::now();
    char b;
    ssize_t n = ::recv(fd, &b, 1, 0);
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ::close(fd);
    BOOST_TEST(n == 0);  // EOF from the daemon, not our 30 s timeout
    BOOST_TEST(waited < 29.0);
  }
  auto h = d.client().request({{"op", "hello"}});
  BOOST_TEST(errorCode(h->json) == "OK");
}

BOOST_AUTO_TEST_CASE(a_non_loopback_listen_is_refused_unless_explicitly_allowed) {
  ConfiguredDaemon d;
  writeFile(d.configPath, "[metrics]\nlisten = \"0.0.0.0:0\"\n");
  BOOST_REQUIRE(d.daemon.spawn({"--dev", "--home", d.daemon.home(), "--config", d.configPath}).isOk());
  int st = d.daemon.waitExit(30000);
  BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) != 0), st);
  BOOST_TEST(contains(d.daemon.log(), "not a loopback address"), d.daemon.log());
  BOOST_TEST(contains(d.daemon.log(), "allow_non_loopback"), d.daemon.log());

  ConfiguredDaemon ok;
  ok.start("[metrics]\nlisten = \"0.0.0.0:0\"\nallow_non_loopback = true\n");
  std::string addr = ok.admin().request({{"op", "metrics"}})->json.value("http", "");
  BOOST_REQUIRE(addr.rfind("0.0.0.0:", 0) == 0);
  std::string out;
  BOOST_TEST(runCommand("curl -sf --max-time 10 http://127.0.0.1:" + addr.substr(8) + "/metrics", &out) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(health_events)

BOOST_AUTO_TEST_CASE(a_rejected_policy_requires_action_until_fixed_then_null_once) {
  ConfiguredDaemon d;
  std::string policy = d.dir.path() + "/policy.toml";
  writeFile(policy, "[[allow]]\nfrom = \"dev.*.*.*.*\"\nto = \"dev.*.*.*.*\"\n");
  d.start("[policy]\nfile = \"" + policy + "\"\n[health]\ninterval_ms = 200\n");
  BOOST_REQUIRE(waitFor([&] { return !d.healthEvents().empty(); }, 20000));
  auto first = d.healthEvents();
  BOOST_TEST(first.front().value("health", false) == true, kith::dumpJson(first.front()));

  writeFile(policy, "[[allow]]\nfrom = \"dev.*.*.*.*\"\nto = 42\n");
  BOOST_TEST(errorCode(d.admin().request({{"op", "policy.reload"}})->json) == "BAD_REQUEST");
  // Repeated while it holds.
  BOOST_REQUIRE(waitFor([&] { return countWith(d.healthEvents(), "action-required", "policy", false) >= 3; }, 30000));
  auto evs = d.healthEvents();
  json ar;
  bool unhealthy = false;
  for (auto& e : evs) {
    if (e.contains("action-required") && e["action-required"].is_object()) ar = e["action-required"];
    if (e.contains("health") && e["health"] == false) unhealthy = true;
  }
  BOOST_TEST(unhealthy);
  BOOST_TEST(contains(ar.value("what", ""), policy), kith::dumpJson(ar));
  BOOST_TEST(contains(ar.value("do", ""), "kithctl policy test " + policy), kith::dumpJson(ar));
  BOOST_TEST(first.front()["ts"].get<int64_t>() > 1'000'000'000'000'000LL);  // microseconds
  auto st = d.admin().request({{"op", "status"}})->json;
  BOOST_TEST(st["health"]["healthy"] == false, kith::dumpJson(st));
  BOOST_TEST(st["health"]["action_required"].size() == 1u);
  // kithctl doctor passes it on with what to do.
  std::string doc;
  int rc = runCommand("KITH_HOME=" + d.daemon.home() + " " + binDir() + "/kithctl doctor", &doc);
  BOOST_TEST(rc == 0, doc);  // a warning, not a failure
  BOOST_TEST(contains(doc, "warn  health policy"), doc);
  BOOST_TEST(contains(doc, "fix: kithctl policy test " + policy), doc);

  // Fixed: one null, then no more action-required for it.
  writeFile(policy, "[[allow]]\nfrom = \"dev.*.*.*.*\"\nto = \"dev.*.*.*.*\"\n");
  BOOST_TEST(errorCode(d.admin().request({{"op", "policy.reload"}})->json) == "OK");
  BOOST_REQUIRE(waitFor([&] { return countWith(d.healthEvents(), "action-required", "policy", true) == 1; }, 20000));
  size_t repeats = countWith(d.healthEvents(), "action-required", "policy", false);
  // Let a few health intervals pass (200 ms each): nothing repeats, nothing is nulled twice.
  int64_t until = kith::systemClock().nowMicros() + 1'000'000;
  BOOST_REQUIRE(waitFor([&] { return kith::systemClock().nowMicros() > until; }, 5000));
  auto later = d.healthEvents();
  BOOST_TEST(countWith(later, "action-required", "policy", false) == repeats);
  BOOST_TEST(countWith(later, "action-required", "policy", true) == 1u);
  BOOST_TEST(later.back().value("health", false) == true, kith::dumpJson(later.back()));
  BOOST_TEST(d.admin().request({{"op", "status"}})->json["health"]["healthy"] == true);
  doc.clear();
  runCommand("KITH_HOME=" + d.daemon.home() + " " + binDir() + "/kithctl doctor", &doc);
  BOOST_TEST(contains(doc, "nothing that needs attention"), doc);
}

BOOST_AUTO_TEST_CASE(a_certificate_expiring_within_30_days_requires_action) {
  ConfiguredDaemon d;
  std::string ca = d.dir.path() + "/ca", node = d.dir.path() + "/node", out;
  BOOST_REQUIRE(runCommand(binDir() + "/kithctl ca init --trust-domain dev.kith --out " + ca, &out) == 0);
  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node m1 --ca " + ca + " --out " + node +
                                       " --validity-days 10", &out) == 0, out);
  writeFile(d.configPath, "machine = \"m1\"\ntrust_domain = \"dev.kith\"\nhome = \"" + d.daemon.home() +
                              "\"\n[identity]\nnode_dir = \"" + node + "\"\n");
  BOOST_REQUIRE(d.daemon.startWithConfig(d.configPath).isOk());
  BOOST_REQUIRE(waitFor([&] { return countWith(d.healthEvents(), "action-required", "certificate:node.crt", false) >= 1; },
                        20000));
  json ar;
  for (auto& e : d.healthEvents()) {
    if (e.contains("action-required") && e["action-required"].is_object() &&
        e["action-required"].value("id", "") == "certificate:node.crt") ar = e["action-required"];
  }
  BOOST_TEST(contains(ar.value("what", ""), "expires at"), kith::dumpJson(ar));
  BOOST_TEST((contains(ar.value("what", ""), "(in 9 days)") || contains(ar.value("what", ""), "(in 10 days)")),
             kith::dumpJson(ar));
  BOOST_TEST(contains(ar.value("do", ""), "kithctl ca issue-node"), kith::dumpJson(ar));
  std::string text = d.admin().request({{"op", "metrics"}})->json["text"];
  BOOST_TEST(metric(text, "kith_healthy") == 0.0);
  double expiry = metric(text, "kith_certificate_expiry_timestamp_seconds{file=\"node.crt\"}");
  double now = static_cast<double>(kith::systemClock().nowMicros() / 1000000);
  BOOST_TEST((expiry > now + 9 * 86400.0 && expiry < now + 11 * 86400.0));
}

BOOST_AUTO_TEST_CASE(kithctl_events_since_keeps_only_later_records) {
  ConfiguredDaemon d;
  d.start("");
  auto c = d.client();
  BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "register"}, {"name", "dev.ev.one.default"}})->json), "OK");
  int64_t mark = kith::systemClock().nowMicros();
  BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "register"}, {"name", "dev.ev.two.default"}})->json), "OK");
  int rc = -1;
  std::string out;
  BOOST_REQUIRE(waitFor([&] {
    out = kithctl(d.daemon.apiSocket(), "events --json --since " + std::to_string(mark), &rc);
    return contains(out, "dev.ev.two.default");
  }, 20000));
  BOOST_TEST(rc == 0);
  BOOST_TEST(!contains(out, "dev.ev.one.default"), out);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = kith::parseJson(line);
    BOOST_REQUIRE_MESSAGE(j.is_object(), line);
    BOOST_TEST(j["ts"].get<int64_t>() >= mark);
    BOOST_TEST(j.contains("mod"));
  }
  // Text form: one readable line per record, ISO time first.
  out = kithctl(d.daemon.apiSocket(), "events --since " + std::to_string(mark), &rc);
  BOOST_TEST(contains(out, "Z INFO "), out);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(health_peers)

// Two real daemons replicating: B reports A's link as working-on-it while A is
// down (B redials), counts it in kith_peers, and clears it once A is back.
BOOST_AUTO_TEST_CASE(a_peer_that_goes_away_is_working_on_it_until_it_returns) {
  TempDir dir;
  std::string ca = dir.path() + "/ca", out;
  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca init --trust-domain obs.kith --out " + ca, &out) == 0, out);
  auto prepare = [&](const std::string& m, const std::string& seed) {
    std::string home = dir.path() + "/" + m;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + m + " --ca " + ca + " --out " + home +
                                         "/node", &out) == 0, out);
    std::string cfg = home + ".toml";
    writeFile(cfg, "machine = \"" + m + "\"\ntrust_domain = \"obs.kith\"\nhome = \"" + home +
                       "\"\n[health]\ninterval_ms = 200\n[replication]\nlisten = \"tcp://127.0.0.1:0\"\n" +
                       (seed.empty() ? "" : "seeds = [\"" + seed + "\"]\n"));
    return cfg;
  };
  DaemonProcess a(dir.path() + "/a"), b(dir.path() + "/b");
  std::string cfgA = prepare("a", "");
  BOOST_REQUIRE(a.startWithConfig(cfgA).isOk());
  std::string seed = DaemonFixture::connectTo(a.adminSocket()).request({{"op", "peers"}})->json.value("seed", "");
  // A restarts on the same port, so the seed stays right.
  std::string endpoint = DaemonFixture::connectTo(a.adminSocket()).request({{"op", "peers"}})->json.value("endpoint", "");
  writeFile(cfgA, "machine = \"a\"\ntrust_domain = \"obs.kith\"\nhome = \"" + dir.path() + "/a" +
                      "\"\n[replication]\nlisten = \"" + endpoint + "\"\n");
  BOOST_REQUIRE(b.startWithConfig(prepare("b", seed)).isOk());
  auto metricsOf = [&](DaemonProcess& d) {
    return DaemonFixture::connectTo(d.adminSocket()).request({{"op", "metrics"}})->json["text"].get<std::string>();
  };
  BOOST_REQUIRE(waitFor([&] { return sampleValue(metricsOf(b), "kith_peers{state=\"up\"}").value_or(0) == 1.0; }, 60000));
  std::string why, text = metricsOf(b);
  BOOST_TEST(validExposition(text, &why), why);
  BOOST_TEST(sampleValue(text, "kith_replication_peer_last_seen_seconds{peer=\"a\"}").value_or(-1) >= 0.0, text);

  auto healthOfB = [&] {
    auto r = DaemonFixture::connectTo(b.adminSocket()).request({{"op", "events"}});
    std::vector<json> evs;
    for (auto& e : r->json["events"]) {
      if (e.value("mod", "") == "health") evs.push_back(e);
    }
    return evs;
  };
  // b may have said it already while the link first came up (a slow start,
  // under ASan): count what the kill adds.
  size_t before = countWith(healthOfB(), "working-on-it", "peer:a", false);
  size_t clearedBefore = countWith(healthOfB(), "working-on-it", "peer:a", true);
  a.kill9();
  BOOST_REQUIRE(waitFor([&] { return countWith(healthOfB(), "working-on-it", "peer:a", false) >= before + 1; }, 90000));
  BOOST_REQUIRE(waitFor([&] { return sampleValue(metricsOf(b), "kith_peers{state=\"down\"}").value_or(0) == 1.0; },
                        30000));
  text = metricsOf(b);
  BOOST_TEST(sampleValue(text, "kith_healthy").value_or(1) == 0.0);
  // Said once, not at every check.
  BOOST_TEST(countWith(healthOfB(), "working-on-it", "peer:a", false) == before + 1);

  BOOST_REQUIRE(a.startWithConfig(cfgA).isOk());
  BOOST_REQUIRE(waitFor([&] { return countWith(healthOfB(), "working-on-it", "peer:a", true) == clearedBefore + 1; },
                        90000));
  BOOST_TEST(waitFor([&] { return sampleValue(metricsOf(b), "kith_healthy").value_or(0) == 1.0; }, 30000),
             kith::dumpJson(DaemonFixture::connectTo(b.adminSocket()).request({{"op", "status"}})->json["health"]));
  BOOST_TEST(a.stop() == 0);
  BOOST_TEST(b.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(systemd_notify)

// The unit is Type=notify: kithd tells $NOTIFY_SOCKET READY=1 once it serves
// and STOPPING=1 when SIGTERM drains it, as systemd's own listener would see.
BOOST_AUTO_TEST_CASE(ready_and_stopping_reach_notify_socket) {
  TempDir dir;
  std::string path = dir.path() + "/notify";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  DaemonProcess d(dir.path() + "/home");
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  kith::Status st = d.start();
  ::unsetenv("NOTIFY_SOCKET");
  BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  BOOST_REQUIRE(n > 0);
  BOOST_TEST(std::string(buf, static_cast<size_t>(n)).rfind("READY=1\n", 0) == 0u, std::string(buf, n));
  int status = d.stop();
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  n = ::recv(fd, buf, sizeof buf, 0);
  BOOST_REQUIRE(n > 0);
  BOOST_TEST(std::string(buf, static_cast<size_t>(n)).rfind("STOPPING=1\n", 0) == 0u, std::string(buf, n));
  ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()
