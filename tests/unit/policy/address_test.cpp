#include "kith/policy/address.h"

#include <boost/test/unit_test.hpp>

#include <string>

using kith::Code;
using kith::policy::Address;

namespace {

std::string errorOf(std::string_view text) {
  auto a = Address::parse(text);
  BOOST_REQUIRE(!a.isOk());
  BOOST_TEST((a.status().code() == Code::kBadRequest));
  return a.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_address)

BOOST_AUTO_TEST_CASE(five_labels_parse_into_named_parts) {
  auto a = Address::parse("dev.nginxServers.nginx123.default.node1");
  BOOST_REQUIRE(a.isOk());
  BOOST_TEST(a->scope() == "dev");
  BOOST_TEST(a->group() == "nginxServers");
  BOOST_TEST(a->identity() == "nginx123");
  BOOST_TEST(a->resource() == "default");
  BOOST_TEST(a->machine() == "node1");
  BOOST_TEST(a->str() == "dev.nginxServers.nginx123.default.node1");
  auto labels = a->labels();
  BOOST_TEST(labels[2] == "nginx123");
}

BOOST_AUTO_TEST_CASE(copies_keep_their_own_label_views) {
  Address copy = *Address::parse("a.b.c.d.e");
  {
    Address original = *Address::parse("s.g.i.r.m");
    copy = original;
  }
  BOOST_TEST(copy.scope() == "s");
  BOOST_TEST(copy.machine() == "m");
}

BOOST_AUTO_TEST_CASE(wrong_label_count_says_how_many_and_the_schema) {
  BOOST_TEST(errorOf("a.b.c") ==
             "address 'a.b.c' has 3 labels; expected 5 (scope.group.identity.resource.machine)");
  BOOST_TEST(errorOf("a.b.c.d.e.f").find("has 6 labels") != std::string::npos);
  BOOST_TEST(errorOf("").find("empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_characters_name_the_label) {
  BOOST_TEST(errorOf("a.x y.c.d.e").find("label 2 'x y' has a character outside [A-Za-z0-9_-]") ==
             0u);
  BOOST_TEST(errorOf("a.b.c.d.*").find("label 5 '*'") != std::string::npos);
  BOOST_TEST(errorOf("a.b.\xff.d.e").find("'\\xff'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_and_overlong_labels_are_rejected) {
  BOOST_TEST(errorOf("a..c.d.e").find("label 2 is empty") == 0u);
  BOOST_TEST(errorOf("a.b.c.d.").find("label 5 is empty") == 0u);
  std::string l63(63, 'x'), l64(64, 'x');
  BOOST_TEST(Address::parse("a.b." + l63 + ".d.e").isOk());
  BOOST_TEST(errorOf("a.b." + l64 + ".d.e").find("64 characters; at most 63") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(underscore_and_hyphen_are_label_characters) {
  BOOST_TEST(Address::parse("d_v.-.a-b._._").isOk());
}

BOOST_AUTO_TEST_CASE(four_label_name_gets_the_machine_appended) {
  auto a = Address::fromName("dev.web.nginx1.default", "node1");
  BOOST_REQUIRE(a.isOk());
  BOOST_TEST(a->str() == "dev.web.nginx1.default.node1");
}

BOOST_AUTO_TEST_CASE(five_label_name_must_end_in_own_machine) {
  auto ok = Address::fromName("dev.web.nginx1.default.node1", "node1");
  BOOST_REQUIRE(ok.isOk());
  BOOST_TEST(ok->machine() == "node1");

  auto other = Address::fromName("dev.web.nginx1.default.node2", "node1");
  BOOST_REQUIRE(!other.isOk());
  BOOST_TEST((other.status().code() == Code::kUnauthorized));
  BOOST_TEST(other.status().message().find(
                 "a daemon may only speak for addresses that end in its own machine name") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_names_are_bad_requests) {
  for (auto name : {"", "a.b", "a.b.c.d.e.f", "a.b c.d.e"}) {
    auto r = Address::fromName(name, "node1");
    BOOST_REQUIRE(!r.isOk());
    BOOST_TEST((r.status().code() == Code::kBadRequest), name);
  }
  auto badMachine = Address::fromName("a.b.c.d", "no de");
  BOOST_REQUIRE(!badMachine.isOk());
  BOOST_TEST(badMachine.status().message().find("machine name") == 0u);
}

BOOST_AUTO_TEST_CASE(addresses_compare_and_hash_by_text) {
  Address a = *Address::parse("a.b.c.d.e");
  Address b = *Address::parse("a.b.c.d.e");
  Address c = *Address::parse("a.b.c.d.f");
  BOOST_TEST((a == b));
  BOOST_TEST((a < c));
  BOOST_TEST(std::hash<Address>{}(a) == std::hash<Address>{}(b));
}

BOOST_AUTO_TEST_SUITE_END()
