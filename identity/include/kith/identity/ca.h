// CertificateAuthority: an Ed25519 signing key with its CA certificate, issuing
// kith's X.509 certificates (wolfSSL):
//
//   root        self-signed, CA:TRUE, keyCertSign+cRLSign, CN "kith root <td>",
//               O=kith, URI SAN spiffe://TD; 10 years by default.
//   node        CA:FALSE, digitalSignature, serverAuth+clientAuth, CN MACHINE,
//               URI SAN spiffe://TD/node/MACHINE, DNS SAN MACHINE; 1 year. Used
//               for the mutual-TLS links between daemons.
//   node CA     CA:TRUE pathlen 0 for the same node key, URI SAN
//               spiffe://TD/node/MACHINE: lets a node issue workload SVIDs that
//               chain to the root (a node certificate is CA:FALSE and cannot).
//   SVID        X.509-SVID: CA:FALSE, digitalSignature, serverAuth+clientAuth,
//               URI SAN = the workload's SPIFFE ID; validity in seconds.
// All leaves get a random 16-byte serial, SKID/AKID, and notBefore backdated by
// kBackdateSeconds for clock skew between machines.
//
// The CA decides every name it certifies: a CSR contributes only its public key
// (after its signature proves possession of the private key), never its names.
// A node CA only issues SVIDs whose SPIFFE ID ends in its own machine.
//
// Ownership: owns its key (moved in) and certificate. Thread rules: const methods
// may run concurrently; nothing mutates after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/clock.h"
#include "kith/common/status.h"
#include "kith/identity/cert.h"
#include "kith/identity/keys.h"

namespace kith::identity {

inline constexpr int64_t kDaySeconds = 86'400;
inline constexpr int64_t kRootValiditySeconds = 3650 * kDaySeconds;
inline constexpr int64_t kNodeValiditySeconds = 365 * kDaySeconds;
inline constexpr int64_t kSvidValiditySeconds = 3600;
inline constexpr int64_t kBackdateSeconds = 60;

struct IssueOptions {
  int64_t validitySeconds = 0;     // 0: the default for the kind of certificate
  const Clock* clock = nullptr;    // nullptr: systemClock()
};

class CertificateAuthority {
 public:
  // A new self-signed root for `trustDomain`.
  static Result<CertificateAuthority> createRoot(SigningKey key, std::string_view trustDomain,
                                                 const IssueOptions& opts = {});
  // An existing CA (a root, or a node CA): checks that `certPem` is a CA
  // certificate for `key` with a SPIFFE URI SAN naming its trust domain.
  static Result<CertificateAuthority> load(SigningKey key, std::string certPem);

  const SigningKey& key() const { return key_; }
  const std::string& certificatePem() const { return certPem_; }
  const CertificateInfo& info() const { return info_; }
  const std::string& trustDomain() const { return trustDomain_; }
  // The machine of a node CA; empty for a root.
  const std::string& machine() const { return machine_; }

  Result<std::string> issueNodeCertificate(const PublicKey& nodeKey, std::string_view machine,
                                           const IssueOptions& opts = {}) const;
  // Verifies the CSR's signature and certifies its key for `machine`; any names
  // in the CSR are ignored.
  Result<std::string> signNodeCsr(std::string_view csrPem, std::string_view machine,
                                  const IssueOptions& opts = {}) const;
  Result<std::string> issueNodeCaCertificate(const PublicKey& nodeKey, std::string_view machine,
                                             const IssueOptions& opts = {}) const;
  // `spiffeId` must be in this CA's trust domain (and, for a node CA, end in
  // its machine).
  Result<std::string> issueSvid(const PublicKey& workloadKey, std::string_view spiffeId,
                                const IssueOptions& opts = {}) const;

 private:
  CertificateAuthority(SigningKey key, std::string certPem, Bytes certDer, CertificateInfo info,
                       std::string trustDomain, std::string machine)
      : key_(std::move(key)),
        certPem_(std::move(certPem)),
        certDer_(std::move(certDer)),
        info_(std::move(info)),
        trustDomain_(std::move(trustDomain)),
        machine_(std::move(machine)) {}

  SigningKey key_;
  std::string certPem_;
  Bytes certDer_;
  CertificateInfo info_;
  std::string trustDomain_;
  std::string machine_;
};

}  // namespace kith::identity
