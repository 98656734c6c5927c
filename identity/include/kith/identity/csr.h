// Node certificate requests (PKCS#10, "CERTIFICATE REQUEST" PEM).
//
// A node that keeps its key to itself sends its CA a CSR; the CA checks the CSR's
// self-signature (proof that the requester holds the private key) and takes only
// the public key from it — the names it certifies come from the operator
// (CertificateAuthority::signNodeCsr). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::identity {

// A CSR for `key` with subject CN MACHINE, signed by `key`.
Result<std::string> makeNodeCsr(const SigningKey& key, std::string_view machine);

// The Ed25519 public key of a CSR whose self-signature verifies; an error for a
// damaged, unsigned, mis-signed or non-Ed25519 request.
Result<PublicKey> csrPublicKey(std::string_view csrPem);

}  // namespace kith::identity
