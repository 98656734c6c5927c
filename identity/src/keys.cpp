#include "kith/identity/keys.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "der.h"
#include "files.h"
#include "pem.h"

namespace kith::identity {
namespace {

// id-Ed25519, 1.3.101.112 (RFC 8410).
constexpr uint8_t kEd25519Oid[] = {0x2b, 0x65, 0x70};
constexpr std::string_view kPkcs8Label = "PRIVATE KEY";

std::span<const uint8_t> asBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

void ensureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // sodium_init fails only when the system has no usable randomness source;
    // nothing in kith can run safely then.
    if (sodium_init() < 0) std::abort();
  });
}

SigningKey SigningKey::generate() {
  ensureSodium();
  SigningKey k;
  crypto_sign_ed25519_keypair(k.public_.data(), k.secret_.data());
  return k;
}

Result<SigningKey> SigningKey::fromSeed(std::span<const uint8_t> seed) {
  if (seed.size() != kEd25519SeedSize) {
    return Status::badRequest("Ed25519 seed must be 32 bytes, got " +
                              std::to_string(seed.size()));
  }
  ensureSodium();
  SigningKey k;
  crypto_sign_ed25519_seed_keypair(k.public_.data(), k.secret_.data(), seed.data());
  return k;
}

SigningKey SigningKey::clone() const {
  SigningKey k;
  k.secret_ = secret_.copy();
  k.public_ = public_;
  return k;
}

std::span<const uint8_t, kEd25519SeedSize> SigningKey::seed() const {
  // libsodium's secret key is seed || public key.
  return secret_.span().first<kEd25519SeedSize>();
}

Signature SigningKey::sign(std::span<const uint8_t> message) const {
  Signature sig{};
  crypto_sign_ed25519_detached(sig.data(), nullptr, message.data(), message.size(),
                               secret_.data());
  return sig;
}

Signature SigningKey::sign(std::string_view message) const { return sign(asBytes(message)); }

X25519SecretKey SigningKey::x25519SecretKey() const {
  X25519SecretKey out;
  // Cannot fail for a key libsodium made: it only hashes and clamps the seed.
  crypto_sign_ed25519_sk_to_curve25519(out.data(), secret_.data());
  return out;
}

X25519PublicKey SigningKey::x25519PublicKey() const {
  X25519PublicKey out{};
  // Our own public key is a valid point by construction.
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), public_.data()) != 0) std::abort();
  return out;
}

bool verifyEd25519(const PublicKey& publicKey, std::span<const uint8_t> message,
                   const Signature& signature) {
  ensureSodium();
  return crypto_sign_ed25519_verify_detached(signature.data(), message.data(), message.size(),
                                             publicKey.data()) == 0;
}

bool verifyEd25519(const PublicKey& publicKey, std::string_view message,
                   const Signature& signature) {
  return verifyEd25519(publicKey, asBytes(message), signature);
}

Result<X25519PublicKey> x25519FromEd25519(const PublicKey& publicKey) {
  ensureSodium();
  X25519PublicKey out{};
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), publicKey.data()) != 0) {
    return Status::crypto("Ed25519 public key is not a valid curve point");
  }
  return out;
}

// PKCS#8 (RFC 5208 / RFC 8410):
//   SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
std::string SigningKey::toPkcs8Pem() const {
  Bytes inner;
  der::appendTlv(inner, der::kOctetString, seed());
  Bytes alg;
  der::appendTlv(alg, der::kOid, kEd25519Oid);
  Bytes body;
  const uint8_t version[] = {0};
  der::appendTlv(body, der::kInteger, version);
  der::appendTlv(body, der::kSequence, alg);
  der::appendTlv(body, der::kOctetString, inner);
  Bytes der = der::tlv(der::kSequence, body);
  std::string out = pem::encode(kPkcs8Label, der);
  sodium_memzero(inner.data(), inner.size());
  sodium_memzero(body.data(), body.size());
  sodium_memzero(der.data(), der.size());
  return out;
}

Result<SigningKey> SigningKey::fromPkcs8Pem(std::string_view text) {
  auto blocks = pem::decodeAll(text, kPkcs8Label);
  if (!blocks || blocks->size() != 1) {
    for (auto& b : blocks.value_or(std::vector<Bytes>{})) sodium_memzero(b.data(), b.size());
    return Status::badRequest("expected exactly one PEM \"PRIVATE KEY\" block");
  }
  Bytes& der = blocks->front();
  auto bad = [&der](std::string why) -> Status {
    sodium_memzero(der.data(), der.size());
    return Status::badRequest("not an Ed25519 PKCS#8 private key: " + why);
  };

  der::Reader top(der);
  std::span<const uint8_t> body, version, alg, oid, octets, seed;
  if (!top.read(der::kSequence, &body) || !top.atEnd()) return bad("bad outer SEQUENCE");
  der::Reader r(body);
  if (!r.read(der::kInteger, &version) || version.size() != 1 || version[0] > 1) {
    return bad("unsupported version");
  }
  if (!r.read(der::kSequence, &alg)) return bad("missing algorithm");
  der::Reader ar(alg);
  if (!ar.read(der::kOid, &oid) || !ar.atEnd() ||
      !std::equal(oid.begin(), oid.end(), std::begin(kEd25519Oid), std::end(kEd25519Oid))) {
    return bad("algorithm is not Ed25519 (1.3.101.112)");
  }
  if (!r.read(der::kOctetString, &octets)) return bad("missing privateKey");
  der::Reader sr(octets);
  if (!sr.read(der::kOctetString, &seed) || !sr.atEnd() || seed.size() != kEd25519SeedSize) {
    return bad("privateKey is not a 32-byte seed");
  }
  auto key = fromSeed(seed);
  if (!key) return bad(key.status().message());
  // Optional attributes [0] and (v2) public key [1].
  while (!r.atEnd()) {
    uint8_t tag = 0;
    std::span<const uint8_t> content;
    if (!r.readAny(&tag, &content)) return bad("trailing garbage");
    if (tag == 0x81) {
      // [1] IMPLICIT BIT STRING: first byte counts unused bits (0).
      if (content.size() != 1 + kEd25519PublicKeySize || content[0] != 0 ||
          !std::equal(content.begin() + 1, content.end(), key->publicKey().begin())) {
        return bad("embedded public key does not match the private key");
      }
    } else if (tag != 0xa0) {
      return bad("unexpected element");
    }
  }
  sodium_memzero(der.data(), der.size());
  return key;
}

Status SigningKey::saveKeyFile(const std::string& path, Write mode) const {
  std::string pem = toPkcs8Pem();
  Status st = files::writeAtomic(path, pem, 0600, mode == Write::kReplace);
  sodium_memzero(pem.data(), pem.size());
  return st;
}

Result<SigningKey> SigningKey::loadKeyFile(const std::string& path) {
  auto text = files::readSecret(path);
  if (!text) return text.status();
  auto key = fromPkcs8Pem(*text);
  sodium_memzero(text->data(), text->size());
  if (!key) return Status(key.status().code(), path + ": " + key.status().message());
  return key;
}

}  // namespace kith::identity
