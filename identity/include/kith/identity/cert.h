// Certificate reading: PEM/DER conversion, the facts kith reads from an X.509
// certificate (names, validity, CA flag, Ed25519 key), and chain verification
// against a trust bundle (wolfSSL CertManager).
//
// Certificates are untrusted input: every function returns an error for
// malformed or unsupported certificates, never crashes. kith's certificates carry
// Ed25519 keys only; a certificate with another key type parses but has
// hasEd25519Key == false. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/encoding.h"
#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::identity {

struct CertificateInfo {
  std::string subjectCommonName;
  std::vector<std::string> uriSans;  // e.g. spiffe://td/node/n1
  std::vector<std::string> dnsSans;
  int64_t notBefore = 0;  // Unix seconds
  int64_t notAfter = 0;   // Unix seconds
  bool isCa = false;
  bool hasEd25519Key = false;
  PublicKey publicKey{};   // meaningful when hasEd25519Key
  std::string serialHex;  // lowercase hex of the serial number's bytes
};

// The certificates in a PEM text ("CERTIFICATE" blocks), in order; error when
// there are none or one is damaged.
Result<std::vector<Bytes>> certificatesFromPem(std::string_view pem);
// Exactly one certificate.
Result<Bytes> certificateFromPem(std::string_view pem);
std::string certificateToPem(std::span<const uint8_t> der);

Result<CertificateInfo> parseCertificateDer(std::span<const uint8_t> der);
// The first certificate of a PEM text.
Result<CertificateInfo> parseCertificatePem(std::string_view pem);

// Verifies `leafPem` (its first certificate) chains to a certificate in
// `trustBundlePem`, through `intermediatesPem` (may be empty): signatures, CA
// flags and validity dates at the current system time. The Status says why not.
Status verifyCertificate(std::string_view leafPem, std::string_view trustBundlePem,
                         std::string_view intermediatesPem = {});

}  // namespace kith::identity
