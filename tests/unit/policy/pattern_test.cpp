#include "kith/policy/pattern.h"

#include <boost/test/unit_test.hpp>

#include <string>

using kith::Code;
using kith::policy::Address;
using kith::policy::globMatch;
using kith::policy::Pattern;

namespace {

bool match(std::string_view pattern, std::string_view address) {
  auto p = Pattern::parse(pattern);
  BOOST_REQUIRE_MESSAGE(p.isOk(), p.status().message());
  auto a = Address::parse(address);
  BOOST_REQUIRE_MESSAGE(a.isOk(), a.status().message());
  return p->matches(*a);
}

std::string errorOf(std::string_view pattern) {
  auto p = Pattern::parse(pattern);
  BOOST_REQUIRE_MESSAGE(!p.isOk(), pattern);
  BOOST_TEST((p.status().code() == Code::kBadRequest));
  return p.status().message();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_pattern)

BOOST_AUTO_TEST_CASE(literal_pattern_matches_only_that_address) {
  BOOST_TEST(match("dev.web.a.default.n1", "dev.web.a.default.n1"));
  BOOST_TEST(!match("dev.web.a.default.n1", "dev.web.a.default.n2"));
  BOOST_TEST(!match("dev.web.a.default.n1", "Dev.web.a.default.n1"));  // case-sensitive
  BOOST_TEST(Pattern::parse("dev.web.a.default.n1")->isExact());
}

BOOST_AUTO_TEST_CASE(star_label_matches_any_label) {
  BOOST_TEST(match("dev.web.*.*.*", "dev.web.x.default.node1"));
  BOOST_TEST(match("*.*.*.*.*", "a.b.c.d.e"));
  BOOST_TEST(!match("dev.web.*.*.*", "prod.web.x.default.node1"));
  auto p = Pattern::parse("dev.web.*.*.*");
  BOOST_TEST(!p->isExact());
  BOOST_TEST((p->kind(0) == Pattern::LabelKind::kLiteral));
  BOOST_TEST((p->kind(2) == Pattern::LabelKind::kAny));
}

BOOST_AUTO_TEST_CASE(star_as_prefix_suffix_and_infix_of_a_label) {
  BOOST_TEST(match("dev.db.pg-*.default.n", "dev.db.pg-main.default.n"));
  BOOST_TEST(match("dev.db.pg-*.default.n", "dev.db.pg-.default.n"));  // * matches empty
  BOOST_TEST(!match("dev.db.pg-*.default.n", "dev.db.mysql.default.n"));
  BOOST_TEST(match("dev.*-db.x.default.n", "dev.orders-db.x.default.n"));
  BOOST_TEST(!match("dev.*-db.x.default.n", "dev.orders-dbx.x.default.n"));
  BOOST_TEST(match("dev.a*b.x.r.n", "dev.ab.x.r.n"));
  BOOST_TEST(match("dev.a*b.x.r.n", "dev.axxbxb.x.r.n"));
  BOOST_TEST(!match("dev.a*b.x.r.n", "dev.axxbx.x.r.n"));
  BOOST_TEST((Pattern::parse("dev.a*b.x.r.n")->kind(1) == Pattern::LabelKind::kGlob));
}

BOOST_AUTO_TEST_CASE(question_mark_matches_exactly_one_character) {
  BOOST_TEST(match("*.db.*.default.node?", "dev.db.x.default.node1"));
  BOOST_TEST(!match("*.db.*.default.node?", "dev.db.x.default.node"));
  BOOST_TEST(!match("*.db.*.default.node?", "dev.db.x.default.node12"));
  BOOST_TEST(match("*.db.*.default.node??", "dev.db.x.default.node12"));
}

BOOST_AUTO_TEST_CASE(character_classes_sets_ranges_and_negation) {
  BOOST_TEST(match("s.[ab]x.i.r.m", "s.ax.i.r.m"));
  BOOST_TEST(match("s.[ab]x.i.r.m", "s.bx.i.r.m"));
  BOOST_TEST(!match("s.[ab]x.i.r.m", "s.cx.i.r.m"));
  BOOST_TEST(match("s.g.i.r.node[0-9]", "s.g.i.r.node7"));
  BOOST_TEST(!match("s.g.i.r.node[0-9]", "s.g.i.r.nodea"));
  BOOST_TEST(match("s.g.i.r.[!0-9]*", "s.g.i.r.node"));
  BOOST_TEST(!match("s.g.i.r.[!0-9]*", "s.g.i.r.9node"));
  BOOST_TEST(match("s.g.i.r.[^_]", "s.g.i.r.x"));
  BOOST_TEST(!match("s.g.i.r.[^_]", "s.g.i.r._"));
  BOOST_TEST(match("s.g.i.r.[a-]", "s.g.i.r.-"));   // trailing '-' is literal
  BOOST_TEST(match("s.g.i.r.[-a]", "s.g.i.r.-"));   // leading '-' is literal
  BOOST_TEST(match("s.g.i.r.[a-c_]x", "s.g.i.r._x"));
}

BOOST_AUTO_TEST_CASE(glob_backtracking_handles_many_stars) {
  BOOST_TEST(globMatch("*a*b*c*", "xxaxxbxxcxx"));
  BOOST_TEST(!globMatch("*a*b*c*", "xxaxxcxxbxx"));
  BOOST_TEST(globMatch("**", "anything"));
  BOOST_TEST(globMatch("a?*", "ab"));
  BOOST_TEST(!globMatch("a?*", "a"));
  std::string many(63, 'a');
  BOOST_TEST(!globMatch("*a*a*a*a*a*a*a*a*b", many));  // pathological; bounded by len x len
}

BOOST_AUTO_TEST_CASE(bad_patterns_are_rejected_with_the_reason) {
  BOOST_TEST(errorOf("dev.web.*").find("has 3 labels; expected 5") != std::string::npos);
  BOOST_TEST(errorOf("").find("empty") != std::string::npos);
  BOOST_TEST(errorOf("dev..*.*.*").find("label 2 '' in pattern 'dev..*.*.*' is empty") == 0u);
  BOOST_TEST(errorOf("dev.db.pg-[a.*.*").find("'[' is not closed") != std::string::npos);
  BOOST_TEST(errorOf("dev.db.[].*.*").find("empty") != std::string::npos);
  BOOST_TEST(errorOf("dev.db.[z-a].*.*").find("reversed") != std::string::npos);
  BOOST_TEST(errorOf("dev.db.[a.].*.*").find("has 6 labels") != std::string::npos);  // a glob never spans a dot
  BOOST_TEST(errorOf("dev.d b.*.*.*").find("label 2 'd b'") == 0u);
  BOOST_TEST(errorOf("dev.db.a]b.*.*").find("label 3") == 0u);
  BOOST_TEST(errorOf("dev.db.{a,b}.*.*").find("label 3") == 0u);
  BOOST_TEST(errorOf("dev.db." + std::string(64, 'x') + ".*.*").find("at most 63") !=
             std::string::npos);
  BOOST_TEST(errorOf("dev.db.*" + std::string(255, 'x') + ".*.*").find("at most 255") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(exact_pattern_from_address_matches_it) {
  Address a = *Address::parse("dev.web.a.default.n1");
  Pattern p = Pattern::exact(a);
  BOOST_TEST(p.isExact());
  BOOST_TEST(p.matches(a));
  BOOST_TEST(p.str() == a.str());
  BOOST_TEST(p.label(4) == "n1");
  BOOST_TEST(!p.matches(*Address::parse("dev.web.a.default.n2")));
}

BOOST_AUTO_TEST_SUITE_END()
