// StreamAuthorizer: every branch of the one rule that both brokers and the
// re-check of open streams use — the source's machine, the protocol, the
// policy (scope, whitelist, allow/deny rules, ports, audit) — and that only
// authorize() counts. A real PolicyManager reads a real policy file.
#include "kith/daemon/policy/stream_authorizer.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/replication/remote_workload.h"

using namespace kith;
using namespace kith::daemon;

namespace {

policy::Address addr(const char* text) { return policy::Address::parse(text).value(); }
policy::Pattern pat(const char* text) { return policy::Pattern::parse(text).value(); }

// A policy file in a temp dir ("" = no file: whitelists within a scope decide).
struct Policy {
  std::string dir;
  std::unique_ptr<PolicyManager> pm;
  explicit Policy(const std::string& toml) {
    dir = (std::filesystem::temp_directory_path() / ("kith-authz-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    std::string file;
    if (!toml.empty()) {
      file = dir + "/policy.toml";
      std::ofstream(file) << toml;
    }
    pm = std::make_unique<PolicyManager>(file);
    BOOST_REQUIRE(pm->load().isOk());
  }
  ~Policy() { std::filesystem::remove_all(dir); }
};

// A destination as the rule sees it (owns what StreamTarget points at).
struct Dst {
  policy::Address address;
  std::vector<std::string> protocols;
  std::vector<policy::Pattern> whitelist;
  std::optional<uint16_t> port;
  StreamTarget target() const { return {address, protocols, whitelist, port}; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(stream_authorizer)

BOOST_AUTO_TEST_CASE(a_whitelisted_source_in_the_same_scope_is_allowed) {
  Policy p("");
  StreamAuthorizer a(*p.pm);
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.web.*.*.*")}, std::nullopt};
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp").isOk());
  BOOST_TEST(p.pm->stats().allowed == 1u);
}

BOOST_AUTO_TEST_CASE(a_source_of_another_machine_than_its_link_is_unauthorized_before_anything_else) {
  Policy p("");
  StreamAuthorizer a(*p.pm);
  // Allowed by whitelist, but it arrived over n3's link while naming n1.
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.web.*.*.*")}, std::nullopt};
  Status st = a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp", "n3");
  BOOST_TEST((st.code() == Code::kUnauthorized));
  BOOST_TEST(st.message().find("does not belong to machine n3") != std::string::npos);
  BOOST_TEST(p.pm->stats().denied == 0u);  // refused before the policy was asked
  BOOST_TEST((StreamAuthorizer::checkSource(addr("dev.web.a.default.n1"), "n3").code() == Code::kUnauthorized));
  BOOST_TEST(StreamAuthorizer::checkSource(addr("dev.web.a.default.n1"), "n1").isOk());
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n3"), d.target(), "tcp", "n3").isOk());
}

BOOST_AUTO_TEST_CASE(a_destination_that_does_not_speak_the_protocol_cannot_connect) {
  Policy p("");
  StreamAuthorizer a(*p.pm);
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.web.*.*.*")}, std::nullopt};
  Status st = a.authorize(addr("dev.web.a.default.n1"), d.target(), "udp");
  BOOST_TEST((st.code() == Code::kCannotConnect));
  BOOST_TEST(st.message() == "dev.db.x.default.n2 does not speak udp");
  BOOST_TEST(p.pm->stats().denied == 0u);
}

BOOST_AUTO_TEST_CASE(default_deny_without_a_whitelist_entry_explains_itself) {
  Policy p("");
  StreamAuthorizer a(*p.pm);
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.api.*.*.*")}, std::nullopt};
  Status st = a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp");
  BOOST_TEST((st.code() == Code::kUnauthorized));
  BOOST_TEST(st.message().find("dev.web.a.default.n1 may not reach dev.db.x.default.n2") != std::string::npos);
  BOOST_TEST(p.pm->stats().denied == 1u);
}

BOOST_AUTO_TEST_CASE(a_whitelist_never_crosses_scopes_but_an_allow_rule_can) {
  Dst d{addr("prod.db.x.default.n2"), {"tcp"}, {pat("*.*.*.*.*")}, std::nullopt};
  {
    Policy p("");
    StreamAuthorizer a(*p.pm);
    BOOST_TEST((a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp").code() == Code::kUnauthorized));
  }
  Policy p(R"([[allow]]
name = "dev-reads-prod"
from = "dev.web.*.*.*"
to = "prod.db.*.*.*"
cross_scope = true
)");
  StreamAuthorizer a(*p.pm);
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp").isOk());
}

BOOST_AUTO_TEST_CASE(a_deny_rule_wins_over_the_whitelist) {
  Policy p(R"([[deny]]
name = "no-web-to-db"
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
)");
  StreamAuthorizer a(*p.pm);
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.web.*.*.*")}, std::nullopt};
  Status st = a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp");
  BOOST_TEST((st.code() == Code::kUnauthorized));
  BOOST_TEST(st.message().find("no-web-to-db") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_port_rule_sees_the_targets_port) {
  Policy p(R"([[allow]]
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
port = 5432
)");
  StreamAuthorizer a(*p.pm);
  Dst on{addr("dev.db.x.default.n2"), {"tcp"}, {}, uint16_t{5432}};
  Dst off{addr("dev.db.x.default.n2"), {"tcp"}, {}, uint16_t{8080}};
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n1"), on.target(), "tcp").isOk());
  BOOST_TEST((a.authorize(addr("dev.web.a.default.n1"), off.target(), "tcp").code() == Code::kUnauthorized));
}

BOOST_AUTO_TEST_CASE(audit_mode_allows_what_it_would_deny_and_counts_it) {
  Policy p("audit = true\n");
  StreamAuthorizer a(*p.pm);
  Dst d{addr("dev.db.x.default.n2"), {"tcp"}, {}, std::nullopt};
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n1"), d.target(), "tcp").isOk());
  BOOST_TEST(p.pm->stats().audited == 1u);
}

BOOST_AUTO_TEST_CASE(recheck_decides_the_same_and_counts_nothing) {
  Policy p("");
  StreamAuthorizer a(*p.pm);
  Dst yes{addr("dev.db.x.default.n2"), {"tcp"}, {pat("dev.web.*.*.*")}, std::nullopt};
  Dst no{addr("dev.db.y.default.n2"), {"tcp"}, {}, std::nullopt};
  BOOST_TEST(a.recheck(addr("dev.web.a.default.n1"), yes.target(), "tcp").isOk());
  BOOST_TEST((a.recheck(addr("dev.web.a.default.n1"), no.target(), "tcp").code() == Code::kUnauthorized));
  BOOST_TEST((a.recheck(addr("dev.web.a.default.n1"), yes.target(), "tcp", "n9").code() == Code::kUnauthorized));
  BOOST_TEST(p.pm->stats().allowed == 0u);
  BOOST_TEST(p.pm->stats().denied == 0u);
}

BOOST_AUTO_TEST_CASE(a_remote_workloads_parsed_whitelist_decides_and_its_port_is_left_to_its_daemon) {
  Policy p(R"([[allow]]
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
port = 5432
)");
  StreamAuthorizer a(*p.pm);
  RemoteWorkload w{addr("dev.db.x.default.n2"), "n2", {"tcp"}, "tcp", {pat("dev.web.*.*.*")}};
  StreamTarget t = StreamTarget::of(w);
  BOOST_TEST(!t.port.has_value());
  // The port rule cannot match without a port; the whitelist admits it.
  BOOST_TEST(a.authorize(addr("dev.web.a.default.n1"), t, "tcp").isOk());
  RemoteWorkload closed{addr("dev.db.y.default.n2"), "n2", {"tcp"}, "tcp", {}};
  BOOST_TEST((a.authorize(addr("dev.web.a.default.n1"), StreamTarget::of(closed), "tcp").code() ==
              Code::kUnauthorized));
}

BOOST_AUTO_TEST_SUITE_END()
