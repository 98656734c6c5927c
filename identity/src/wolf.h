// RAII owners for the wolfSSL objects identity/ uses — private to identity/.
//
// Every source that includes wolfSSL includes this header (or <wolfssl/options.h>
// first itself): options.h must precede every other wolfSSL header or the struct
// layouts disagree with the library. Thread rules: each object is used by one
// thread at a time; ensureWolfSsl() is safe from any thread.
#pragma once

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
// clang-format on

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::identity::wolf {

// wolfSSL_Init once per process.
void ensureWolfSsl();

// "<what>: <wolfSSL's description> (<code>)".
Status error(std::string_view what, int rc);

using CertPtr = std::unique_ptr<Cert, decltype(&wc_CertFree)>;
using CertManagerPtr = std::unique_ptr<WOLFSSL_CERT_MANAGER, decltype(&wolfSSL_CertManagerFree)>;

Result<CertPtr> newCert();
Result<CertManagerPtr> newCertManager();

class Rng {
 public:
  static Result<std::unique_ptr<Rng>> create();
  ~Rng();
  Rng(const Rng&) = delete;
  Rng& operator=(const Rng&) = delete;
  WC_RNG* get() { return &rng_; }

 private:
  Rng() = default;
  WC_RNG rng_{};
};

// An ed25519_key holding either a full key pair or only a public key.
class Ed25519Key {
 public:
  static Result<std::unique_ptr<Ed25519Key>> fromSigningKey(const SigningKey& key);
  static Result<std::unique_ptr<Ed25519Key>> fromPublicKey(const PublicKey& key);
  ~Ed25519Key();
  Ed25519Key(const Ed25519Key&) = delete;
  Ed25519Key& operator=(const Ed25519Key&) = delete;
  ed25519_key* get() { return &key_; }

 private:
  Ed25519Key() = default;
  ed25519_key key_{};
};

// A DecodedCert over a DER buffer that must outlive it.
class Decoded {
 public:
  // Parses without verifying any signature (type: CERT_TYPE).
  static Result<std::unique_ptr<Decoded>> parse(std::span<const uint8_t> der);
  ~Decoded();
  Decoded(const Decoded&) = delete;
  Decoded& operator=(const Decoded&) = delete;
  DecodedCert* get() { return &cert_; }

 private:
  Decoded() = default;
  DecodedCert cert_{};
};

}  // namespace kith::identity::wolf
