#include <boost/test/unit_test.hpp>

#include "kith/common/clock.h"
#include "kith/identity/ca.h"
#include "kith/identity/cert.h"
#include "kith/identity/csr.h"
#include "test_util.h"

namespace id = kith::identity;
using id::CertificateAuthority;
using id::SigningKey;
using id::testing::run;
using id::testing::TempDir;
using id::testing::writeText;

namespace {

constexpr const char* kTd = "kith.test";

CertificateAuthority makeRoot(const char* td = kTd, id::IssueOptions opts = {}) {
  auto ca = CertificateAuthority::createRoot(SigningKey::generate(), td, opts);
  BOOST_REQUIRE_MESSAGE(ca.isOk(), ca.status().toString());
  return std::move(ca).value();
}

std::string issueNode(const CertificateAuthority& ca, const SigningKey& key, const char* machine,
                      id::IssueOptions opts = {}) {
  auto pem = ca.issueNodeCertificate(key.publicKey(), machine, opts);
  BOOST_REQUIRE_MESSAGE(pem.isOk(), pem.status().toString());
  return *pem;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// Flips one bit of the certificate's DER at `offset` from the end.
std::string tamper(const std::string& pem, size_t fromEnd) {
  auto der = id::certificateFromPem(pem);
  BOOST_REQUIRE(der.isOk());
  (*der)[der->size() - fromEnd] ^= 0x01;
  return id::certificateToPem(*der);
}

// Replaces the first occurrence of `from` with `to` (same length) inside the DER.
std::string tamperText(const std::string& pem, const std::string& from, const std::string& to) {
  auto der = id::certificateFromPem(pem);
  BOOST_REQUIRE(der.isOk());
  std::string bytes(der->begin(), der->end());
  size_t at = bytes.find(from);
  BOOST_REQUIRE(at != std::string::npos);
  BOOST_REQUIRE(from.size() == to.size());
  std::copy(to.begin(), to.end(), der->begin() + static_cast<long>(at));
  return id::certificateToPem(*der);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identity_x509)

BOOST_AUTO_TEST_CASE(root_is_a_self_signed_ca_naming_its_trust_domain) {
  kith::FakeClock clock(1'750'000'000'000'000);
  CertificateAuthority ca = makeRoot(kTd, {0, &clock});
  const auto& info = ca.info();
  BOOST_TEST(info.isCa);
  BOOST_TEST(info.subjectCommonName == "kith root kith.test");
  BOOST_TEST(info.uriSans == std::vector<std::string>{"spiffe://kith.test"});
  BOOST_TEST(info.hasEd25519Key);
  BOOST_TEST((info.publicKey == ca.key().publicKey()));
  BOOST_TEST(info.notBefore == 1'750'000'000 - id::kBackdateSeconds);
  BOOST_TEST(info.notAfter == 1'750'000'000 + 3650 * 86400);
  BOOST_TEST(info.serialHex.size() == 32u);
  BOOST_TEST(ca.trustDomain() == kTd);
  BOOST_TEST(ca.machine() == "");

  TempDir dir;
  writeText(dir.file("root.crt"), ca.certificatePem());
  auto text = run("openssl x509 -noout -text -in '" + dir.file("root.crt") + "'");
  BOOST_REQUIRE_MESSAGE(text.exitCode == 0, text.output);
  BOOST_TEST(contains(text.output, "Signature Algorithm: ED25519"));
  BOOST_TEST(contains(text.output, "CA:TRUE"));
  BOOST_TEST(contains(text.output, "Certificate Sign, CRL Sign"));
  BOOST_TEST(contains(text.output, "URI:spiffe://kith.test"));
  BOOST_TEST(contains(text.output, "O = kith, CN = kith root kith.test"));
  // Self-signed: openssl accepts it as its own anchor.
  auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' '" + dir.file("root.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
}

BOOST_AUTO_TEST_CASE(bad_trust_domain_is_refused) {
  auto ca = CertificateAuthority::createRoot(SigningKey::generate(), "Not Valid");
  BOOST_TEST(!ca.isOk());
}

BOOST_AUTO_TEST_CASE(node_certificate_verifies_with_openssl_and_names_the_machine) {
  CertificateAuthority ca = makeRoot();
  SigningKey nodeKey = SigningKey::generate();
  kith::FakeClock clock;
  std::string nodePem = issueNode(ca, nodeKey, "node1");

  auto info = id::parseCertificatePem(nodePem);
  BOOST_REQUIRE(info.isOk());
  BOOST_TEST(!info->isCa);
  BOOST_TEST(info->subjectCommonName == "node1");
  BOOST_TEST(info->uriSans == std::vector<std::string>{"spiffe://kith.test/node/node1"});
  BOOST_TEST(info->dnsSans == std::vector<std::string>{"node1"});
  BOOST_TEST((info->publicKey == nodeKey.publicKey()));
  BOOST_TEST(info->notAfter - info->notBefore == 365 * 86400 + id::kBackdateSeconds);
  BOOST_TEST(id::verifyCertificate(nodePem, ca.certificatePem()).isOk());

  TempDir dir;
  writeText(dir.file("root.crt"), ca.certificatePem());
  writeText(dir.file("node.crt"), nodePem);
  auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' '" + dir.file("node.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
  BOOST_TEST(contains(v.output, "node.crt: OK"));
  // The purpose checks of a TLS server and client pass too.
  for (const char* purpose : {"sslserver", "sslclient"}) {
    auto p = run(std::string("openssl verify -purpose ") + purpose + " -CAfile '" +
                 dir.file("root.crt") + "' '" + dir.file("node.crt") + "'");
    BOOST_TEST(p.exitCode == 0, purpose << ": " << p.output);
  }
  auto text = run("openssl x509 -noout -text -in '" + dir.file("node.crt") + "'");
  BOOST_REQUIRE(text.exitCode == 0);
  BOOST_TEST(contains(text.output, "URI:spiffe://kith.test/node/node1"));
  BOOST_TEST(contains(text.output, "DNS:node1"));
  BOOST_TEST(contains(text.output, "CA:FALSE"));
  BOOST_TEST(contains(text.output, "Digital Signature"));
  BOOST_TEST(contains(text.output, "TLS Web Server Authentication, TLS Web Client Authentication"));
  BOOST_TEST(contains(text.output, "Issuer: O = kith, CN = kith root kith.test"));
  BOOST_TEST(contains(text.output, "X509v3 Authority Key Identifier"));
}

BOOST_AUTO_TEST_CASE(node_certificates_get_distinct_random_serials) {
  CertificateAuthority ca = makeRoot();
  SigningKey k = SigningKey::generate();
  auto a = id::parseCertificatePem(issueNode(ca, k, "n1"));
  auto b = id::parseCertificatePem(issueNode(ca, k, "n1"));
  BOOST_REQUIRE(a.isOk() && b.isOk());
  BOOST_TEST(a->serialHex.size() == 32u);
  BOOST_TEST(a->serialHex != b->serialHex);
}

BOOST_AUTO_TEST_CASE(invalid_machine_name_is_refused) {
  CertificateAuthority ca = makeRoot();
  SigningKey k = SigningKey::generate();
  BOOST_TEST(!ca.issueNodeCertificate(k.publicKey(), "bad.name").isOk());
  BOOST_TEST(!ca.issueNodeCertificate(k.publicKey(), "").isOk());
  BOOST_TEST(!ca.issueNodeCertificate(k.publicKey(), std::string(64, 'x')).isOk());
  BOOST_TEST(ca.issueNodeCertificate(k.publicKey(), std::string(63, 'x')).isOk());
}

BOOST_AUTO_TEST_CASE(node_certificate_from_another_ca_fails_verification) {
  CertificateAuthority ours = makeRoot();
  CertificateAuthority theirs = makeRoot();  // same trust domain name, other key
  SigningKey k = SigningKey::generate();
  std::string foreign = issueNode(theirs, k, "node1");
  kith::Status st = id::verifyCertificate(foreign, ours.certificatePem());
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "does not verify"), st.message());

  TempDir dir;
  writeText(dir.file("root.crt"), ours.certificatePem());
  writeText(dir.file("node.crt"), foreign);
  auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' '" + dir.file("node.crt") + "'");
  BOOST_TEST(v.exitCode != 0, v.output);
}

BOOST_AUTO_TEST_CASE(tampered_certificate_fails_verification) {
  CertificateAuthority ca = makeRoot();
  SigningKey k = SigningKey::generate();
  std::string good = issueNode(ca, k, "node1");
  // A changed name inside the signed body; and a damaged signature.
  std::string renamed = tamperText(good, "spiffe://kith.test/node/node1", "spiffe://kith.test/node/node2");
  std::string badSig = tamper(good, 5);
  auto renamedInfo = id::parseCertificatePem(renamed);
  BOOST_REQUIRE(renamedInfo.isOk());
  BOOST_TEST(renamedInfo->uriSans.front() == "spiffe://kith.test/node/node2");
  TempDir dir;
  writeText(dir.file("root.crt"), ca.certificatePem());
  for (const auto& bad : {renamed, badSig}) {
    kith::Status st = id::verifyCertificate(bad, ca.certificatePem());
    BOOST_TEST(!st.isOk());
    writeText(dir.file("bad.crt"), bad);
    auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' '" + dir.file("bad.crt") + "'");
    BOOST_TEST(v.exitCode != 0, v.output);
  }
  BOOST_TEST(id::verifyCertificate(good, ca.certificatePem()).isOk());
}

BOOST_AUTO_TEST_CASE(expired_and_not_yet_valid_certificates_fail_verification) {
  CertificateAuthority ca = makeRoot();
  SigningKey k = SigningKey::generate();
  kith::FakeClock past(kith::systemClock().nowMicros() - 2 * 86400 * 1'000'000LL);
  kith::FakeClock future(kith::systemClock().nowMicros() + 2 * 86400 * 1'000'000LL);
  std::string expired = issueNode(ca, k, "n1", {3600, &past});
  std::string early = issueNode(ca, k, "n1", {3600, &future});
  kith::Status st = id::verifyCertificate(expired, ca.certificatePem());
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "expired"), st.message());
  st = id::verifyCertificate(early, ca.certificatePem());
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "not yet valid"), st.message());
}

BOOST_AUTO_TEST_CASE(csr_path_certifies_the_requesters_key_under_the_cas_name) {
  CertificateAuthority ca = makeRoot();
  SigningKey nodeKey = SigningKey::generate();
  auto csr = id::makeNodeCsr(nodeKey, "claimed");
  BOOST_REQUIRE_MESSAGE(csr.isOk(), csr.status().toString());
  BOOST_TEST(contains(*csr, "-----BEGIN CERTIFICATE REQUEST-----"));
  auto key = id::csrPublicKey(*csr);
  BOOST_REQUIRE_MESSAGE(key.isOk(), key.status().toString());
  BOOST_TEST((*key == nodeKey.publicKey()));

  auto cert = ca.signNodeCsr(*csr, "assigned");
  BOOST_REQUIRE_MESSAGE(cert.isOk(), cert.status().toString());
  auto info = id::parseCertificatePem(*cert);
  BOOST_REQUIRE(info.isOk());
  BOOST_TEST(info->uriSans == std::vector<std::string>{"spiffe://kith.test/node/assigned"});
  BOOST_TEST(info->dnsSans == std::vector<std::string>{"assigned"});
  BOOST_TEST(info->subjectCommonName == "assigned");
  BOOST_TEST((info->publicKey == nodeKey.publicKey()));

  TempDir dir;
  writeText(dir.file("req.csr"), *csr);
  writeText(dir.file("root.crt"), ca.certificatePem());
  writeText(dir.file("node.crt"), *cert);
  auto req = run("openssl req -verify -noout -in '" + dir.file("req.csr") + "'");
  BOOST_TEST(req.exitCode == 0, req.output);
  auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' '" + dir.file("node.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
  auto text = run("openssl x509 -noout -text -in '" + dir.file("node.crt") + "'");
  BOOST_TEST(!contains(text.output, "claimed"));
}

BOOST_AUTO_TEST_CASE(csr_with_a_bad_signature_is_refused) {
  CertificateAuthority ca = makeRoot();
  auto csr = id::makeNodeCsr(SigningKey::generate(), "n1");
  BOOST_REQUIRE(csr.isOk());
  // Decode, flip the last signature byte, re-encode.
  TempDir dir;
  writeText(dir.file("req.csr"), *csr);
  auto der = run("openssl req -in '" + dir.file("req.csr") + "' -outform DER -out '" +
                 dir.file("req.der") + "'");
  BOOST_REQUIRE(der.exitCode == 0);
  std::string bytes = id::testing::readText(dir.file("req.der"));
  bytes.back() = static_cast<char>(bytes.back() ^ 1);
  writeText(dir.file("bad.der"), bytes);
  auto pem = run("openssl req -inform DER -in '" + dir.file("bad.der") + "' -outform PEM");
  BOOST_REQUIRE(contains(pem.output, "BEGIN CERTIFICATE REQUEST"));
  auto key = id::csrPublicKey(pem.output);
  BOOST_TEST(!key.isOk());
  BOOST_TEST(contains(key.status().message(), "signature"));
  BOOST_TEST(!ca.signNodeCsr(pem.output, "n1").isOk());
  BOOST_TEST(!id::csrPublicKey("not a csr").isOk());
}

BOOST_AUTO_TEST_CASE(csr_made_by_openssl_is_accepted) {
  CertificateAuthority ca = makeRoot();
  TempDir dir;
  auto gen = run("umask 077 && openssl genpkey -algorithm ed25519 -out '" + dir.file("k.key") +
                 "' && openssl req -new -key '" + dir.file("k.key") + "' -subj /CN=whatever -out '" +
                 dir.file("req.csr") + "'");
  BOOST_REQUIRE_MESSAGE(gen.exitCode == 0, gen.output);
  auto nodeKey = SigningKey::loadKeyFile(dir.file("k.key"));
  BOOST_REQUIRE(nodeKey.isOk());
  auto cert = ca.signNodeCsr(id::testing::readText(dir.file("req.csr")), "n7");
  BOOST_REQUIRE_MESSAGE(cert.isOk(), cert.status().toString());
  auto info = id::parseCertificatePem(*cert);
  BOOST_TEST((info->publicKey == nodeKey->publicKey()));
}

BOOST_AUTO_TEST_CASE(svid_from_root_verifies_with_openssl_against_the_bundle) {
  CertificateAuthority ca = makeRoot();
  SigningKey wl = SigningKey::generate();
  const std::string sid = "spiffe://kith.test/dev/web/nginx1/default/node1";
  auto svid = ca.issueSvid(wl.publicKey(), sid, {600, nullptr});
  BOOST_REQUIRE_MESSAGE(svid.isOk(), svid.status().toString());
  auto info = id::parseCertificatePem(*svid);
  BOOST_REQUIRE(info.isOk());
  BOOST_TEST(info->uriSans == std::vector<std::string>{sid});
  BOOST_TEST(info->dnsSans.empty());
  BOOST_TEST(!info->isCa);
  BOOST_TEST(info->subjectCommonName == "dev.web.nginx1.default.node1");
  BOOST_TEST(info->notAfter - info->notBefore == 600 + id::kBackdateSeconds);
  BOOST_TEST(id::verifyCertificate(*svid, ca.certificatePem()).isOk());

  TempDir dir;
  writeText(dir.file("bundle.crt"), ca.certificatePem());
  writeText(dir.file("svid.crt"), *svid);
  auto v = run("openssl verify -CAfile '" + dir.file("bundle.crt") + "' '" + dir.file("svid.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
  auto text = run("openssl x509 -noout -text -in '" + dir.file("svid.crt") + "'");
  BOOST_TEST(contains(text.output, "URI:" + sid));
  BOOST_TEST(contains(text.output, "CA:FALSE"));
}

BOOST_AUTO_TEST_CASE(svid_outside_the_trust_domain_is_refused) {
  CertificateAuthority ca = makeRoot();
  SigningKey wl = SigningKey::generate();
  BOOST_TEST(!ca.issueSvid(wl.publicKey(), "spiffe://other.test/dev/a/b/c/n1").isOk());
  BOOST_TEST(!ca.issueSvid(wl.publicKey(), "spiffe://kith.test").isOk());
  BOOST_TEST(!ca.issueSvid(wl.publicKey(), "not-a-spiffe-id").isOk());
}

BOOST_AUTO_TEST_CASE(node_ca_issues_svids_for_its_own_workloads_that_chain_to_the_root) {
  CertificateAuthority root = makeRoot();
  SigningKey nodeKey = SigningKey::generate();
  auto nodeCaPem = root.issueNodeCaCertificate(nodeKey.publicKey(), "node1");
  BOOST_REQUIRE_MESSAGE(nodeCaPem.isOk(), nodeCaPem.status().toString());
  auto nodeCa = CertificateAuthority::load(nodeKey.clone(), *nodeCaPem);
  BOOST_REQUIRE_MESSAGE(nodeCa.isOk(), nodeCa.status().toString());
  BOOST_TEST(nodeCa->machine() == "node1");
  BOOST_TEST(nodeCa->trustDomain() == kTd);

  SigningKey wl = SigningKey::generate();
  auto svid = nodeCa->issueSvid(wl.publicKey(), "spiffe://kith.test/dev/web/a/default/node1");
  BOOST_REQUIRE_MESSAGE(svid.isOk(), svid.status().toString());
  BOOST_TEST(id::verifyCertificate(*svid, root.certificatePem(), *nodeCaPem).isOk());
  // Without the intermediate there is no path to the root.
  BOOST_TEST(!id::verifyCertificate(*svid, root.certificatePem()).isOk());
  // A node may not speak for another machine's workloads, nor certify nodes.
  BOOST_TEST(!nodeCa->issueSvid(wl.publicKey(), "spiffe://kith.test/dev/web/a/default/node2").isOk());
  BOOST_TEST(!nodeCa->issueNodeCertificate(wl.publicKey(), "node9").isOk());

  TempDir dir;
  writeText(dir.file("root.crt"), root.certificatePem());
  writeText(dir.file("node-ca.crt"), *nodeCaPem);
  writeText(dir.file("svid.crt"), *svid);
  auto v = run("openssl verify -CAfile '" + dir.file("root.crt") + "' -untrusted '" +
               dir.file("node-ca.crt") + "' '" + dir.file("svid.crt") + "'");
  BOOST_TEST(v.exitCode == 0, v.output);
  auto text = run("openssl x509 -noout -text -in '" + dir.file("node-ca.crt") + "'");
  BOOST_TEST(contains(text.output, "CA:TRUE, pathlen:0"), text.output);
}

BOOST_AUTO_TEST_CASE(intermediate_from_another_root_is_rejected) {
  CertificateAuthority root = makeRoot();
  CertificateAuthority other = makeRoot();
  SigningKey nodeKey = SigningKey::generate();
  auto nodeCaPem = other.issueNodeCaCertificate(nodeKey.publicKey(), "node1");
  BOOST_REQUIRE(nodeCaPem.isOk());
  auto nodeCa = CertificateAuthority::load(nodeKey.clone(), *nodeCaPem);
  BOOST_REQUIRE(nodeCa.isOk());
  auto svid = nodeCa->issueSvid(SigningKey::generate().publicKey(),
                                "spiffe://kith.test/dev/web/a/default/node1");
  BOOST_REQUIRE(svid.isOk());
  kith::Status st = id::verifyCertificate(*svid, root.certificatePem(), *nodeCaPem);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(contains(st.message(), "intermediate"), st.message());
}

BOOST_AUTO_TEST_CASE(ca_load_checks_key_and_ca_flag) {
  CertificateAuthority root = makeRoot();
  // Wrong key.
  BOOST_TEST(!CertificateAuthority::load(SigningKey::generate(), root.certificatePem()).isOk());
  // Right key.
  BOOST_TEST(CertificateAuthority::load(root.key().clone(), root.certificatePem()).isOk());
  // A leaf is not a CA.
  SigningKey nodeKey = SigningKey::generate();
  std::string nodePem = issueNode(root, nodeKey, "n1");
  auto asCa = CertificateAuthority::load(nodeKey.clone(), nodePem);
  BOOST_TEST(!asCa.isOk());
  BOOST_TEST(contains(asCa.status().message(), "not a CA"));
}

BOOST_AUTO_TEST_CASE(validity_past_2049_is_encoded_as_generalized_time) {
  kith::FakeClock clock;  // 2023-11-14
  CertificateAuthority ca = makeRoot(kTd, {40LL * 365 * 86400, &clock});
  BOOST_TEST(ca.info().notAfter == 1'700'000'000 + 40LL * 365 * 86400);
  TempDir dir;
  writeText(dir.file("root.crt"), ca.certificatePem());
  auto text = run("openssl x509 -noout -enddate -in '" + dir.file("root.crt") + "'");
  BOOST_TEST(contains(text.output, "2063"), text.output);
}

BOOST_AUTO_TEST_CASE(garbage_certificates_are_errors_not_crashes) {
  BOOST_TEST(!id::parseCertificatePem("").isOk());
  BOOST_TEST(!id::parseCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").isOk());
  BOOST_TEST(!id::parseCertificatePem("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").isOk());
  CertificateAuthority ca = makeRoot();
  auto der = id::certificateFromPem(ca.certificatePem());
  BOOST_REQUIRE(der.isOk());
  for (size_t cut : {1u, 10u, 100u}) {
    kith::Bytes truncated(der->begin(), der->end() - static_cast<long>(cut));
    BOOST_TEST(!id::parseCertificateDer(truncated).isOk());
  }
  BOOST_TEST(!id::verifyCertificate("junk", ca.certificatePem()).isOk());
  BOOST_TEST(!id::verifyCertificate(ca.certificatePem(), "junk").isOk());
}

BOOST_AUTO_TEST_SUITE_END()
