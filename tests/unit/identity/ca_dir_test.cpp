#include "kith/identity/ca_dir.h"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "kith/common/log.h"
#include "kith/identity/cert.h"
#include "test_util.h"

namespace id = kith::identity;
using id::NodeIdentity;
using id::SigningKey;
using id::testing::fileMode;
using id::testing::readText;
using id::testing::run;
using id::testing::TempDir;
using id::testing::writeText;

namespace {

constexpr const char* kTd = "kith.test";

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

struct CaAndNode {
  TempDir tmp;
  std::string ca = tmp.file("ca");
  std::string node = tmp.file("node");
  CaAndNode(const char* machine = "node1") {
    kith::Status st = id::initCa(ca, kTd);
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
    st = id::issueNode(ca, machine, node);
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.toString());
  }
};

// Keeps the library's log lines out of the test output, and lets tests read them.
struct LogCapture {
  std::vector<std::string> lines;
  LogCapture() {
    // These tests read info lines; the test main logs only warnings by default.
    kith::log::setLevel(kith::log::Level::kInfo);
    kith::log::setSinkForTest([this](std::string_view line) { lines.emplace_back(line); });
  }
  ~LogCapture() {
    kith::log::setSinkForTest(nullptr);
    kith::log::setLevel(kith::log::Level::kWarn);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(identity_ca_dir, LogCapture)

BOOST_AUTO_TEST_CASE(init_ca_writes_private_key_certificate_and_trust_domain) {
  TempDir tmp;
  std::string dir = tmp.file("ca");
  BOOST_REQUIRE(id::initCa(dir, kTd).isOk());
  BOOST_TEST(fileMode(dir) == 0700u);
  BOOST_TEST(fileMode(dir + "/root.key") == 0600u);
  BOOST_TEST(readText(dir + "/trust_domain") == "kith.test\n");
  auto ca = id::loadCa(dir);
  BOOST_REQUIRE_MESSAGE(ca.isOk(), ca.status().toString());
  BOOST_TEST(ca->trustDomain() == kTd);
  BOOST_TEST(ca->certificatePem() == readText(dir + "/root.crt"));
  auto key = run("openssl pkey -in '" + dir + "/root.key' -noout");
  BOOST_TEST(key.exitCode == 0, key.output);
}

BOOST_AUTO_TEST_CASE(init_ca_refuses_to_overwrite_an_existing_ca) {
  TempDir tmp;
  std::string dir = tmp.file("ca");
  BOOST_REQUIRE(id::initCa(dir, kTd).isOk());
  std::string key = readText(dir + "/root.key");
  std::string cert = readText(dir + "/root.crt");
  kith::Status st = id::initCa(dir, "other.test");
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "already holds a CA"), st.message());
  BOOST_TEST(readText(dir + "/root.key") == key);
  BOOST_TEST(readText(dir + "/root.crt") == cert);
}

BOOST_AUTO_TEST_CASE(init_ca_in_an_existing_empty_directory_is_fine_and_bad_names_are_not) {
  TempDir tmp;
  BOOST_TEST(id::initCa(tmp.path(), kTd).isOk());
  TempDir tmp2;
  BOOST_TEST(!id::initCa(tmp2.file("ca"), "Bad Domain").isOk());
}

BOOST_AUTO_TEST_CASE(missing_parent_directories_are_made_private) {
  TempDir tmp;
  BOOST_REQUIRE(id::initCa(tmp.file("missing/parent/ca"), kTd).isOk());
  for (const char* d : {"missing", "missing/parent", "missing/parent/ca"}) {
    struct stat st{};
    BOOST_REQUIRE(::stat(tmp.file(d).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0700u, d);
  }
}

BOOST_AUTO_TEST_CASE(issued_node_directory_verifies_with_openssl_and_loads) {
  CaAndNode d;
  BOOST_TEST(fileMode(d.node) == 0700u);
  BOOST_TEST(fileMode(d.node + "/node.key") == 0600u);
  BOOST_TEST(readText(d.node + "/machine") == "node1\n");
  BOOST_TEST(readText(d.node + "/trust_domain") == "kith.test\n");
  BOOST_TEST(readText(d.node + "/ca.crt") == readText(d.ca + "/root.crt"));

  auto v = run("openssl verify -CAfile '" + d.node + "/ca.crt' '" + d.node + "/node.crt'");
  BOOST_TEST(v.exitCode == 0, v.output);
  auto text = run("openssl x509 -noout -text -in '" + d.node + "/node.crt'");
  BOOST_TEST(contains(text.output, "URI:spiffe://kith.test/node/node1"));
  // The key file and certificate belong together as far as openssl is concerned.
  auto certPub = run("openssl x509 -in '" + d.node + "/node.crt' -noout -pubkey");
  auto keyPub = run("openssl pkey -in '" + d.node + "/node.key' -pubout");
  BOOST_TEST(certPub.output == keyPub.output);

  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE_MESSAGE(node.isOk(), node.status().toString());
  BOOST_TEST(node->machine == "node1");
  BOOST_TEST(node->trustDomain == kTd);
  BOOST_TEST(node->spiffeId == "spiffe://kith.test/node/node1");
  BOOST_TEST(node->certNotAfter - node->certNotBefore == 365 * 86400 + id::kBackdateSeconds);
  BOOST_TEST(node->nodeCaNotAfter > 0);
  BOOST_TEST(node->earliestExpiry() == std::min(node->certNotAfter, node->nodeCaNotAfter));
  BOOST_TEST(!node->nodeCaPem.empty());
}

BOOST_AUTO_TEST_CASE(issue_node_refuses_to_replace_a_node_key_unless_asked) {
  CaAndNode d;
  std::string key = readText(d.node + "/node.key");
  kith::Status st = id::issueNode(d.ca, "node1", d.node);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "already exists"), st.message());
  BOOST_TEST(readText(d.node + "/node.key") == key);
  BOOST_TEST(id::issueNode(d.ca, "node1", d.node, {}, /*replace=*/true).isOk());
  BOOST_TEST(readText(d.node + "/node.key") != key);
  BOOST_TEST(NodeIdentity::load(d.node).isOk());
}

BOOST_AUTO_TEST_CASE(issue_node_refuses_bad_machine_names_and_missing_ca) {
  CaAndNode d;
  BOOST_TEST(!id::issueNode(d.ca, "bad.name", d.tmp.file("x")).isOk());
  auto st = id::issueNode(d.tmp.file("no-ca"), "n2", d.tmp.file("y"));
  BOOST_TEST(!st.isOk());
  BOOST_TEST((st.code() == kith::Code::kNotFound), st.toString());
}

BOOST_AUTO_TEST_CASE(node_load_refuses_a_key_that_does_not_match_the_certificate) {
  CaAndNode d;
  BOOST_REQUIRE(SigningKey::generate().saveKeyFile(d.node + "/node.key").isOk());
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(!node.isOk());
  BOOST_TEST(contains(node.status().message(), "does not certify the key"), node.status().message());
}

BOOST_AUTO_TEST_CASE(node_load_refuses_a_certificate_from_another_ca) {
  CaAndNode d;
  CaAndNode other;
  writeText(d.node + "/ca.crt", readText(other.ca + "/root.crt"));
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(!node.isOk());
  BOOST_TEST(contains(node.status().message(), "node.crt"), node.status().message());
}

BOOST_AUTO_TEST_CASE(node_load_refuses_a_certificate_naming_another_machine) {
  CaAndNode d;
  writeText(d.node + "/machine", "node2\n");
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(!node.isOk());
  BOOST_TEST(contains(node.status().message(), "expected spiffe://kith.test/node/node2"),
             node.status().message());
}

BOOST_AUTO_TEST_CASE(node_load_refuses_a_group_readable_key) {
  CaAndNode d;
  BOOST_REQUIRE(::chmod((d.node + "/node.key").c_str(), 0640) == 0);
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(!node.isOk());
  BOOST_TEST(contains(node.status().message(), "0640"), node.status().message());
  BOOST_TEST(contains(node.status().message(), d.node + "/node.key"));
}

BOOST_AUTO_TEST_CASE(node_load_refuses_a_tampered_certificate) {
  CaAndNode d;
  auto der = id::certificateFromPem(readText(d.node + "/node.crt"));
  BOOST_REQUIRE(der.isOk());
  der->back() ^= 0x80;  // inside the signature
  writeText(d.node + "/node.crt", id::certificateToPem(*der));
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(!node.isOk());
  BOOST_TEST(contains(node.status().message(), "does not verify"), node.status().message());
}

BOOST_AUTO_TEST_CASE(load_ca_refuses_a_trust_domain_file_that_disagrees) {
  CaAndNode d;
  writeText(d.ca + "/trust_domain", "other.test\n");
  auto ca = id::loadCa(d.ca);
  BOOST_REQUIRE(!ca.isOk());
  BOOST_TEST(contains(ca.status().message(), "other.test"));
}

BOOST_AUTO_TEST_CASE(node_identity_issues_svids_that_openssl_verifies) {
  CaAndNode d;
  auto node = NodeIdentity::load(d.node);
  BOOST_REQUIRE(node.isOk());
  auto issuer = node->svidIssuer();
  BOOST_REQUIRE_MESSAGE(issuer.isOk(), issuer.status().toString());
  SigningKey wl = SigningKey::generate();
  auto svid = issuer->issueSvid(wl.publicKey(), "spiffe://kith.test/dev/web/a/default/node1", {300, nullptr});
  BOOST_REQUIRE_MESSAGE(svid.isOk(), svid.status().toString());
  BOOST_TEST(id::verifyCertificate(*svid, node->rootPem, node->nodeCaPem).isOk());
  writeText(d.tmp.file("svid.crt"), *svid);
  auto v = run("openssl verify -CAfile '" + d.node + "/ca.crt' -untrusted '" + d.node +
               "/node-ca.crt' '" + d.tmp.file("svid.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
}

BOOST_AUTO_TEST_CASE(dev_identity_is_created_once_and_survives_reload) {
  TempDir tmp;
  std::string home = tmp.file("kith-home");
  auto first = id::ensureDevIdentity(home, "devbox", kTd);
  BOOST_REQUIRE_MESSAGE(first.isOk(), first.status().toString());
  BOOST_TEST(first->createdCa);
  BOOST_TEST(first->issuedNode);
  BOOST_TEST(first->caDir == home + "/ca");
  BOOST_TEST(first->nodeDir == home + "/node");
  BOOST_TEST(fileMode(home) == 0700u);
  BOOST_TEST(fileMode(home + "/ca") == 0700u);
  BOOST_TEST(fileMode(home + "/node") == 0700u);
  BOOST_TEST(first->node.machine == "devbox");
  BOOST_TEST(first->node.spiffeId == "spiffe://kith.test/node/devbox");

  auto second = id::ensureDevIdentity(home, "devbox", kTd);
  BOOST_REQUIRE_MESSAGE(second.isOk(), second.status().toString());
  BOOST_TEST(!second->createdCa);
  BOOST_TEST(!second->issuedNode);
  BOOST_TEST((second->node.key.publicKey() == first->node.key.publicKey()));
  BOOST_TEST(second->node.certPem == first->node.certPem);
  BOOST_TEST(second->node.rootPem == first->node.rootPem);

  auto v = run("openssl verify -CAfile '" + home + "/ca/root.crt' '" + home + "/node/node.crt'");
  BOOST_TEST(v.exitCode == 0, v.output);
}

BOOST_AUTO_TEST_CASE(dev_identity_is_reissued_when_the_machine_is_renamed) {
  TempDir tmp;
  auto first = id::ensureDevIdentity(tmp.path(), "old-name", kTd);
  BOOST_REQUIRE(first.isOk());
  auto renamed = id::ensureDevIdentity(tmp.path(), "new-name", kTd);
  BOOST_REQUIRE_MESSAGE(renamed.isOk(), renamed.status().toString());
  BOOST_TEST(!renamed->createdCa);
  BOOST_TEST(renamed->issuedNode);
  BOOST_TEST(renamed->node.machine == "new-name");
  BOOST_TEST(renamed->node.spiffeId == "spiffe://kith.test/node/new-name");
  BOOST_TEST((renamed->node.key.publicKey() != first->node.key.publicKey()));
  BOOST_TEST(renamed->node.rootPem == first->node.rootPem);  // same CA
  BOOST_REQUIRE(!lines.empty());
  BOOST_TEST(contains(lines.back(), "machine renamed from old-name"), lines.back());
  BOOST_TEST(id::verifyCertificate(renamed->node.certPem, first->node.rootPem).isOk());
}

BOOST_AUTO_TEST_CASE(dev_identity_renews_a_certificate_close_to_expiry) {
  TempDir tmp;
  auto first = id::ensureDevIdentity(tmp.path(), "devbox", kTd);
  BOOST_REQUIRE(first.isOk());
  // Replace the node identity with one that expires in 10 days.
  BOOST_REQUIRE(id::issueNode(first->caDir, "devbox", first->nodeDir, {10 * 86400, nullptr}, true).isOk());
  auto renewed = id::ensureDevIdentity(tmp.path(), "devbox", kTd);
  BOOST_REQUIRE(renewed.isOk());
  BOOST_TEST(renewed->issuedNode);
  BOOST_TEST(renewed->node.certNotAfter - renewed->node.certNotBefore ==
             365 * 86400 + id::kBackdateSeconds);
}

BOOST_AUTO_TEST_CASE(dev_identity_replaces_a_damaged_node_directory) {
  TempDir tmp;
  auto first = id::ensureDevIdentity(tmp.path(), "devbox", kTd);
  BOOST_REQUIRE(first.isOk());
  writeText(first->nodeDir + "/node.crt", "garbage");
  auto again = id::ensureDevIdentity(tmp.path(), "devbox", kTd);
  BOOST_REQUIRE_MESSAGE(again.isOk(), again.status().toString());
  BOOST_TEST(again->issuedNode);
  BOOST_TEST(NodeIdentity::load(first->nodeDir).isOk());
}

BOOST_AUTO_TEST_CASE(dev_identity_refuses_a_ca_for_another_trust_domain) {
  TempDir tmp;
  BOOST_REQUIRE(id::ensureDevIdentity(tmp.path(), "devbox", kTd).isOk());
  auto other = id::ensureDevIdentity(tmp.path(), "devbox", "other.test");
  BOOST_REQUIRE(!other.isOk());
  BOOST_TEST(contains(other.status().message(), "kith.test"), other.status().message());
  BOOST_TEST(!id::ensureDevIdentity(tmp.path(), "bad.machine", kTd).isOk());
}

BOOST_AUTO_TEST_SUITE_END()
