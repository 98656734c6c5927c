#include "kith/policy/policy_slot.h"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "kith/policy/policy_file.h"

using namespace kith::policy;

namespace {

struct TempFile {
  TempFile() {
    char tmpl[] = "/tmp/kith-policy-slot-XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/policy.toml";
  }
  ~TempFile() { std::system(("rm -rf '" + dir + "'").c_str()); }
  void write(std::string_view text) { std::ofstream(path, std::ios::trunc) << text; }
  std::string dir, path;
};

constexpr std::string_view kAllowWebToDb = R"([[allow]]
name = "web-to-db"
from = "dev.web.*.*.*"
to = "dev.db.*.*.*"
)";

bool webToDbAllowed(const Policy& p) {
  return p.decide(*Address::parse("dev.web.a.r.m"), *Address::parse("dev.db.b.r.m"), Proto::kTcp,
                  std::nullopt, {})
      .allowed;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_slot)

BOOST_AUTO_TEST_CASE(starts_with_the_empty_default_deny_policy) {
  PolicySlot slot;
  BOOST_TEST(slot.current()->rules().empty());
  BOOST_TEST(!webToDbAllowed(*slot.current()));
}

BOOST_AUTO_TEST_CASE(reload_installs_a_good_file) {
  TempFile f;
  f.write(kAllowWebToDb);
  PolicySlot slot;
  auto r = slot.reload(f.path);
  BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message());
  BOOST_TEST(webToDbAllowed(*slot.current()));
}

BOOST_AUTO_TEST_CASE(bad_file_keeps_the_old_policy) {
  TempFile f;
  f.write(kAllowWebToDb);
  PolicySlot slot;
  BOOST_REQUIRE(slot.reload(f.path).isOk());
  auto before = slot.current();

  f.write("[[allow]]\nfrom = \"dev.web.*.*.*\"\nto = \"dev.db\"\n");  // bad pattern
  auto r = slot.reload(f.path);
  BOOST_REQUIRE(!r.isOk());
  BOOST_TEST(r.status().message().find(f.path + ":3:") == 0u);
  BOOST_TEST(slot.current() == before);
  BOOST_TEST(webToDbAllowed(*slot.current()));

  f.write(std::string(kAllowWebToDb) + "[[test]]\nfrom = \"dev.web.a.r.m\"\nto = \"dev.db.b.r.m\"\nexpect = \"deny\"\n");
  BOOST_REQUIRE(!slot.reload(f.path).isOk());  // failing [[test]]
  BOOST_TEST(slot.current() == before);
}

BOOST_AUTO_TEST_CASE(snapshot_held_by_a_reader_survives_a_swap) {
  TempFile f;
  f.write(kAllowWebToDb);
  PolicySlot slot;
  BOOST_REQUIRE(slot.reload(f.path).isOk());
  auto held = slot.current();
  auto old = slot.replace(Policy::empty());
  BOOST_TEST(old == held);
  BOOST_TEST(webToDbAllowed(*held));  // still usable after the swap
  BOOST_TEST(!webToDbAllowed(*slot.current()));
}

BOOST_AUTO_TEST_CASE(readers_on_other_threads_see_whole_snapshots) {
  TempFile f;
  f.write(kAllowWebToDb);
  auto withRule = *loadPolicyFile(f.path);
  PolicySlot slot(withRule);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto p = slot.current();
      bool allowed = webToDbAllowed(*p);
      if (allowed != !p->rules().empty()) torn.fetch_add(1);
    }
  });
  for (int i = 0; i < 2000; ++i) slot.replace(i % 2 ? withRule : Policy::empty());
  stop.store(true);
  reader.join();
  BOOST_TEST(torn.load() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
