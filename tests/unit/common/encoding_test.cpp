#include "kith/common/encoding.h"

#include <boost/test/unit_test.hpp>

#include "kith/common/clock.h"
#include "kith/common/status.h"

BOOST_AUTO_TEST_SUITE(common_encoding)

BOOST_AUTO_TEST_CASE(hex_round_trips_and_rejects_garbage) {
  kith::Bytes b{0x00, 0x7f, 0xff, 0x10};
  BOOST_TEST(kith::toHex(b) == "007fff10");
  BOOST_TEST((*kith::fromHex("007FFF10") == b));
  BOOST_TEST(!kith::fromHex("abc").has_value());
  BOOST_TEST(!kith::fromHex("zz").has_value());
}

BOOST_AUTO_TEST_CASE(base32_matches_rfc4648_vectors) {
  auto enc = [](std::string_view s) {
    return kith::toBase32(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  // RFC 4648 section 10, lowercased, padding removed.
  BOOST_TEST(enc("") == "");
  BOOST_TEST(enc("f") == "my");
  BOOST_TEST(enc("fo") == "mzxq");
  BOOST_TEST(enc("foo") == "mzxw6");
  BOOST_TEST(enc("foob") == "mzxw6yq");
  BOOST_TEST(enc("fooba") == "mzxw6ytb");
  BOOST_TEST(enc("foobar") == "mzxw6ytboi");
  auto back = kith::fromBase32("MZXW6YTBOI");
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(std::string(back->begin(), back->end()) == "foobar");
  BOOST_TEST(!kith::fromBase32("my1").has_value());
  BOOST_TEST(!kith::fromBase32("mz").has_value());  // non-zero padding bits
}

BOOST_AUTO_TEST_CASE(iso_time_round_trips_and_rejects_bad_forms) {
  int64_t s = 0;
  BOOST_REQUIRE(kith::parseSecondsIso("2026-11-22T08:05:52Z", &s));
  BOOST_TEST(kith::formatSecondsIso(s) == "2026-11-22T08:05:52Z");
  BOOST_TEST(!kith::parseSecondsIso("2026-11-22 08:05:52Z", &s));
  BOOST_TEST(!kith::parseSecondsIso("2026-13-22T08:05:52Z", &s));
  BOOST_TEST(kith::formatMicrosIso(1'000'000'000'123'456) == "2001-09-09T01:46:40.123456Z");
}

BOOST_AUTO_TEST_CASE(status_codes_have_stable_wire_names) {
  BOOST_TEST(kith::codeName(kith::Code::kDestinationUnreachable) == "DESTINATION_UNREACHABLE");
  BOOST_TEST(kith::codeName(kith::Code::kStorage) == "INTERNAL");
  BOOST_TEST((kith::codeFromName("ALREADY_REGISTERED") == kith::Code::kAlreadyRegistered));
  BOOST_TEST(!kith::codeFromName("NOPE").has_value());
  kith::Status st = kith::Status::fromErrno("open /x", ENOENT);
  BOOST_TEST(st.toString() == "INTERNAL: open /x: No such file or directory");
}

BOOST_AUTO_TEST_SUITE_END()
