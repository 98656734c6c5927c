#include "kith/socket-api/protocol.h"

#include <boost/test/unit_test.hpp>

#include "kith/common/json.h"
#include "kith/socket-api/socket_path.h"

namespace api = kith::api;

BOOST_AUTO_TEST_SUITE(socket_api_protocol)

BOOST_AUTO_TEST_CASE(malformed_requests_are_bad_request_with_a_reason) {
  auto notJson = api::parseRequest("{op:");
  BOOST_TEST((notJson.status().code() == kith::Code::kBadRequest));
  BOOST_TEST(notJson.status().message() == "request is not valid JSON");
  BOOST_TEST(api::parseRequest("[1,2]").status().message() == "request must be a JSON object");
  BOOST_TEST(api::parseRequest("{}").status().message() == "missing field 'op'");
  BOOST_TEST(api::parseRequest("{\"op\":3}").status().message() == "field 'op' must be a string");
  BOOST_TEST(api::parseRequest("{\"op\":\"x\",\"id\":[]}").status().message() ==
             "field 'id' must be a number or a string");
  std::string deep(10000, '[');
  BOOST_TEST(api::parseRequest(deep).status().message().find("nests deeper") != std::string::npos);
  BOOST_TEST(api::parseRequest("{\"op\":\"hello\",\"id\":7}").isOk());
}

BOOST_AUTO_TEST_CASE(field_accessors_name_the_field_on_type_errors) {
  auto req = kith::parseJson(R"({"op":"x","name":5,"ttl_ms":"1","list":["a",1],"flag":true})");
  BOOST_TEST(api::requireString(req, "name").status().message() ==
             "field 'name' must be a string, got number");
  BOOST_TEST(api::requireString(req, "absent").status().message() == "missing field 'absent'");
  BOOST_TEST(api::optionalInt(req, "ttl_ms").status().message() ==
             "field 'ttl_ms' must be an integer, got string");
  BOOST_TEST(!api::optionalInt(req, "absent")->has_value());
  BOOST_TEST(!api::optionalStringArray(req, "list").isOk());
  BOOST_TEST(**api::optionalBool(req, "flag"));
}

BOOST_AUTO_TEST_CASE(replies_round_trip_error_codes) {
  auto r = api::errorReply(7, kith::Status(kith::Code::kUnauthorized, "no"));
  BOOST_TEST(api::toLine(r) ==
             "{\"error\":{\"code\":\"UNAUTHORIZED\",\"message\":\"no\"},\"id\":7,\"ok\":false}\n");
  auto st = api::replyStatus(r);
  BOOST_TEST((st.code() == kith::Code::kUnauthorized));
  BOOST_TEST(api::replyStatus(api::okReply(nullptr)).isOk());
}

BOOST_AUTO_TEST_CASE(socket_lookup_follows_the_contract_order) {
  unsetenv("KITH_SOCKET");
  unsetenv("KITH_HOME");
  BOOST_TEST(api::resolveApiSocket("") == "/run/kith/api.sock");
  setenv("KITH_HOME", "/tmp/h", 1);
  BOOST_TEST(api::resolveApiSocket("") == "/tmp/h/run/api.sock");
  setenv("KITH_SOCKET", "/tmp/s/api.sock", 1);
  BOOST_TEST(api::resolveApiSocket("") == "/tmp/s/api.sock");
  BOOST_TEST(api::resolveApiSocket("/x/y.sock") == "/x/y.sock");
  BOOST_TEST(api::resolveAdminSocket("/x/api.sock") == "/x/admin.sock");
  BOOST_TEST(api::resolveAdminSocket("/x/admin.sock") == "/x/admin.sock");
  unsetenv("KITH_SOCKET");
  unsetenv("KITH_HOME");
}

BOOST_AUTO_TEST_SUITE_END()
