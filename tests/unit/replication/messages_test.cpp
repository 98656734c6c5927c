#include "kith/replication/messages.h"

#include <boost/test/unit_test.hpp>

#include <ostream>

namespace kith::replication {
std::ostream& operator<<(std::ostream& os, DecodeError e) { return os << decodeErrorName(e); }
}  // namespace kith::replication

using namespace kith::replication;

namespace {

Message hello() {
  return Message{"HELLO", {"S deleg", "S infra", "{}"}};
}

DecodeError errorOf(std::vector<std::string> parts) {
  Decoded d = decode(std::move(parts));
  BOOST_REQUIRE(!d.message.has_value());
  BOOST_REQUIRE(d.error.has_value());
  return *d.error;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_messages)

BOOST_AUTO_TEST_CASE(every_type_round_trips_through_multipart) {
  const std::vector<Message> all = {
      hello(),
      Message{"RECORDS", {"S a", "S b"}},
      Message{"RECORDS", {}},
      Message{"ACK", {R"({"zone":"n1","seq":3})"}},
      Message{"PULL", {R"({"n1":3})"}},
      makePing(1234),
      makePong("1234"),
      Message{"PEERS", {R"([{"machine":"n2","endpoint":"tcp://h:1","key":"00"}])"}},
  };
  for (const auto& m : all) {
    BOOST_TEST_CONTEXT(m.type) {
      auto parts = encode(m);
      BOOST_TEST(parts.size() == m.frames.size() + 1);
      BOOST_TEST(parts[0] == m.type);
      Decoded d = decode(parts);
      BOOST_REQUIRE(d.message.has_value());
      BOOST_TEST(!d.error.has_value());
      BOOST_TEST((*d.message == m));
      BOOST_TEST(validateMessage(m).isOk());
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_type_is_refused) {
  BOOST_TEST(errorOf({"HELO", "x", "y", "z"}) == DecodeError::kUnknownType);
  BOOST_TEST(errorOf({"hello", "x", "y", "z"}) == DecodeError::kUnknownType);  // case matters
  BOOST_TEST(errorOf({"", "x"}) == DecodeError::kUnknownType);
  BOOST_TEST(errorOf({std::string(100000, 'A')}) == DecodeError::kUnknownType);
  BOOST_TEST(errorOf({std::string("PING\0", 5), "1"}) == DecodeError::kUnknownType);
}

BOOST_AUTO_TEST_CASE(empty_multipart_is_refused) {
  BOOST_TEST(errorOf({}) == DecodeError::kEmpty);
}

BOOST_AUTO_TEST_CASE(wrong_frame_counts_are_refused) {
  BOOST_TEST(errorOf({"HELLO", "a", "b"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"HELLO", "a", "b", "c", "d"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"PING"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"PING", "1", "2"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"ACK"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"PULL", "{}", "{}", "{}"}) == DecodeError::kFrameCount);
  BOOST_TEST(errorOf({"PEERS"}) == DecodeError::kFrameCount);
}

BOOST_AUTO_TEST_CASE(records_are_limited_to_100000_frames) {
  std::vector<std::string> ok(kMaxRecordsFrames + 1, "r");
  ok[0] = "RECORDS";
  Decoded d = decode(ok);
  BOOST_REQUIRE(d.message.has_value());
  BOOST_TEST(d.message->frames.size() == kMaxRecordsFrames);
  ok.push_back("r");
  BOOST_TEST(errorOf(ok) == DecodeError::kFrameCount);
}

BOOST_AUTO_TEST_CASE(a_frame_over_one_mebibyte_is_refused) {
  Decoded d = decode({"RECORDS", std::string(kMaxFrameBytes, 'x')});
  BOOST_TEST(d.message.has_value());
  BOOST_TEST(errorOf({"RECORDS", "a", std::string(kMaxFrameBytes + 1, 'x')}) ==
             DecodeError::kFrameTooLarge);
}

BOOST_AUTO_TEST_CASE(payload_must_be_utf8) {
  BOOST_TEST(decode({"RECORDS", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"}).message.has_value());
  BOOST_TEST(errorOf({"RECORDS", "\xff"}) == DecodeError::kNotUtf8);
  BOOST_TEST(errorOf({"RECORDS", "\xc0\xaf"}) == DecodeError::kNotUtf8);          // overlong '/'
  BOOST_TEST(errorOf({"RECORDS", "\xe0\x80\xaf"}) == DecodeError::kNotUtf8);      // overlong
  BOOST_TEST(errorOf({"RECORDS", "\xed\xa0\x80"}) == DecodeError::kNotUtf8);      // surrogate
  BOOST_TEST(errorOf({"RECORDS", "\xf4\x90\x80\x80"}) == DecodeError::kNotUtf8);  // > U+10FFFF
  BOOST_TEST(errorOf({"RECORDS", "ok", "\xe2\x82"}) == DecodeError::kNotUtf8);    // truncated
}

BOOST_AUTO_TEST_CASE(ping_and_pong_carry_a_decimal) {
  BOOST_TEST(decode({"PING", "0"}).message.has_value());
  BOOST_TEST(decode({"PONG", "18446744073709551615"}).message.has_value());
  BOOST_TEST(errorOf({"PING", ""}) == DecodeError::kBadPayload);
  BOOST_TEST(errorOf({"PING", "-1"}) == DecodeError::kBadPayload);
  BOOST_TEST(errorOf({"PONG", "12a"}) == DecodeError::kBadPayload);
  BOOST_TEST(errorOf({"PONG", "18446744073709551616"}) == DecodeError::kBadPayload);
  BOOST_TEST(makePing(-5).frames[0] == "0");
}

BOOST_AUTO_TEST_CASE(reader_resets_between_messages) {
  MessageReader r;
  r.add("BOGUS");
  r.add("x");
  Decoded bad = r.finish();
  BOOST_TEST(bad.error.has_value());
  r.add("PING");
  r.add("7");
  Decoded good = r.finish();
  BOOST_REQUIRE(good.message.has_value());
  BOOST_TEST(good.message->frames[0] == "7");
  BOOST_TEST(r.finish().error.value() == DecodeError::kEmpty);
}

BOOST_AUTO_TEST_CASE(validate_names_the_reason) {
  kith::Status s = validateMessage(Message{"PING", {"x"}});
  BOOST_TEST(!s.isOk());
  BOOST_TEST((s.code() == kith::Code::kBadRequest));
  BOOST_TEST(s.message().find("bad_payload") != std::string::npos);
  BOOST_TEST(!validateMessage(Message{"NOPE", {}}).isOk());
  for (size_t i = 0; i < kDecodeErrorCount; ++i) {
    BOOST_TEST(decodeErrorName(static_cast<DecodeError>(i)) != "unknown");
  }
}

BOOST_AUTO_TEST_SUITE_END()
