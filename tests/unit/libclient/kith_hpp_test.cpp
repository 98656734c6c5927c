// The header-only C++ wrapper: RAII, copies, and errors as exceptions.
#include "kith/common/json.h"
#include "kith/kith.hpp"

#include <boost/test/unit_test.hpp>

#include "fake_daemon.h"

using kith::testing::FakeConn;
using kith::testing::FakeDaemon;
using kith::testing::Json;

BOOST_AUTO_TEST_SUITE(libclient_cpp)

BOOST_AUTO_TEST_CASE(client_registers_resolves_and_throws_refusals_with_codes) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) {
      s.ok(*r, {{"address", "dev.a.b.default.n1"},
                {"spiffe_id", "spiffe://dev.kith/dev/a/b/default/n1"},
                {"identity_hash", "h"},
                {"token", "t0k"},
                {"ttl_ms", 30000}});
    }
    if (auto r = s.read()) {
      s.ok(*r, {{"workloads", {{{"address", "dev.db.a.default.n1"},
                                {"spiffe_id", "s"},
                                {"machine", "n1"},
                                {"protocols", {"tcp", "udp"}}}}}});
    }
    if (auto r = s.read()) s.error(*r, "UNAUTHORIZED", "whitelist of dev.db.a.default.n1");
    if (auto r = s.read()) s.error(*r, "RATE_LIMITED", "slow down");
  });
  kith::Client c = kith::Client::open(d.path());
  kith::RegisterOptions o;
  o.name = "dev.a.b.default";
  o.whitelist = {"dev.*.*.*.*"};
  kith::Registration r = c.registerAs(o);
  BOOST_TEST(r.address == "dev.a.b.default.n1");
  BOOST_TEST(r.token == "t0k");
  BOOST_TEST(r.ttlMs == 30000);

  auto w = c.resolve("dev.db.*.*.*");
  BOOST_REQUIRE_EQUAL(w.size(), 1u);
  BOOST_TEST(w[0].protocols == (std::vector<std::string>{"tcp", "udp"}));

  try {
    c.connect("dev.db.a.default.n1");
    BOOST_ERROR("connect should have thrown");
  } catch (const kith::Error& e) {
    BOOST_TEST(e.status() == KITH_UNAUTHORIZED);
    BOOST_TEST(e.code() == "UNAUTHORIZED");
    BOOST_TEST(e.message() == "whitelist of dev.db.a.default.n1");
    BOOST_TEST(std::string(e.what()) == "UNAUTHORIZED: whitelist of dev.db.a.default.n1");
  }
  // request() hands back error replies instead of throwing.
  kith::Reply rep = c.request(R"({"op":"anything"})");
  BOOST_TEST(rep.status == KITH_RATE_LIMITED);
  BOOST_TEST(rep.code == "RATE_LIMITED");
  BOOST_TEST(kith::parseJson(rep.json)["error"]["message"] == "slow down");
  d.join();
  BOOST_TEST(d.problems().empty());
  BOOST_TEST(d.requests().at(0)["whitelist"] == Json::array({"dev.*.*.*.*"}));
  BOOST_TEST(d.requests().at(2)["token"] == "t0k");
}

BOOST_AUTO_TEST_CASE(open_failure_throws_io_and_waits_return_nullopt) {
  try {
    kith::Client::open("/nonexistent/kith/api.sock");
    BOOST_ERROR("open should have thrown");
  } catch (const kith::Error& e) {
    BOOST_TEST(e.status() == KITH_IO);
    BOOST_TEST(e.message().find("/nonexistent/kith/api.sock") != std::string::npos);
  }
  FakeDaemon d([](FakeConn& s) { s.clientClosedCleanly(10000); });
  {
    kith::Client c = kith::Client::open(d.path());
    BOOST_TEST(!c.accept(0).has_value());
    BOOST_TEST(!c.nextEvent(10).has_value());
    kith::Client moved = std::move(c);
    BOOST_TEST(c.handle() == nullptr);
    BOOST_TEST(moved.fileno() >= 0);
  }  // closing the moved-to client lets the fake finish
  d.join();
}

BOOST_AUTO_TEST_SUITE_END()
