#include "kith/replication/zone_digest.h"

#include <boost/test/unit_test.hpp>

#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;

namespace {

RecordSet setOf(const std::vector<Record>& recs) {
  RecordSet s;
  for (const auto& r : recs) s.offer(r);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(zone_digest)

BOOST_AUTO_TEST_CASE(same_records_in_any_order_give_the_same_digest) {
  auto a = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey()), b = srvRecord("n1", "dev.b.b.default.n1", 2, nodeKey());
  ZoneDigest d1 = zoneDigest({&a, &b}), d2 = zoneDigest({&b, &a});
  BOOST_TEST((d1 == d2));
  BOOST_TEST(d1.count == 2u);
  BOOST_TEST(d1.hash.size() == 32u);
}

BOOST_AUTO_TEST_CASE(a_missing_record_changes_the_digest_though_the_version_vector_is_equal) {
  // The gap a version vector cannot see: seq 1 missed, seq 2 arrived.
  auto a = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey()), b = srvRecord("n1", "dev.b.b.default.n1", 2, nodeKey());
  RecordSet full = setOf({a, b}), gappy = setOf({b});
  BOOST_TEST(full.versionVector() == gappy.versionVector());
  ZoneDigests df = zoneDigests(full), dg = zoneDigests(gappy);
  BOOST_TEST(!(df.at("n1") == dg.at("n1")));
  BOOST_TEST(dg.at("n1").count == 1u);
  // The full side resends zone n1 to the gappy one; not the other way round.
  auto resend = zonesToResend(df, full.versionVector(), dg, gappy.versionVector());
  BOOST_TEST(resend == std::vector<std::string>{"n1"});
  // The gappy side, asked by the full one, also offers its zone (its vector is
  // not behind); the full side then just sees replays.
  BOOST_TEST(zonesToResend(dg, gappy.versionVector(), df, full.versionVector()).size() == 1u);
  // Equal digests: nothing to resend.
  BOOST_TEST(zonesToResend(df, full.versionVector(), df, full.versionVector()).empty());
}

BOOST_AUTO_TEST_CASE(a_different_seq_for_the_same_subject_changes_the_digest) {
  auto v1 = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey()), v2 = srvRecord("n1", "dev.a.a.default.n1", 2, nodeKey());
  BOOST_TEST(!(zoneDigest({&v1}) == zoneDigest({&v2})));
}

BOOST_AUTO_TEST_CASE(a_zone_where_the_vectors_differ_is_not_resent) {
  auto a = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey()), b = srvRecord("n1", "dev.b.b.default.n1", 2, nodeKey());
  RecordSet behind = setOf({a}), ahead = setOf({a, b});
  // The puller is ahead: it holds more; our own PULL fetches it.
  BOOST_TEST(zonesToResend(zoneDigests(behind), behind.versionVector(), zoneDigests(ahead), ahead.versionVector())
                 .empty());
  // The puller is behind (catching up): newerThan sends what it lacks above
  // its vector; no whole-zone resend on top of that.
  BOOST_TEST(zonesToResend(zoneDigests(ahead), ahead.versionVector(), zoneDigests(behind), behind.versionVector())
                 .empty());
}

BOOST_AUTO_TEST_CASE(digests_round_trip_and_hostile_input_is_refused) {
  auto a = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey());
  RecordSet s = setOf({a});
  ZoneDigests d = zoneDigests(s);
  auto back = parseZoneDigests(encodeZoneDigests(d));
  BOOST_REQUIRE(back.isOk());
  BOOST_TEST((*back == d));
  for (const char* bad : {"[]", "{\"n1\":1}", "{\"n1\":[1]}", "{\"n1\":[-1,\"00000000000000000000000000000000\"]}",
                          "{\"n1\":[1,\"XYZ\"]}", "{\"bad zone\":[1,\"00000000000000000000000000000000\"]}",
                          "{\"n1\":[1,\"0000000000000000000000000000000G\"]}", "not json", "{\"n1\":[[[[]]]]}"}) {
    BOOST_TEST(!parseZoneDigests(bad).isOk(), bad);
  }
}

BOOST_AUTO_TEST_CASE(generation_moves_on_store_replace_and_reap_only) {
  RecordSet s;
  auto v1 = srvRecord("n1", "dev.a.a.default.n1", 1, nodeKey()), v2 = srvRecord("n1", "dev.a.a.default.n1", 2, nodeKey());
  uint64_t g0 = s.generation();
  s.offer(v1);
  uint64_t g1 = s.generation();
  BOOST_TEST(g1 != g0);
  s.offer(v1);  // replay
  BOOST_TEST(s.generation() == g1);
  s.offer(v2);
  BOOST_TEST(s.generation() != g1);
  uint64_t g2 = s.generation();
  s.reapExpired(kUntil + 1);
  BOOST_TEST(s.generation() != g2);
}

BOOST_AUTO_TEST_SUITE_END()
