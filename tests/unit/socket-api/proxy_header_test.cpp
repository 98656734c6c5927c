#include "kith/socket-api/proxy_header.h"

#include <boost/test/unit_test.hpp>

namespace api = kith::api;

BOOST_AUTO_TEST_SUITE(socket_api_proxy_header)

BOOST_AUTO_TEST_CASE(inet_header_round_trips_with_kith_tlvs) {
  api::ProxyHeader h;
  h.family = api::ProxyHeader::Family::kInet;
  h.srcAddr = std::string("\x7f\x00\x00\x01", 4);
  h.dstAddr = std::string("\x7f\x00\x00\x01", 4);
  h.srcPort = 0;
  h.dstPort = 8080;
  h.tlvs = {{api::kTlvKithAddress, "dev.cli.c1.default.n1"},
            {api::kTlvKithSpiffeId, "spiffe://dev.kith/dev/cli/c1/default/n1"}};
  auto enc = api::encodeProxyHeader(h);
  BOOST_REQUIRE(enc.isOk());
  // Signature, v2 PROXY, TCP over IPv4.
  BOOST_TEST(enc->substr(0, 12) == std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  BOOST_TEST(static_cast<uint8_t>((*enc)[12]) == 0x21);
  BOOST_TEST(static_cast<uint8_t>((*enc)[13]) == 0x11);
  std::string wire = *enc + "payload";
  size_t used = 0;
  auto back = api::parseProxyHeader(wire, &used);
  BOOST_REQUIRE(back.isOk());
  BOOST_TEST(used == enc->size());
  BOOST_TEST(back->dstPort == 8080);
  BOOST_TEST(*back->tlv(api::kTlvKithAddress) == "dev.cli.c1.default.n1");
  BOOST_TEST(!back->tlv(0x99).has_value());
}

BOOST_AUTO_TEST_CASE(truncated_and_malformed_headers_are_told_apart) {
  api::ProxyHeader h;
  h.family = api::ProxyHeader::Family::kUnix;
  h.srcAddr = "";
  h.dstAddr = "/run/app.sock";
  h.tlvs = {{api::kTlvKithAddress, "a.b.c.d.e"}};
  std::string enc = *api::encodeProxyHeader(h);
  size_t used = 0;
  for (size_t cut : {size_t{5}, size_t{15}, enc.size() - 1}) {
    auto r = api::parseProxyHeader(std::string_view(enc).substr(0, cut), &used);
    BOOST_TEST((r.status().code() == kith::Code::kNotFound));
  }
  auto full = api::parseProxyHeader(enc, &used);
  BOOST_REQUIRE(full.isOk());
  BOOST_TEST(full->dstAddr == "/run/app.sock");
  BOOST_TEST((api::parseProxyHeader("GET / HTTP/1.1\r\n", &used).status().code() ==
              kith::Code::kBadRequest));
  std::string bad = enc;
  bad[bad.size() - 2] = '\x7f';  // TLV length byte now overruns... or value changes
  bad[16 + 216 + 1] = '\x10';    // TLV length high byte: 4096 > remaining
  BOOST_TEST((api::parseProxyHeader(bad, &used).status().code() == kith::Code::kBadRequest));
}

BOOST_AUTO_TEST_SUITE_END()
