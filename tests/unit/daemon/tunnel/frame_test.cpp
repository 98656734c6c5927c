// The tunnel link's frame codec: every split of the input decodes the same,
// malformed input breaks the decoder for good, payloads are validated.
#include "kith/daemon/tunnel/frame.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace kith;
using namespace kith::daemon;

namespace {

struct Seen {
  FrameType type;
  uint32_t stream;
  std::string payload;
};

std::string sample() {
  std::string wire;
  appendFrame(wire, FrameType::kOpen, 1, encodeOpen({"dev.a.b.c.m1", "dev.x.y.z.m2", "tcp", "spiffe://td/x", 4096}));
  appendFrame(wire, FrameType::kData, 1, std::string(70000, 'd'));
  appendFrame(wire, FrameType::kWindow, 2, encodeU32(123456));
  appendFrame(wire, FrameType::kFin, 1, "");
  appendFrame(wire, FrameType::kPing, 0, encodeU64(42));
  return wire;
}

std::vector<Seen> decodeInPieces(const std::string& wire, size_t piece) {
  FrameDecoder d;
  std::vector<Seen> out;
  for (size_t off = 0; off < wire.size(); off += piece) {
    Status st = d.feed(std::string_view(wire).substr(off, piece), [&](const Frame& f) {
      out.push_back({f.type, f.stream, std::string(f.payload)});
      return true;
    });
    BOOST_REQUIRE(st.isOk());
  }
  BOOST_TEST(d.buffered() == 0u);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame)

BOOST_AUTO_TEST_CASE(any_split_of_the_input_decodes_the_same_frames) {
  std::string wire = sample();
  auto whole = decodeInPieces(wire, wire.size());
  BOOST_REQUIRE_EQUAL(whole.size(), 5u);
  BOOST_TEST(static_cast<int>(whole[1].type) == static_cast<int>(FrameType::kData));
  BOOST_TEST(whole[1].payload == std::string(70000, 'd'));
  BOOST_TEST(*decodeU32(whole[2].payload) == 123456u);
  BOOST_TEST(whole[3].payload.empty());
  BOOST_TEST(*decodeU64(whole[4].payload) == 42u);
  for (size_t piece : {1, 2, 5, 8, 9, 10, 1000, 16384, 65536}) {
    auto split = decodeInPieces(wire, piece);
    BOOST_REQUIRE_EQUAL(split.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      BOOST_TEST(static_cast<int>(split[i].type) == static_cast<int>(whole[i].type), "piece " << piece);
      BOOST_TEST(split[i].stream == whole[i].stream);
      BOOST_TEST(split[i].payload == whole[i].payload);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_type_or_an_oversized_payload_breaks_the_decoder_for_good) {
  for (std::string bad : {std::string("\x00\x00\x00\x00\x01\x00\x00\x00\x00", 9),
                          std::string("\x63\x00\x00\x00\x01\x00\x00\x00\x00", 9),
                          std::string("\x04\x00\x00\x00\x01\x7f\xff\xff\xff", 9)}) {
    FrameDecoder d;
    int frames = 0;
    Status st = d.feed(bad, [&](const Frame&) { return ++frames, true; });
    BOOST_TEST(!st.isOk());
    BOOST_TEST(frames == 0);
    // Nothing decodes after that, not even a good frame.
    std::string good;
    appendFrame(good, FrameType::kFin, 1, "");
    BOOST_TEST(!d.feed(good, [&](const Frame&) { return ++frames, true; }).isOk());
    BOOST_TEST(frames == 0);
  }
}

BOOST_AUTO_TEST_CASE(a_callback_that_says_stop_ends_decoding) {
  std::string wire = sample();
  FrameDecoder d;
  int frames = 0;
  BOOST_TEST(d.feed(wire, [&](const Frame&) { return ++frames < 2; }).isOk());
  BOOST_TEST(frames == 2);
}

BOOST_AUTO_TEST_CASE(open_payloads_are_validated) {
  auto ok = decodeOpen(encodeOpen({"s", "d", "udp", "spiffe://x", 7}));
  BOOST_REQUIRE(ok.isOk());
  BOOST_TEST(ok->proto == "udp");
  BOOST_TEST(ok->window == 7u);
  for (std::string bad : {"", "[]", "{", "{\"src\":1}", R"({"src":"a","dst":"b","proto":"sctp","spiffe":"x","window":1})",
                          R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":-1})",
                          R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":99999999999})",
                          R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x"})"}) {
    BOOST_TEST(!decodeOpen(bad).isOk(), bad);
  }
  std::string longSrc(2000, 'a');
  BOOST_TEST(!decodeOpen(encodeOpen({longSrc, "d", "tcp", "s", 1})).isOk());
}

BOOST_AUTO_TEST_CASE(open_raw_is_sent_only_when_set_and_must_be_a_boolean) {
  // Without raw the payload is exactly what daemons before the flag sent.
  std::string plain = encodeOpen({"s", "d", "tcp", "x", 1});
  BOOST_TEST(plain.find("raw") == std::string::npos, plain);
  BOOST_TEST(!decodeOpen(plain)->raw);
  OpenPayload p{"s", "d", "tcp", "x", 1};
  p.raw = true;
  auto raw = decodeOpen(encodeOpen(p));
  BOOST_REQUIRE(raw.isOk());
  BOOST_TEST(raw->raw);
  BOOST_TEST(!decodeOpen(R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":1,"raw":false})")->raw);
  for (std::string bad : {R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":1,"raw":1})",
                          R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":1,"raw":"true"})",
                          R"({"src":"a","dst":"b","proto":"tcp","spiffe":"x","window":1,"raw":null})"}) {
    BOOST_TEST(!decodeOpen(bad).isOk(), bad);
  }
}

BOOST_AUTO_TEST_CASE(refusals_carry_socket_api_codes_and_garbage_is_cannot_connect) {
  Status st = decodeOpenErr(encodeOpenErr(Code::kUnauthorized, "policy says no"));
  BOOST_TEST(static_cast<int>(st.code()) == static_cast<int>(Code::kUnauthorized));
  BOOST_TEST(st.message() == "policy says no");
  for (std::string bad : {"", "x", "{}", R"({"code":5})", R"({"code":"NO_SUCH_CODE","message":"m"})",
                          R"({"code":"OK","message":"m"})", R"({"code":"CANNOT_CONNECT","message":7})"}) {
    Status b = decodeOpenErr(bad);
    BOOST_TEST(!b.isOk(), bad);
    BOOST_TEST(static_cast<int>(b.code()) == static_cast<int>(Code::kCannotConnect), bad);
  }
  BOOST_TEST(!decodeU32("abc").isOk());
  BOOST_TEST(!decodeU64("abcdefg").isOk());
}

BOOST_AUTO_TEST_SUITE_END()
