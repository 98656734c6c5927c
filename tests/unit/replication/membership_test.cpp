#include "kith/replication/membership.h"

#include <boost/test/unit_test.hpp>

using kith::FakeClock;
using namespace kith::replication;

namespace {
MembershipConfig cfg() { return MembershipConfig{100, 500}; }
}  // namespace

BOOST_AUTO_TEST_SUITE(replication_membership)

BOOST_AUTO_TEST_CASE(a_tracked_peer_is_listed_down_until_heard) {
  FakeClock clock;
  Membership m(cfg(), clock);
  m.track("n2", "tcp://127.0.0.1:5000", "ab");
  auto snap = m.snapshot();
  BOOST_REQUIRE(snap.size() == 1);
  BOOST_TEST(snap[0].machine == "n2");
  BOOST_TEST(snap[0].endpoint == "tcp://127.0.0.1:5000");
  BOOST_TEST(snap[0].configured);
  BOOST_TEST(!snap[0].up);
  BOOST_TEST(snap[0].lastSeenMs == 0);
  BOOST_TEST(!m.nextDeadlineMs().has_value());
  BOOST_TEST(m.sweep().empty());
}

BOOST_AUTO_TEST_CASE(traffic_brings_a_peer_up_once) {
  FakeClock clock;
  Membership m(cfg(), clock);
  BOOST_TEST(m.heard("n2", 10));
  BOOST_TEST(!m.heard("n2", 5));
  auto p = m.peer("n2");
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(p->up);
  BOOST_TEST(!p->configured);
  BOOST_TEST(p->messagesIn == 2u);
  BOOST_TEST(p->bytesIn == 15u);
  BOOST_TEST(p->lastSeenMs == clock.monotonicMillis());
  BOOST_TEST(p->upSinceMs == clock.monotonicMillis());
}

BOOST_AUTO_TEST_CASE(a_silent_peer_goes_down_after_down_after_ms_and_back_up_on_traffic) {
  FakeClock clock;
  Membership m(cfg(), clock);
  m.heard("n2", 1);
  const int64_t t0 = clock.monotonicMillis();
  BOOST_TEST(m.nextDeadlineMs().value() == t0 + 500);
  clock.advanceMillis(499);
  BOOST_TEST(m.sweep().empty());
  BOOST_TEST(m.isUp("n2"));
  clock.advanceMillis(1);
  auto down = m.sweep();
  BOOST_REQUIRE(down.size() == 1);
  BOOST_TEST(down[0] == "n2");
  BOOST_TEST(!m.isUp("n2"));
  BOOST_TEST(m.sweep().empty());  // reported once
  BOOST_TEST(!m.nextDeadlineMs().has_value());
  clock.advanceMillis(10'000);
  BOOST_TEST(m.heard("n2", 1));
  BOOST_TEST(m.isUp("n2"));
  BOOST_TEST(m.peer("n2")->upSinceMs == clock.monotonicMillis());
}

BOOST_AUTO_TEST_CASE(heartbeats_keep_a_peer_up) {
  FakeClock clock;
  Membership m(cfg(), clock);
  m.heard("n2", 1);
  for (int i = 0; i < 50; ++i) {
    clock.advanceMillis(100);
    m.heard("n2", 1);
    BOOST_TEST(m.sweep().empty());
  }
  BOOST_TEST(m.isUp("n2"));
}

BOOST_AUTO_TEST_CASE(sweep_reports_only_the_silent_ones_in_name_order) {
  FakeClock clock;
  Membership m(cfg(), clock);
  m.heard("c", 1);
  m.heard("a", 1);
  m.heard("b", 1);
  clock.advanceMillis(300);
  m.heard("b", 1);
  clock.advanceMillis(200);
  auto down = m.sweep();
  BOOST_TEST((down == std::vector<std::string>{"a", "c"}));
  BOOST_TEST(m.isUp("b"));
  BOOST_TEST(m.nextDeadlineMs().value() == clock.monotonicMillis() + 300);
}

BOOST_AUTO_TEST_CASE(links_counters_and_forget) {
  FakeClock clock;
  Membership m(cfg(), clock);
  m.setLinks("ghost", 0, true);
  BOOST_TEST(m.snapshot().empty());
  m.track("n2", "tcp://x:1", "");
  m.setLinks("n2", 2, true);
  m.sent("n2", 40);
  m.sent("unknown", 40);  // ignored
  m.setRtt("n2", 3);
  m.setNodeKey("n2", "cafe");
  auto p = m.peer("n2").value();
  BOOST_TEST(p.links == 2);
  BOOST_TEST(p.encrypted);
  BOOST_TEST(p.messagesOut == 1u);
  BOOST_TEST(p.bytesOut == 40u);
  BOOST_TEST(p.rttMs == 3);
  BOOST_TEST(p.nodeKeyHex == "cafe");
  m.setLinks("n2", 1, false);
  BOOST_TEST(!m.peer("n2")->encrypted);
  m.setLinks("n2", 0, true);
  BOOST_TEST(!m.peer("n2")->encrypted);  // no link is not an encrypted link
  m.forget("n2");
  BOOST_TEST(!m.peer("n2").has_value());
  BOOST_TEST(m.snapshot().size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
