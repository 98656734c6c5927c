// kithctl ca as a process: a CA and node identities made by the real binary,
// checked with the real openssl, and loaded (or refused) by a real kithd.
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "fixture.h"
#include "kith/common/json.h"
#include "kith/identity/ca_dir.h"
#include "kith/identity/cert.h"
#include "kith/replication/record.h"

using namespace kith::test;
using nlohmann::json;
namespace id = kith::identity;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

unsigned modeOf(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct CaFixture {
  TempDir dir;
  std::string ca = dir.path() + "/ca";

  // Runs kithctl with `args`; returns its exit status, output (stdout+stderr) in *out.
  int kithctl(const std::string& args, std::string* out = nullptr) {
    std::string local;
    int rc = runCommand(binDir() + "/kithctl " + args, out ? out : &local);
    return rc;
  }
  int openssl(const std::string& args, std::string* out = nullptr) {
    std::string local;
    return runCommand("openssl " + args, out ? out : &local);
  }
  void initCa(const std::string& caDir, const std::string& td = "example.org") {
    std::string out;
    BOOST_REQUIRE_MESSAGE(kithctl("ca init --trust-domain " + td + " --out " + caDir, &out) == 0, out);
  }
  std::string issue(const std::string& machine, const std::string& caDir, const std::string& extra = "") {
    std::string out, node = dir.path() + "/" + machine;
    BOOST_REQUIRE_MESSAGE(
        kithctl("ca issue-node " + machine + " --ca " + caDir + " --out " + node + " " + extra, &out) == 0, out);
    return node;
  }
};

int exitCodeOf(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(ca, CaFixture)

BOOST_AUTO_TEST_CASE(init_and_issue_node_verify_with_openssl_and_name_the_spiffe_san) {
  std::string out;
  BOOST_REQUIRE_MESSAGE(kithctl("ca init --trust-domain example.org --out " + ca, &out) == 0, out);
  BOOST_TEST(contains(out, "next: kithctl ca issue-node"));
  BOOST_TEST(modeOf(ca) == 0700u);
  BOOST_TEST(modeOf(ca + "/root.key") == 0600u);
  std::string node = issue("n1", ca);
  BOOST_TEST(modeOf(node) == 0700u);
  BOOST_TEST(modeOf(node + "/node.key") == 0600u);
  for (const char* f : {"node.crt", "node-ca.crt", "ca.crt", "machine", "trust_domain", "deleg"}) {
    BOOST_TEST(modeOf(node + "/" + f) != 0u, f << " missing");
  }

  // The real openssl accepts both certificates against the bundle and the CA's root.
  out.clear();
  BOOST_TEST(openssl("verify -CAfile " + node + "/ca.crt " + node + "/node.crt", &out) == 0, out);
  BOOST_TEST(contains(out, "node.crt: OK"));
  out.clear();
  BOOST_TEST(openssl("verify -CAfile " + ca + "/root.crt " + node + "/node.crt " + node + "/node-ca.crt", &out) == 0,
             out);
  out.clear();
  BOOST_TEST(openssl("x509 -noout -text -in " + node + "/node.crt", &out) == 0);
  BOOST_TEST(contains(out, "URI:spiffe://example.org/node/n1"), out);
  BOOST_TEST(contains(out, "CA:FALSE"));
  out.clear();
  BOOST_TEST(openssl("x509 -noout -text -in " + ca + "/root.crt", &out) == 0);
  BOOST_TEST(contains(out, "URI:spiffe://example.org"));
  BOOST_TEST(contains(out, "CA:TRUE"));
  // The node key file is what openssl (and so a TLS stack) reads, and it is the
  // key the certificate certifies.
  std::string keyPub, certPub;
  BOOST_TEST(openssl("pkey -in " + node + "/node.key -pubout", &keyPub) == 0);
  BOOST_TEST(openssl("x509 -in " + node + "/node.crt -noout -pubkey", &certPub) == 0);
  BOOST_TEST(keyPub == certPub);
  // And kithd's loader accepts the directory as a whole.
  auto loaded = id::NodeIdentity::load(node);
  BOOST_REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  BOOST_TEST(loaded->spiffeId == "spiffe://example.org/node/n1");
}

BOOST_AUTO_TEST_CASE(json_output_describes_what_was_made) {
  std::string out;
  BOOST_REQUIRE(kithctl("ca init --json --trust-domain example.org --out " + ca, &out) == 0);
  auto j = kith::parseJson(out);
  BOOST_TEST(j["ok"] == true);
  BOOST_TEST(j["spiffe_id"] == "spiffe://example.org");
  BOOST_TEST(j["root_key"].get<std::string>().size() == 64u);
  out.clear();
  BOOST_REQUIRE(kithctl("ca issue-node n1 --json --validity-days 10 --ca " + ca + " --out " + dir.path() + "/n1",
                        &out) == 0);
  j = kith::parseJson(out);
  BOOST_TEST(j["spiffe_id"] == "spiffe://example.org/node/n1");
  int64_t lifetime = j["not_after"].get<int64_t>() - j["not_before"].get<int64_t>();
  // notBefore is backdated for clock skew.
  BOOST_TEST(lifetime == 10 * id::kDaySeconds + id::kBackdateSeconds);
  BOOST_TEST(j["deleg"] == dir.path() + "/n1/deleg");
}

BOOST_AUTO_TEST_CASE(a_second_init_on_the_same_dir_is_refused_and_the_ca_stays) {
  initCa(ca);
  std::string key = readFile(ca + "/root.key"), cert = readFile(ca + "/root.crt");
  std::string out;
  BOOST_TEST(kithctl("ca init --trust-domain other.org --out " + ca, &out) == 1);
  BOOST_TEST(contains(out, "kithctl: BAD_REQUEST:"), out);
  BOOST_TEST(contains(out, "refusing to overwrite"), out);
  BOOST_TEST(readFile(ca + "/root.key") == key);
  BOOST_TEST(readFile(ca + "/root.crt") == cert);
  // Likewise a node key is never silently replaced; --replace is explicit.
  std::string node = issue("n1", ca);
  std::string nodeKey = readFile(node + "/node.key");
  out.clear();
  BOOST_TEST(kithctl("ca issue-node n1 --ca " + ca + " --out " + node, &out) == 1);
  BOOST_TEST(contains(out, "refusing to replace"), out);
  BOOST_TEST(readFile(node + "/node.key") == nodeKey);
  issue("n1", ca, "--replace");
  BOOST_TEST(readFile(node + "/node.key") != nodeKey);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_and_bad_input_exits_1) {
  BOOST_TEST(kithctl("ca") == 2);
  BOOST_TEST(kithctl("ca init --out " + ca) == 2);  // no --trust-domain
  BOOST_TEST(kithctl("ca issue-node n1 --ca " + ca) == 2);  // no --out
  BOOST_TEST(kithctl("ca issue-node n1 --ca " + ca + " --out x --validity-days 0") == 2);
  std::string out;
  BOOST_TEST(kithctl("ca init --help", &out) == 0);
  BOOST_TEST(contains(out, "--trust-domain"));
  BOOST_TEST(kithctl("ca init --trust-domain 'not a domain' --out " + ca) == 1);
  initCa(ca);
  BOOST_TEST(kithctl("ca issue-node 'bad.name' --ca " + ca + " --out " + dir.path() + "/x") == 1);
  out.clear();
  BOOST_TEST(kithctl("ca issue-node n1 --ca " + dir.path() + "/nowhere --out " + dir.path() + "/x", &out) == 1);
  BOOST_TEST(contains(out, "NOT_FOUND"), out);
}

BOOST_AUTO_TEST_CASE(kithd_refuses_a_node_dir_whose_key_others_can_read) {
  initCa(ca);
  std::string home = dir.path() + "/home";
  std::string cfg = dir.path() + "/kithd.toml";
  BOOST_REQUIRE(kithctl("ca issue-node n1 --ca " + ca + " --out " + dir.path() + "/node") == 0);
  writeFile(cfg, "machine = \"n1\"\ntrust_domain = \"example.org\"\nhome = \"" + home +
                     "\"\n[identity]\nnode_dir = \"" + dir.path() + "/node\"\n");
  BOOST_REQUIRE(::chmod((dir.path() + "/node/node.key").c_str(), 0644) == 0);
  {
    DaemonProcess d(home);
    BOOST_REQUIRE(d.spawn({"--config", cfg, "--log-format", "text"}).isOk());
    BOOST_TEST(exitCodeOf(d.waitExit(10000)) == 1);
    BOOST_TEST(contains(d.log(), "mode 0644"), d.log());
    BOOST_TEST(contains(d.log(), "chmod 600"), d.log());
  }
  // Fixed, the same directory is the daemon's identity.
  BOOST_REQUIRE(::chmod((dir.path() + "/node/node.key").c_str(), 0600) == 0);
  DaemonProcess d(home);
  BOOST_REQUIRE(d.spawn({"--config", cfg, "--log-format", "json"}).isOk());
  bool up = waitFor(
      [&] {
        auto c = TestClient::connect(d.apiSocket());
        return c.isOk() && c->request({{"op", "hello"}}, 2000).isOk();
      },
      10000);
  BOOST_REQUIRE_MESSAGE(up, d.log());
  BOOST_TEST(contains(d.log(), "node identity loaded"), d.log());
  BOOST_TEST(contains(d.log(), "spiffe://example.org/node/n1"));
  BOOST_TEST(exitCodeOf(d.stop()) == 0);
}

BOOST_AUTO_TEST_CASE(csr_path_certifies_the_nodes_own_key_for_the_machine_the_ca_names) {
  initCa(ca);
  std::string node = dir.path() + "/node", out;
  BOOST_REQUIRE_MESSAGE(kithctl("ca csr asked-for --out " + node, &out) == 0, out);
  BOOST_TEST(modeOf(node + "/node.key") == 0600u);
  BOOST_TEST(modeOf(node + "/node.csr") != 0u);
  std::string key = readFile(node + "/node.key");
  out.clear();
  BOOST_TEST(openssl("req -in " + node + "/node.csr -noout -verify", &out) == 0, out);
  // Signed on the CA into a directory of its own: the SAN comes from --machine.
  std::string signedDir = dir.path() + "/signed";
  out.clear();
  BOOST_REQUIRE_MESSAGE(kithctl("ca sign-csr " + node + "/node.csr --machine given --ca " + ca + " --out " +
                                    signedDir, &out) == 0, out);
  BOOST_TEST(modeOf(signedDir + "/node.key") == 0u);  // the key never left the node
  out.clear();
  BOOST_TEST(openssl("verify -CAfile " + signedDir + "/ca.crt " + signedDir + "/node.crt", &out) == 0, out);
  out.clear();
  BOOST_TEST(openssl("x509 -noout -text -in " + signedDir + "/node.crt", &out) == 0);
  BOOST_TEST(contains(out, "URI:spiffe://example.org/node/given"), out);
  BOOST_TEST(!contains(out, "asked-for"), out);
  std::string keyPub, certPub;
  BOOST_TEST(openssl("pkey -in " + node + "/node.key -pubout", &keyPub) == 0);
  BOOST_TEST(openssl("x509 -in " + signedDir + "/node.crt -noout -pubkey", &certPub) == 0);
  BOOST_TEST(keyPub == certPub);
  // Copied back beside node.key, the node directory loads as kithd loads it.
  for (const char* f : {"node.crt", "node-ca.crt", "ca.crt", "machine", "trust_domain", "deleg"}) {
    BOOST_REQUIRE(runCommand(std::string("cp ") + signedDir + "/" + f + " " + node + "/", nullptr) == 0);
  }
  auto loaded = id::NodeIdentity::load(node);
  BOOST_REQUIRE_MESSAGE(loaded.isOk(), loaded.status().message());
  BOOST_TEST(loaded->machine == "given");
  BOOST_TEST(readFile(node + "/node.key") == key);
  // Renewal: a new CSR for the same key, signed straight into the node directory.
  BOOST_TEST(kithctl("ca csr given --out " + node) == 1);  // would replace the key
  BOOST_REQUIRE(kithctl("ca csr given --reuse-key --out " + node) == 0);
  BOOST_REQUIRE(kithctl("ca sign-csr " + node + "/node.csr --machine given --ca " + ca + " --out " + node) == 0);
  BOOST_TEST(readFile(node + "/node.key") == key);
  BOOST_TEST(id::NodeIdentity::load(node).isOk());
}

BOOST_AUTO_TEST_CASE(sign_csr_refuses_damaged_requests_and_foreign_keys) {
  initCa(ca);
  std::string a = dir.path() + "/a", b = dir.path() + "/b", out;
  BOOST_REQUIRE(kithctl("ca csr a --out " + a) == 0);
  BOOST_REQUIRE(kithctl("ca csr b --out " + b) == 0);
  // A CSR whose signature no longer matches (one byte of the body changed).
  std::string csr = readFile(a + "/node.csr");
  std::string bad = csr;
  size_t pos = bad.find('\n') + 20;
  bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
  writeFile(dir.path() + "/bad.csr", bad);
  BOOST_TEST(kithctl("ca sign-csr " + dir.path() + "/bad.csr --machine a --ca " + ca + " --out " + dir.path() +
                         "/out", &out) == 1, out);
  writeFile(dir.path() + "/junk.csr", "not a csr\n");
  BOOST_TEST(kithctl("ca sign-csr " + dir.path() + "/junk.csr --machine a --ca " + ca + " --out " + dir.path() +
                         "/out") == 1);
  // a's request signed into b's directory would put a certificate for a's key
  // beside b's key.
  out.clear();
  BOOST_TEST(kithctl("ca sign-csr " + a + "/node.csr --machine b --ca " + ca + " --out " + b, &out) == 1);
  BOOST_TEST(contains(out, "is not the key of"), out);
  BOOST_TEST(modeOf(b + "/node.crt") == 0u);
}

BOOST_AUTO_TEST_CASE(a_node_from_another_ca_fails_openssl_verify_against_the_first) {
  std::string ca2 = dir.path() + "/ca2";
  initCa(ca);
  initCa(ca2);  // same trust domain name, different root key
  std::string mine = issue("n1", ca), theirs = issue("n2", ca2), out;
  BOOST_TEST(openssl("verify -CAfile " + mine + "/ca.crt " + mine + "/node.crt", &out) == 0, out);
  out.clear();
  BOOST_TEST(openssl("verify -CAfile " + ca + "/root.crt " + theirs + "/node.crt", &out) != 0, out);
  BOOST_TEST(contains(out, "unable to get local issuer certificate"), out);
  // identity/ agrees.
  BOOST_TEST(!id::verifyCertificate(readFile(theirs + "/node.crt"), readFile(ca + "/root.crt")).isOk());
}

BOOST_AUTO_TEST_CASE(deleg_record_binds_the_machine_to_its_node_key_under_the_root) {
  initCa(ca);
  int64_t before = kith::systemClock().nowMicros() / 1'000'000;
  std::string node = issue("n1", ca);
  std::string line = readFile(node + "/deleg");
  BOOST_REQUIRE(!line.empty() && line.back() == '\n');
  line.pop_back();
  auto r = kith::replication::parseSigned(line);
  BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message() << ": " << line);
  BOOST_TEST(r->context == "example.org");
  BOOST_TEST(r->zone == ".");
  BOOST_TEST(r->subject == "n1");
  BOOST_TEST(kith::replication::objTypeName(r->objtype) == "deleg");
  BOOST_TEST(static_cast<int64_t>(r->seq) >= before);
  auto cert = id::parseCertificatePem(readFile(node + "/node.crt"));
  auto root = id::parseCertificatePem(readFile(ca + "/root.crt"));
  BOOST_REQUIRE(cert.isOk() && root.isOk());
  BOOST_TEST(r->validFrom == cert->notBefore);
  BOOST_TEST(r->validUntil == cert->notAfter);
  auto key = kith::replication::delegKey(*r);
  BOOST_REQUIRE(key.isOk());
  BOOST_TEST((*key == cert->publicKey));
  BOOST_TEST(id::verifyEd25519(root->publicKey, kith::replication::signingInput(*r), r->signature));
  // A reissue outranks the record it replaces (seq is the issue time).
  std::string node2 = dir.path() + "/n1b";
  BOOST_REQUIRE(kithctl("ca issue-node n1 --ca " + ca + " --out " + node2) == 0);
  std::string line2 = readFile(node2 + "/deleg");
  line2.pop_back();
  auto r2 = kith::replication::parseSigned(line2);
  BOOST_REQUIRE(r2.isOk());
  BOOST_TEST(r2->seq >= r->seq);
}

BOOST_AUTO_TEST_SUITE_END()
