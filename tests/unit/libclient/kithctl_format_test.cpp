// kithctl's argument parsing and readable output helpers.
#include "format.h"
#include "table.h"

#include <boost/test/unit_test.hpp>

using kith::kithctl::formatDuration;
using kith::kithctl::parseSince;
using kith::kithctl::Table;

BOOST_AUTO_TEST_SUITE(kithctl_format)

BOOST_AUTO_TEST_CASE(since_accepts_micros_iso_times_and_spans_back) {
  const int64_t now = 1'800'000'000'000'000;
  BOOST_TEST(parseSince("1795335584332661", now).value() == 1795335584332661);
  BOOST_TEST(parseSince("0", now).value() == 0);
  BOOST_TEST(parseSince("2023-11-14T22:13:20Z", now).value() == 1'700'000'000'000'000);
  BOOST_TEST(parseSince("2023-11-14T22:13:20.5Z", now).value() == 1'700'000'000'500'000);
  BOOST_TEST(parseSince("2023-11-14T22:13:20.000001Z", now).value() == 1'700'000'000'000'001);
  BOOST_TEST(parseSince("90s", now).value() == now - 90'000'000);
  BOOST_TEST(parseSince("15m", now).value() == now - 900'000'000);
  BOOST_TEST(parseSince("2h", now).value() == now - 7'200'000'000);
  BOOST_TEST(parseSince("1d", now).value() == now - 86'400'000'000);
}

BOOST_AUTO_TEST_CASE(since_rejects_anything_else) {
  for (const char* bad : {"", "xx", "5w", "m", "-5m", "2023-11-14", "2023-11-14T22:13:20",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20.1234567Z",
                          "12345678901234567890"}) {
    BOOST_TEST(!parseSince(bad, 0).has_value(), "accepted " << bad);
  }
}

BOOST_AUTO_TEST_CASE(durations_read_naturally) {
  BOOST_TEST(formatDuration(-5) == "0ms");
  BOOST_TEST(formatDuration(850) == "850ms");
  BOOST_TEST(formatDuration(42'000) == "42s");
  BOOST_TEST(formatDuration(192'000) == "3m12s");
  BOOST_TEST(formatDuration(7'500'000) == "2h05m");
  BOOST_TEST(formatDuration(3 * 86'400'000 + 3'600'000) == "3d01h");
}

BOOST_AUTO_TEST_CASE(table_columns_fit_the_widest_cell) {
  Table t({"ADDRESS", "PID"});
  t.add({"dev.a.b.default.n1", "7"});
  t.add({"x", "12345"});
  BOOST_TEST(t.rows() == 2u);
  BOOST_TEST(t.render() ==
             "ADDRESS             PID\n"
             "dev.a.b.default.n1  7\n"
             "x                   12345\n");
}

BOOST_AUTO_TEST_SUITE_END()
