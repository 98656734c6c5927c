// Acknowledged registrations survive kill -9 of the daemon; restarts keep what
// still lives and drop what died.
#include <poll.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <set>

#include "fixture.h"
#include "kith/common/json.h"
#include "kith/socket-api/line_buffer.h"

using namespace kith::test;
using nlohmann::json;

BOOST_FIXTURE_TEST_SUITE(durability, DaemonFixture)

BOOST_AUTO_TEST_CASE(kill9_mid_registrations_loses_nothing_acknowledged_and_duplicates_nothing) {
  constexpr int kTotal = 5000;
  constexpr int kConns = 8;
  std::vector<TestClient> conns;
  for (int i = 0; i < kConns; ++i) conns.push_back(client());
  // Pipeline every request up front; the daemon answers as batches commit.
  for (int i = 0; i < kTotal; ++i) {
    json req = {{"id", i}, {"op", "register"}, {"name", "dev.load.w" + std::to_string(i) + ".default"}};
    BOOST_REQUIRE(conns[i % kConns].sendRaw(kith::dumpJson(req) + "\n").isOk());
  }
  std::set<std::string> acked;
  std::vector<bool> open(kConns, true);
  bool killed = false;
  // One reply per connection in turn, so the kill lands as soon as a third
  // is acknowledged (reading one connection to its end first let a fast
  // daemon finish everything before the kill).
  auto drain = [&](int timeoutMs) {
    for (bool any = true; any;) {
      any = false;
      for (int i = 0; i < kConns; ++i) {
        if (!open[i]) continue;
        auto m = conns[i].next(timeoutMs);
        if (!m.isOk()) {
          // EOF (daemon gone) or quiet: this connection is done for now.
          if (m.status().code() != kith::Code::kTimeout) open[i] = false;
          continue;
        }
        any = true;
        if (m->json.value("ok", false)) acked.insert(m->json["address"].get<std::string>());
        if (!killed && acked.size() >= kTotal / 3) {
          daemon.kill9();
          killed = true;
        }
      }
    }
  };
  while (!killed) {
    size_t before = acked.size();
    drain(50);
    if (acked.size() == before && !killed) BOOST_REQUIRE_MESSAGE(before < kTotal, "finished before the kill");
  }
  drain(2000);  // replies already on the wire before the kill still count
  BOOST_TEST_MESSAGE("acknowledged before kill -9: " << acked.size());
  BOOST_TEST(acked.size() >= static_cast<size_t>(kTotal / 3));
  BOOST_TEST(acked.size() < static_cast<size_t>(kTotal));  // the kill really was mid-way

  // Restart on the same home: this test process still lives, so every
  // acknowledged registration must be back, each once.
  BOOST_REQUIRE(daemon.start().isOk());
  auto a = admin();
  auto w = a.request({{"op", "workloads"}}, 20000);
  BOOST_REQUIRE(w.isOk());
  std::map<std::string, int> present;
  for (auto& e : w->json["workloads"]) ++present[e["address"].get<std::string>()];
  size_t missing = 0;
  for (const auto& addr : acked) missing += present.count(addr) ? 0 : 1;
  BOOST_TEST(missing == 0u);
  for (const auto& [addr, n] : present) BOOST_TEST(n == 1);
  // Nothing registered that was never asked for.
  for (const auto& [addr, n] : present) BOOST_TEST(addr.rfind("dev.load.w", 0) == 0u);
  // And the database agrees with the daemon (no duplicate rows under any key).
  std::string out;
  int rc = runCommand("sqlite3 " + daemon.home() + "/state.db "
                      "'select count(*) - count(distinct address) from workloads'", &out);
  if (rc == 0) BOOST_TEST(out.substr(0, 1) == "0");
}

BOOST_AUTO_TEST_CASE(restart_keeps_live_registrations_and_drops_dead_ones) {
  WorkloadProcess alive, dead;
  BOOST_REQUIRE(alive.start({daemon.apiSocket(), {{"op", "register"}, {"name", "dev.svc.alive.default"}}}).isOk());
  BOOST_REQUIRE(dead.start({daemon.apiSocket(), {{"op", "register"}, {"name", "dev.svc.dead.default"}}}).isOk());
  daemon.kill9();
  dead.kill9();  // dies while the daemon is down: nobody saw it go
  BOOST_REQUIRE(daemon.start().isOk());
  BOOST_TEST(!workload(alive.address()).is_null());
  BOOST_TEST(workload(dead.address()).is_null());
  // The surviving registration's token still works after the restart.
  auto c = client();
  (void)c;
  alive.exitNow();
  BOOST_TEST(waitFor([&] { return workload(alive.address()).is_null(); }, 1000));
}

BOOST_AUTO_TEST_SUITE_END()
