// Decisions of a compiled Policy: the model of kith-policy(5).
#include "kith/policy/policy.h"

#include <boost/test/unit_test.hpp>

#include <string>

#include "kith/policy/policy_file.h"

using namespace kith::policy;

namespace {

std::shared_ptr<const Policy> mustParse(std::string_view text) {
  auto p = parsePolicy(text, "p.toml");
  BOOST_REQUIRE_MESSAGE(p.isOk(), p.status().message());
  return *p;
}

Address addr(std::string_view s) {
  auto a = Address::parse(s);
  BOOST_REQUIRE_MESSAGE(a.isOk(), a.status().message());
  return *a;
}

std::vector<Pattern> whitelist(std::initializer_list<std::string_view> ps) {
  std::vector<Pattern> out;
  for (auto p : ps) out.push_back(*Pattern::parse(p));
  return out;
}

Decision decide(const Policy& p, std::string_view src, std::string_view dst,
                Proto proto = Proto::kTcp, std::optional<uint16_t> port = std::nullopt,
                const std::vector<Pattern>& wl = {}) {
  return p.decide(addr(src), addr(dst), proto, port, wl);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_decisions)

BOOST_AUTO_TEST_CASE(empty_policy_denies_by_default) {
  auto d = decide(*Policy::empty(), "dev.web.a.default.n1", "dev.db.b.default.n2");
  BOOST_TEST(!d.allowed);
  BOOST_TEST(!d.audited);
  BOOST_TEST(d.rule == "default deny");
  BOOST_TEST(d.where == "");
  BOOST_TEST(d.reason.find("the destination has no whitelist") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(whitelist_allows_within_a_scope) {
  auto d = decide(*Policy::empty(), "dev.web.a.default.n1", "dev.db.b.default.n2", Proto::kTcp,
                  std::nullopt, whitelist({"dev.cache.*.*.*", "dev.web.*.*.*"}));
  BOOST_TEST(d.allowed);
  BOOST_TEST(d.rule == "whitelist");
  BOOST_TEST(d.reason.find("'dev.web.*.*.*' matches the source") != std::string::npos);

  auto miss = decide(*Policy::empty(), "dev.api.a.default.n1", "dev.db.b.default.n2",
                     Proto::kTcp, std::nullopt, whitelist({"dev.web.*.*.*"}));
  BOOST_TEST(!miss.allowed);
  BOOST_TEST(miss.reason.find("no whitelist entry of the destination matches") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(cross_scope_is_denied_by_default_even_when_whitelisted) {
  auto p = mustParse(R"(
[[allow]]
name = "web-to-db"
from = "*.web.*.*.*"
to = "*.db.*.*.*"
)");
  auto d = decide(*p, "dev.web.a.default.n1", "prod.db.b.default.n2", Proto::kTcp, std::nullopt,
                  whitelist({"*.*.*.*.*"}));
  BOOST_TEST(!d.allowed);
  BOOST_TEST(d.rule == "default deny");
  BOOST_TEST(d.reason.find("scopes differ (dev vs prod); no rule crosses scopes") == 0u);
  BOOST_TEST(d.reason.find("a whitelist never crosses scopes") != std::string::npos);
  BOOST_TEST(d.reason.find("web-to-db at p.toml:2 matches the addresses but does not set "
                           "cross_scope = true") != std::string::npos);
  BOOST_TEST(d.explain().find("(rule: default deny)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(explicit_cross_scope_allow_crosses) {
  auto p = mustParse(R"(
[[allow]]
name = "dev-reads-prod-db"
from = "dev.web.*.*.*"
to = "prod.db.*.*.*"
cross_scope = true
)");
  auto d = decide(*p, "dev.web.a.default.n1", "prod.db.b.default.n2");
  BOOST_TEST(d.allowed);
  BOOST_TEST(d.rule == "dev-reads-prod-db");
  BOOST_TEST(d.where == "p.toml:2");
  BOOST_TEST(d.reason == "scopes differ (dev vs prod); the rule crosses scopes (cross_scope = true)");
  // Only in the direction the rule names.
  BOOST_TEST(!decide(*p, "prod.db.b.default.n2", "dev.web.a.default.n1").allowed);
}

BOOST_AUTO_TEST_CASE(allow_rule_allows_within_a_scope_without_whitelist) {
  auto p = mustParse(R"(
[[allow]]
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
)");
  auto d = decide(*p, "dev.web.a.default.n1", "dev.db.b.default.n2");
  BOOST_TEST(d.allowed);
  BOOST_TEST(d.rule == "[[allow]] #1");
  BOOST_TEST(d.where == "p.toml:2");
  BOOST_TEST(d.reason == "same scope (dev); an allow rule matches");
}

BOOST_AUTO_TEST_CASE(explicit_deny_beats_allow_and_whitelist) {
  auto p = mustParse(R"(
[[allow]]
name = "all-dev"
from = "dev.*.*.*.*"
to = "dev.*.*.*.*"

[[deny]]
name = "no-batch-to-db"
comment = "batch jobs use the replica"
from = "dev.batch.*.*.*"
to = "dev.db.*.*.*"
)");
  auto d = decide(*p, "dev.batch.j1.default.n1", "dev.db.b.default.n2", Proto::kTcp, std::nullopt,
                  whitelist({"dev.batch.*.*.*"}));
  BOOST_TEST(!d.allowed);
  BOOST_TEST(d.rule == "no-batch-to-db");
  BOOST_TEST(d.where == "p.toml:7");
  BOOST_TEST(d.reason.find("deny beats allow") != std::string::npos);
  BOOST_TEST(decide(*p, "dev.web.a.default.n1", "dev.db.b.default.n2").allowed);
}

BOOST_AUTO_TEST_CASE(protocol_mismatch_does_not_match) {
  auto p = mustParse(R"(
[[allow]]
name = "dns"
from = "dev.*.*.*.*"
to = "dev.dns.*.*.*"
proto = "udp"
)");
  BOOST_TEST(decide(*p, "dev.web.a.default.n1", "dev.dns.r.default.n2", Proto::kUdp).allowed);
  auto d = decide(*p, "dev.web.a.default.n1", "dev.dns.r.default.n2", Proto::kTcp);
  BOOST_TEST(!d.allowed);
  BOOST_TEST(d.reason.find("dns at p.toml:2 matches the addresses but allows only udp, not tcp") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(proto_defaults_to_both_and_accepts_a_list) {
  auto p = mustParse(R"(
[[allow]]
from = "dev.a.*.*.*"
to = "dev.b.*.*.*"
[[allow]]
from = "dev.c.*.*.*"
to = "dev.d.*.*.*"
proto = ["tcp", "udp"]
)");
  for (Proto pr : {Proto::kTcp, Proto::kUdp}) {
    BOOST_TEST(decide(*p, "dev.a.x.r.m", "dev.b.x.r.m", pr).allowed);
    BOOST_TEST(decide(*p, "dev.c.x.r.m", "dev.d.x.r.m", pr).allowed);
  }
}

BOOST_AUTO_TEST_CASE(port_rule_matches_only_that_destination_port) {
  auto p = mustParse(R"(
[[allow]]
name = "pg"
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
port = 5432
[[allow]]
name = "http"
from = "dev.lb.*.*.*"
to = "dev.web.*.*.*"
port = [80, 443]
)");
  BOOST_TEST(decide(*p, "dev.web.a.r.m", "dev.db.b.r.m", Proto::kTcp, 5432).allowed);
  auto wrong = decide(*p, "dev.web.a.r.m", "dev.db.b.r.m", Proto::kTcp, 5433);
  BOOST_TEST(!wrong.allowed);
  BOOST_TEST(wrong.reason.find("names port 5432, not 5433") != std::string::npos);
  auto unknown = decide(*p, "dev.web.a.r.m", "dev.db.b.r.m", Proto::kTcp, std::nullopt);
  BOOST_TEST(!unknown.allowed);
  BOOST_TEST(unknown.reason.find("no known port") != std::string::npos);
  BOOST_TEST(decide(*p, "dev.lb.a.r.m", "dev.web.b.r.m", Proto::kTcp, 443).allowed);
  BOOST_TEST(decide(*p, "dev.lb.a.r.m", "dev.web.b.r.m", Proto::kTcp, 80).allowed);
  BOOST_TEST(!decide(*p, "dev.lb.a.r.m", "dev.web.b.r.m", Proto::kTcp, 8080).allowed);
}

BOOST_AUTO_TEST_CASE(every_glob_form_works_in_rules) {
  auto p = mustParse(R"(
[[allow]]
name = "globs"
from = "*.web.nginx?.[a-c]*.*"
to = "*.db.pg-*.*-zone.node[!0]"
)");
  BOOST_TEST(decide(*p, "dev.web.nginx1.b.n", "dev.db.pg-main.eu-zone.node1").allowed);
  BOOST_TEST(!decide(*p, "dev.web.nginx12.b.n", "dev.db.pg-main.eu-zone.node1").allowed);
  BOOST_TEST(!decide(*p, "dev.web.nginx1.d.n", "dev.db.pg-main.eu-zone.node1").allowed);
  BOOST_TEST(!decide(*p, "dev.web.nginx1.b.n", "dev.db.mysql.eu-zone.node1").allowed);
  BOOST_TEST(!decide(*p, "dev.web.nginx1.b.n", "dev.db.pg-main.eu-zones.node1").allowed);
  BOOST_TEST(!decide(*p, "dev.web.nginx1.b.n", "dev.db.pg-main.eu-zone.node0").allowed);
}

BOOST_AUTO_TEST_CASE(first_matching_rule_in_file_order_is_reported) {
  auto p = mustParse(R"(
[[deny]]
name = "d2"
from = "dev.x.*.*.*"
to = "dev.y.*.*.*"
[[allow]]
name = "broad"
from = "dev.*.*.*.*"
to = "dev.*.*.*.*"
[[allow]]
name = "narrow"
from = "dev.a.b.c.d"
to = "dev.e.f.g.h"
[[deny]]
name = "d1"
from = "dev.x.x1.*.*"
to = "dev.y.y1.*.*"
)");
  BOOST_TEST(decide(*p, "dev.a.b.c.d", "dev.e.f.g.h").rule == "broad");
  BOOST_TEST(decide(*p, "dev.x.x1.c.d", "dev.y.y1.g.h").rule == "d2");
  auto& rules = p->rules();
  BOOST_REQUIRE(rules.size() == 4u);
  BOOST_TEST(rules[0].name == "d2");
  BOOST_TEST(rules[3].name == "d1");
  BOOST_TEST(rules[3].ordinal == 2u);
}

BOOST_AUTO_TEST_CASE(audit_mode_allows_but_marks_audited) {
  auto p = mustParse(R"(
audit = true
[[deny]]
name = "no-batch"
from = "dev.batch.*.*.*"
to = "*.*.*.*.*"
)");
  BOOST_TEST(p->audit());
  auto d = decide(*p, "dev.web.a.r.m", "prod.db.b.r.m");
  BOOST_TEST(d.allowed);
  BOOST_TEST(d.audited);
  BOOST_TEST(!d.policyAllows());
  BOOST_TEST(d.rule == "default deny");
  BOOST_TEST(d.explain().find("; allowed by audit mode") != std::string::npos);
  auto denied = decide(*p, "dev.batch.a.r.m", "dev.db.b.r.m");
  BOOST_TEST(denied.allowed);
  BOOST_TEST(denied.audited);
  BOOST_TEST(denied.rule == "no-batch");
  auto ok = decide(*p, "dev.web.a.r.m", "dev.db.b.r.m", Proto::kTcp, std::nullopt,
                   whitelist({"dev.*.*.*.*"}));
  BOOST_TEST(ok.allowed);
  BOOST_TEST(!ok.audited);
}

BOOST_AUTO_TEST_CASE(explain_for_names_both_addresses) {
  auto d = decide(*Policy::empty(), "dev.web.a.default.n1", "prod.db.x.default.n2");
  BOOST_TEST(d.explainFor(addr("dev.web.a.default.n1"), addr("prod.db.x.default.n2")) ==
             "dev.web.a.default.n1 may not reach prod.db.x.default.n2: scopes differ (dev vs "
             "prod); no rule crosses scopes (rule: default deny)");
}

BOOST_AUTO_TEST_CASE(allow_rule_that_can_never_match_is_a_warning) {
  auto p = mustParse(R"(
[[allow]]
from = "dev.web.*.*.*"
to = "prod.db.*.*.*"
)");
  BOOST_REQUIRE(p->warnings().size() == 1u);
  BOOST_TEST(p->warnings()[0].find("p.toml:2: [[allow]] #1 can never match") == 0u);
}

BOOST_AUTO_TEST_CASE(policy_built_in_code_decides_like_a_file) {
  Rule r;
  r.from = *Pattern::parse("dev.web.*.*.*");
  r.to = *Pattern::parse("dev.db.*.*.*");
  r.protos = static_cast<ProtoSet>(Proto::kTcp);
  auto p = Policy::compile({r}, {}, false, "<code>");
  auto d = decide(*p, "dev.web.a.r.m", "dev.db.b.r.m");
  BOOST_TEST(d.allowed);
  BOOST_TEST(d.where == "<code>");
  BOOST_TEST(!decide(*p, "dev.web.a.r.m", "dev.db.b.r.m", Proto::kUdp).allowed);
}

BOOST_AUTO_TEST_SUITE_END()
