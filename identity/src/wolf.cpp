#include "wolf.h"

#include <mutex>

namespace kith::identity::wolf {

void ensureWolfSsl() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

Status error(std::string_view what, int rc) {
  return Status::crypto(std::string(what) + ": " + wc_GetErrorString(rc) + " (" +
                        std::to_string(rc) + ")");
}

Result<CertPtr> newCert() {
  ensureWolfSsl();
  CertPtr cert(wc_CertNew(nullptr), &wc_CertFree);
  if (!cert) return Status::crypto("wc_CertNew: out of memory");
  return cert;
}

Result<CertManagerPtr> newCertManager() {
  ensureWolfSsl();
  CertManagerPtr cm(wolfSSL_CertManagerNew(), &wolfSSL_CertManagerFree);
  if (!cm) return Status::crypto("wolfSSL_CertManagerNew: out of memory");
  return cm;
}

Result<std::unique_ptr<Rng>> Rng::create() {
  ensureWolfSsl();
  std::unique_ptr<Rng> rng(new Rng());
  int rc = wc_InitRng(&rng->rng_);
  if (rc != 0) {
    // wc_FreeRng on a failed init is harmless, but nothing was allocated.
    return error("wc_InitRng", rc);
  }
  return rng;
}

Rng::~Rng() { wc_FreeRng(&rng_); }

Result<std::unique_ptr<Ed25519Key>> Ed25519Key::fromSigningKey(const SigningKey& key) {
  ensureWolfSsl();
  std::unique_ptr<Ed25519Key> k(new Ed25519Key());
  int rc = wc_ed25519_init(&k->key_);
  if (rc != 0) return error("wc_ed25519_init", rc);
  rc = wc_ed25519_import_private_key(key.seed().data(), kEd25519SeedSize,
                                     key.publicKey().data(), kEd25519PublicKeySize, &k->key_);
  if (rc != 0) return error("wc_ed25519_import_private_key", rc);
  return k;
}

Result<std::unique_ptr<Ed25519Key>> Ed25519Key::fromPublicKey(const PublicKey& key) {
  ensureWolfSsl();
  std::unique_ptr<Ed25519Key> k(new Ed25519Key());
  int rc = wc_ed25519_init(&k->key_);
  if (rc != 0) return error("wc_ed25519_init", rc);
  rc = wc_ed25519_import_public(key.data(), kEd25519PublicKeySize, &k->key_);
  if (rc != 0) return error("wc_ed25519_import_public", rc);
  return k;
}

// wc_ed25519_free zeroes the key, private half included.
Ed25519Key::~Ed25519Key() { wc_ed25519_free(&key_); }

Result<std::unique_ptr<Decoded>> Decoded::parse(std::span<const uint8_t> der) {
  ensureWolfSsl();
  std::unique_ptr<Decoded> d(new Decoded());
  wc_InitDecodedCert(&d->cert_, der.data(), static_cast<word32>(der.size()), nullptr);
  int rc = wc_ParseCert(&d->cert_, CERT_TYPE, NO_VERIFY, nullptr);
  if (rc != 0) return error("parse certificate", rc);
  return d;
}

Decoded::~Decoded() { wc_FreeDecodedCert(&cert_); }

}  // namespace kith::identity::wolf
