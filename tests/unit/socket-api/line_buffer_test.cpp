#include "kith/socket-api/line_buffer.h"

#include <boost/test/unit_test.hpp>

using kith::api::LineBuffer;

BOOST_AUTO_TEST_SUITE(socket_api_line_buffer)

BOOST_AUTO_TEST_CASE(lines_split_across_reads_are_reassembled) {
  LineBuffer b;
  b.append("{\"op\":");
  LineBuffer::Item it;
  BOOST_TEST(!b.next(&it));
  b.append("\"hello\"}\n{\"op\":\"status\"}\r\npartial");
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST(it.line == "{\"op\":\"hello\"}");
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST(it.line == "{\"op\":\"status\"}");
  BOOST_TEST(!b.next(&it));
  BOOST_TEST(b.pending() == 7u);
}

BOOST_AUTO_TEST_CASE(oversize_line_is_reported_once_and_the_next_line_survives) {
  LineBuffer b(16);
  LineBuffer::Item it;
  // Arrives in pieces with no newline for longer than the limit.
  for (int i = 0; i < 10; ++i) {
    b.append("xxxxxxxxxx");
    if (b.next(&it)) BOOST_FAIL("no item may complete before the newline");
  }
  BOOST_TEST(b.pending() < 16u);  // memory stays bounded while discarding
  b.append("yyy\nok\n");
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST((it.kind == LineBuffer::Kind::kOversize));
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST((it.kind == LineBuffer::Kind::kLine));
  BOOST_TEST(it.line == "ok");
  BOOST_TEST(!b.next(&it));
}

BOOST_AUTO_TEST_CASE(oversize_line_arriving_whole_is_rejected) {
  LineBuffer b(8);
  LineBuffer::Item it;
  b.append("0123456789\nshort\n");
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST((it.kind == LineBuffer::Kind::kOversize));
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST(it.line == "short");
}

BOOST_AUTO_TEST_CASE(line_of_exactly_the_limit_is_accepted) {
  LineBuffer b(8);
  LineBuffer::Item it;
  b.append("1234567\n");  // 7 bytes + newline = 8
  BOOST_REQUIRE(b.next(&it));
  BOOST_TEST((it.kind == LineBuffer::Kind::kLine));
  BOOST_TEST(it.line == "1234567");
}

BOOST_AUTO_TEST_SUITE_END()
