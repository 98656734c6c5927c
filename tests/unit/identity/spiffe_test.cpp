#include "kith/identity/spiffe.h"

#include <boost/test/unit_test.hpp>

namespace id = kith::identity;

BOOST_AUTO_TEST_SUITE(identity_spiffe)

BOOST_AUTO_TEST_CASE(workload_id_is_built_from_five_labels) {
  std::vector<std::string> labels{"dev", "nginxServers", "nginx123", "default", "node1"};
  auto s = id::spiffeIdFor("example.org", labels);
  BOOST_REQUIRE(s.isOk());
  BOOST_TEST(*s == "spiffe://example.org/dev/nginxServers/nginx123/default/node1");
  auto fromAddr = id::spiffeIdForAddress("example.org", "dev.nginxServers.nginx123.default.node1");
  BOOST_REQUIRE(fromAddr.isOk());
  BOOST_TEST(*fromAddr == *s);
}

BOOST_AUTO_TEST_CASE(workload_id_needs_exactly_five_valid_labels) {
  std::vector<std::string> four{"dev", "web", "a", "default"};
  BOOST_TEST(!id::spiffeIdFor("td", four).isOk());
  std::vector<std::string> badLabel{"dev", "web", "a.b", "default", "n1"};
  BOOST_TEST(!id::spiffeIdFor("td", badLabel).isOk());
  std::vector<std::string> emptyLabel{"dev", "", "a", "default", "n1"};
  BOOST_TEST(!id::spiffeIdFor("td", emptyLabel).isOk());
  BOOST_TEST(!id::spiffeIdForAddress("td", "dev.web.a.default").isOk());
  BOOST_TEST(!id::spiffeIdForAddress("td", "dev.web.a.default.n1.x").isOk());
  BOOST_TEST(!id::spiffeIdForAddress("td", "dev.web.*.default.n1").isOk());
  BOOST_TEST(!id::spiffeIdForAddress("Bad_TD!", "dev.web.a.default.n1").isOk());
}

BOOST_AUTO_TEST_CASE(node_id_names_the_machine) {
  auto s = id::nodeSpiffeId("kith.test", "node-1_a");
  BOOST_REQUIRE(s.isOk());
  BOOST_TEST(*s == "spiffe://kith.test/node/node-1_a");
  auto parsed = id::parseSpiffeId(*s);
  BOOST_REQUIRE(parsed.isOk());
  BOOST_TEST(parsed->nodeMachine() == "node-1_a");
  BOOST_TEST(!id::nodeSpiffeId("kith.test", "node.1").isOk());
  BOOST_TEST(!id::nodeSpiffeId("kith.test", std::string(64, 'a')).isOk());
  BOOST_TEST(id::nodeSpiffeId("kith.test", std::string(63, 'a')).isOk());
}

BOOST_AUTO_TEST_CASE(trust_domain_rules) {
  BOOST_TEST(id::isValidTrustDomain("example.org"));
  BOOST_TEST(id::isValidTrustDomain("a-b_c.1"));
  BOOST_TEST(id::isValidTrustDomain(std::string(255, 'a')));
  BOOST_TEST(!id::isValidTrustDomain(std::string(256, 'a')));
  BOOST_TEST(!id::isValidTrustDomain(""));
  BOOST_TEST(!id::isValidTrustDomain("Example.org"));
  BOOST_TEST(!id::isValidTrustDomain("example.org:443"));
  BOOST_TEST(!id::isValidTrustDomain("exa mple"));
  auto st = id::validateTrustDomain("UPPER");
  BOOST_TEST(st.message().find("UPPER") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(machine_name_rules) {
  BOOST_TEST(id::isValidMachineName("node1"));
  BOOST_TEST(id::isValidMachineName("Node_1-x"));
  BOOST_TEST(!id::isValidMachineName(""));
  BOOST_TEST(!id::isValidMachineName("node.1"));
  BOOST_TEST(!id::isValidMachineName("node/1"));
  BOOST_TEST(!id::isValidMachineName("nöde"));
}

BOOST_AUTO_TEST_CASE(parse_round_trips_valid_ids) {
  for (std::string s : {"spiffe://td", "spiffe://td/a", "spiffe://example.org/dev/web/a.b/c_d/e-f",
                        "spiffe://td/node/n1"}) {
    auto p = id::parseSpiffeId(s);
    BOOST_REQUIRE_MESSAGE(p.isOk(), s + ": " + p.status().message());
    BOOST_TEST(p->toString() == s);
  }
  auto root = id::parseSpiffeId("spiffe://td");
  BOOST_TEST(root->isTrustDomainId());
  BOOST_TEST(root->trustDomain == "td");
  auto w = id::parseSpiffeId("spiffe://td/dev/web/a/default/n1");
  BOOST_TEST(w->path.size() == 5u);
  BOOST_TEST(w->path[4] == "n1");
  BOOST_TEST(w->nodeMachine() == "");
}

BOOST_AUTO_TEST_CASE(parse_rejects_malformed_ids) {
  for (std::string s :
       {"", "spiffe://", "spiffe:///a", "SPIFFE://td/a", "https://td/a", "spiffe://TD/a",
        "spiffe://td/", "spiffe://td//a", "spiffe://td/a/", "spiffe://td/./a", "spiffe://td/a/..",
        "spiffe://td:8080/a", "spiffe://user@td/a", "spiffe://td/a?x=1", "spiffe://td/a#f",
        "spiffe://td/a%20b", "spiffe:td/a"}) {
    BOOST_TEST(!id::parseSpiffeId(s).isOk(), "accepted: " << s);
  }
  BOOST_TEST(!id::parseSpiffeId("spiffe://td/" + std::string(2100, 'a')).isOk());
}

BOOST_AUTO_TEST_CASE(trust_domain_id_is_the_bare_scheme_and_domain) {
  auto s = id::trustDomainSpiffeId("kith.test");
  BOOST_REQUIRE(s.isOk());
  BOOST_TEST(*s == "spiffe://kith.test");
  BOOST_TEST(!id::trustDomainSpiffeId("no/slash").isOk());
}

BOOST_AUTO_TEST_SUITE_END()
