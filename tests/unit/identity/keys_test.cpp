#include "kith/identity/keys.h"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "kith/common/encoding.h"
#include "test_util.h"

using kith::identity::PublicKey;
using kith::identity::Signature;
using kith::identity::SigningKey;
using kith::identity::testing::TempDir;

namespace {

// RFC 8032 section 7.1, TEST 1.
constexpr const char* kSeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kPubHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kSigHex =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

SigningKey rfc8032Key() {
  auto seed = kith::fromHex(kSeedHex);
  BOOST_REQUIRE(seed.has_value());
  auto key = SigningKey::fromSeed(*seed);
  BOOST_REQUIRE(key.isOk());
  return std::move(key).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identity_keys)

BOOST_AUTO_TEST_CASE(seed_gives_rfc8032_public_key_and_signature) {
  SigningKey key = rfc8032Key();
  BOOST_TEST(kith::toHex(key.publicKey().data(), key.publicKey().size()) == kPubHex);
  Signature sig = key.sign(std::string_view(""));
  BOOST_TEST(kith::toHex(sig.data(), sig.size()) == kSigHex);
  BOOST_TEST(kith::identity::verifyEd25519(key.publicKey(), std::string_view(""), sig));
  BOOST_TEST(kith::toHex(key.seed().data(), key.seed().size()) == kSeedHex);
}

BOOST_AUTO_TEST_CASE(verify_rejects_altered_message_signature_or_key) {
  SigningKey key = SigningKey::generate();
  Signature sig = key.sign(std::string_view("hello"));
  BOOST_TEST(kith::identity::verifyEd25519(key.publicKey(), std::string_view("hello"), sig));
  BOOST_TEST(!kith::identity::verifyEd25519(key.publicKey(), std::string_view("hellp"), sig));
  Signature bad = sig;
  bad[10] ^= 1;
  BOOST_TEST(!kith::identity::verifyEd25519(key.publicKey(), std::string_view("hello"), bad));
  SigningKey other = SigningKey::generate();
  BOOST_TEST(!kith::identity::verifyEd25519(other.publicKey(), std::string_view("hello"), sig));
}

BOOST_AUTO_TEST_CASE(seed_of_wrong_length_is_rejected) {
  kith::Bytes shortSeed(31, 1);
  auto key = SigningKey::fromSeed(shortSeed);
  BOOST_TEST(!key.isOk());
  BOOST_TEST((key.status().code() == kith::Code::kBadRequest));
}

BOOST_AUTO_TEST_CASE(generated_keys_differ) {
  SigningKey a = SigningKey::generate();
  SigningKey b = SigningKey::generate();
  BOOST_TEST((a.publicKey() != b.publicKey()));
}

BOOST_AUTO_TEST_CASE(x25519_conversion_gives_a_working_key_agreement) {
  SigningKey a = SigningKey::generate();
  SigningKey b = SigningKey::generate();
  auto aSec = a.x25519SecretKey();
  auto bSec = b.x25519SecretKey();
  auto aPub = kith::identity::x25519FromEd25519(a.publicKey());
  BOOST_REQUIRE(aPub.isOk());
  BOOST_TEST((*aPub == a.x25519PublicKey()));
  // The converted secret's public key equals the converted public key.
  std::array<uint8_t, 32> derived{};
  BOOST_REQUIRE(crypto_scalarmult_base(derived.data(), aSec.data()) == 0);
  BOOST_TEST((derived == a.x25519PublicKey()));
  // Both sides of a Diffie-Hellman agree.
  std::array<uint8_t, 32> ab{}, ba{};
  BOOST_REQUIRE(crypto_scalarmult(ab.data(), aSec.data(), b.x25519PublicKey().data()) == 0);
  BOOST_REQUIRE(crypto_scalarmult(ba.data(), bSec.data(), a.x25519PublicKey().data()) == 0);
  BOOST_TEST((ab == ba));
}

BOOST_AUTO_TEST_CASE(x25519_conversion_rejects_small_order_point) {
  PublicKey identityPoint{};
  identityPoint[0] = 1;  // the neutral element: small order
  BOOST_TEST(!kith::identity::x25519FromEd25519(identityPoint).isOk());
}

BOOST_AUTO_TEST_CASE(pkcs8_pem_round_trips_and_matches_openssl_encoding) {
  SigningKey key = rfc8032Key();
  std::string pem = key.toPkcs8Pem();
  // The RFC 8410 encoding of this seed, as `openssl genpkey` writes it.
  BOOST_TEST(pem ==
             "-----BEGIN PRIVATE KEY-----\n"
             "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
             "-----END PRIVATE KEY-----\n");
  auto back = SigningKey::fromPkcs8Pem(pem);
  BOOST_REQUIRE(back.isOk());
  BOOST_TEST((back->publicKey() == key.publicKey()));
}

BOOST_AUTO_TEST_CASE(pkcs8_with_wrong_algorithm_or_garbage_is_rejected) {
  // An X25519 PKCS#8 key (OID 1.3.101.110) is not a signing key.
  const char* x25519 =
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VuBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
      "-----END PRIVATE KEY-----\n";
  BOOST_TEST(!SigningKey::fromPkcs8Pem(x25519).isOk());
  BOOST_TEST(!SigningKey::fromPkcs8Pem("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n").isOk());
  BOOST_TEST(!SigningKey::fromPkcs8Pem("").isOk());
  BOOST_TEST(!SigningKey::fromPkcs8Pem("-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n").isOk());
}

BOOST_AUTO_TEST_CASE(key_file_is_written_0600_and_loads_back) {
  TempDir dir;
  SigningKey key = SigningKey::generate();
  std::string path = dir.file("node.key");
  BOOST_REQUIRE(key.saveKeyFile(path).isOk());
  BOOST_TEST(kith::identity::testing::fileMode(path) == 0600u);
  auto loaded = SigningKey::loadKeyFile(path);
  BOOST_REQUIRE_MESSAGE(loaded.isOk(), loaded.status().toString());
  BOOST_TEST((loaded->publicKey() == key.publicKey()));
  // No temporary file is left behind.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++entries;
  BOOST_TEST(entries == 1);
}

BOOST_AUTO_TEST_CASE(key_file_overwrite_replaces_content_atomically) {
  TempDir dir;
  std::string path = dir.file("k.key");
  SigningKey a = SigningKey::generate();
  SigningKey b = SigningKey::generate();
  BOOST_REQUIRE(a.saveKeyFile(path).isOk());
  BOOST_REQUIRE(b.saveKeyFile(path).isOk());
  auto loaded = SigningKey::loadKeyFile(path);
  BOOST_REQUIRE(loaded.isOk());
  BOOST_TEST((loaded->publicKey() == b.publicKey()));
}

BOOST_AUTO_TEST_CASE(key_file_with_group_read_is_refused) {
  TempDir dir;
  std::string path = dir.file("node.key");
  BOOST_REQUIRE(SigningKey::generate().saveKeyFile(path).isOk());
  BOOST_REQUIRE(::chmod(path.c_str(), 0640) == 0);
  auto loaded = SigningKey::loadKeyFile(path);
  BOOST_REQUIRE(!loaded.isOk());
  BOOST_TEST(loaded.status().message().find(path) != std::string::npos);
  BOOST_TEST(loaded.status().message().find("0640") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(key_file_readable_by_everyone_is_refused) {
  TempDir dir;
  std::string path = dir.file("node.key");
  BOOST_REQUIRE(SigningKey::generate().saveKeyFile(path).isOk());
  BOOST_REQUIRE(::chmod(path.c_str(), 0644) == 0);
  auto loaded = SigningKey::loadKeyFile(path);
  BOOST_REQUIRE(!loaded.isOk());
  BOOST_TEST(loaded.status().message().find("0644") != std::string::npos);
  // Mode 0400 (owner read only) is fine.
  BOOST_REQUIRE(::chmod(path.c_str(), 0400) == 0);
  BOOST_TEST(SigningKey::loadKeyFile(path).isOk());
}

BOOST_AUTO_TEST_CASE(missing_key_file_is_not_found) {
  TempDir dir;
  auto loaded = SigningKey::loadKeyFile(dir.file("absent.key"));
  BOOST_REQUIRE(!loaded.isOk());
  BOOST_TEST((loaded.status().code() == kith::Code::kNotFound));
}

BOOST_AUTO_TEST_CASE(openssl_reads_our_key_file_and_we_read_openssls) {
  TempDir dir;
  SigningKey key = rfc8032Key();
  std::string ours = dir.file("ours.key");
  BOOST_REQUIRE(key.saveKeyFile(ours).isOk());
  auto pub = kith::identity::testing::run("openssl pkey -in '" + ours + "' -pubout -outform DER | od -An -tx1 | tr -d ' \\n'");
  BOOST_REQUIRE(pub.exitCode == 0);
  // SubjectPublicKeyInfo = 12-byte Ed25519 prefix + the raw public key.
  BOOST_TEST(pub.output == std::string("302a300506032b6570032100") + kPubHex);

  std::string theirs = dir.file("theirs.key");
  auto gen = kith::identity::testing::run("umask 077 && openssl genpkey -algorithm ed25519 -out '" + theirs + "'");
  BOOST_REQUIRE_MESSAGE(gen.exitCode == 0, gen.output);
  auto loaded = SigningKey::loadKeyFile(theirs);
  BOOST_REQUIRE_MESSAGE(loaded.isOk(), loaded.status().toString());
  auto theirPub = kith::identity::testing::run("openssl pkey -in '" + theirs + "' -pubout -outform DER | od -An -tx1 | tr -d ' \\n'");
  BOOST_TEST(theirPub.output == std::string("302a300506032b6570032100") +
                                    kith::toHex(loaded->publicKey().data(), 32));
}

BOOST_AUTO_TEST_CASE(moved_from_key_has_its_secret_wiped) {
  SigningKey a = rfc8032Key();
  SigningKey b = std::move(a);
  auto seed = a.seed();  // NOLINT(bugprone-use-after-move): checking the wipe
  bool allZero = true;
  for (uint8_t c : seed) allZero = allZero && c == 0;
  BOOST_TEST(allZero);
  BOOST_TEST(kith::toHex(b.seed().data(), 32) == kSeedHex);
}

BOOST_AUTO_TEST_SUITE_END()
