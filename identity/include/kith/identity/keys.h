// SigningKey: an Ed25519 key pair (libsodium) — the root, node and host keys of
// kith. Also the Ed25519 → X25519 conversions used for ZeroMQ CURVE, and the key
// file format.
//
// Key files are PKCS#8 (RFC 8410) PEM, "-----BEGIN PRIVATE KEY-----", which
// OpenSSL and wolfSSL both read, so a node key file is also the TLS key file.
// saveKeyFile writes mode 0600 atomically (temp file, fsync, rename, fsync dir);
// loadKeyFile refuses a file whose mode grants any permission to group or others.
//
// Ownership: a SigningKey solely owns its secret; it is move-only and wipes the
// secret (sodium_memzero) on destruction and when moved from. Thread rules: const
// methods may be called from several threads at once; nothing else is shared.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/secret_bytes.h"

namespace kith::identity {

inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;
inline constexpr size_t kX25519KeySize = 32;

using PublicKey = std::array<uint8_t, kEd25519PublicKeySize>;
using Signature = std::array<uint8_t, kEd25519SignatureSize>;
using X25519PublicKey = std::array<uint8_t, kX25519KeySize>;
using X25519SecretKey = SecretBytes<kX25519KeySize>;
using Ed25519Seed = SecretBytes<kEd25519SeedSize>;

class SigningKey {
 public:
  // A fresh key from libsodium's CSPRNG.
  static SigningKey generate();
  // The deterministic key for a 32-byte seed (RFC 8032 "private key").
  static Result<SigningKey> fromSeed(std::span<const uint8_t> seed);

  // PKCS#8 PEM ("PRIVATE KEY") carrying the seed, as OpenSSL writes Ed25519 keys.
  std::string toPkcs8Pem() const;
  // Accepts PKCS#8 v1 and v2 (RFC 8410/5958) Ed25519 keys; a v2 key's embedded
  // public key must match the seed.
  static Result<SigningKey> fromPkcs8Pem(std::string_view pem);

  // Writes toPkcs8Pem() to `path` with mode 0600, atomically. With
  // kCreateOnly an existing file is an error and stays as it was.
  enum class Write { kReplace, kCreateOnly };
  Status saveKeyFile(const std::string& path, Write mode = Write::kReplace) const;
  // Reads a key file written by saveKeyFile (or `openssl genpkey -algorithm
  // ed25519`). Refuses a file readable or writable by group or others, naming the
  // file and its mode.
  static Result<SigningKey> loadKeyFile(const std::string& path);

  SigningKey(SigningKey&&) noexcept = default;
  SigningKey& operator=(SigningKey&&) noexcept = default;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() = default;  // members wipe themselves

  // An independent copy (a second owner of the same secret).
  SigningKey clone() const;

  const PublicKey& publicKey() const { return public_; }
  // The 32-byte seed: the secret from which everything else derives.
  std::span<const uint8_t, kEd25519SeedSize> seed() const;

  Signature sign(std::span<const uint8_t> message) const;
  Signature sign(std::string_view message) const;

  // This key as an X25519 (Curve25519) key pair, for ZeroMQ CURVE.
  X25519SecretKey x25519SecretKey() const;
  X25519PublicKey x25519PublicKey() const;

 private:
  SigningKey() = default;

  // libsodium's 64-byte secret key: seed || public key.
  SecretBytes<64> secret_;
  PublicKey public_{};
};

// True iff `signature` is a valid Ed25519 signature of `message` by `publicKey`.
bool verifyEd25519(const PublicKey& publicKey, std::span<const uint8_t> message,
                   const Signature& signature);
bool verifyEd25519(const PublicKey& publicKey, std::string_view message,
                   const Signature& signature);

// Converts an Ed25519 public key to its X25519 form. Fails for keys that are not
// valid curve points (libsodium rejects small-order and non-canonical points).
Result<X25519PublicKey> x25519FromEd25519(const PublicKey& publicKey);

// Initialises libsodium once; safe to call from any thread, any number of times.
// Every function in this library calls it; callers need not.
void ensureSodium();

}  // namespace kith::identity
