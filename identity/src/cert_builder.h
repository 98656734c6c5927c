// Builds and signs one X.509 v3 certificate with wolfSSL — private to identity/.
//
// CertificateAuthority decides what goes in (names, CA flag, usages, validity);
// this file only encodes it. Ed25519 keys only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kith/common/encoding.h"
#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::identity {

struct CertSpec {
  PublicKey subjectKey{};
  std::string commonName;  // omitted when empty; at most 63 bytes
  std::string organization = "kith";
  std::vector<std::string> uriSans;
  std::vector<std::string> dnsSans;
  bool isCa = false;
  int pathLen = -1;         // CA path length constraint; -1: none
  std::string keyUsage;     // wolfSSL tokens: "keyCertSign,cRLSign"
  std::string extKeyUsage;  // "serverAuth,clientAuth"; empty: no extension
  int64_t notBefore = 0;    // Unix seconds
  int64_t notAfter = 0;
};

// Signs `spec` with `issuerKey`. `issuerCertDer` names the issuer; empty means
// self-signed (then issuerKey must be the subject key).
Result<Bytes> buildCertificate(const CertSpec& spec, const SigningKey& issuerKey,
                               std::span<const uint8_t> issuerCertDer);

}  // namespace kith::identity
