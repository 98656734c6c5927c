#include "kith/identity/ca.h"

#include "cert_builder.h"
#include "kith/identity/csr.h"
#include "kith/identity/spiffe.h"

namespace kith::identity {
namespace {

constexpr const char* kCaKeyUsage = "keyCertSign,cRLSign";
constexpr const char* kLeafKeyUsage = "digitalSignature";
constexpr const char* kLeafExtKeyUsage = "serverAuth,clientAuth";

struct Window {
  int64_t notBefore;
  int64_t notAfter;
};

Result<Window> windowFor(const IssueOptions& opts, int64_t defaultValidity) {
  int64_t validity = opts.validitySeconds != 0 ? opts.validitySeconds : defaultValidity;
  if (validity <= 0) return Status::badRequest("certificate validity must be positive");
  const Clock& clock = opts.clock != nullptr ? *opts.clock : systemClock();
  int64_t now = clock.nowMicros() / 1'000'000;
  return Window{now - kBackdateSeconds, now + validity};
}

// CN is informational (the URI SAN is the identity) and limited to 63 bytes.
std::string truncatedCn(std::string cn) {
  if (cn.size() > 63) cn.resize(63);
  return cn;
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::createRoot(SigningKey key,
                                                              std::string_view trustDomain,
                                                              const IssueOptions& opts) {
  auto tdId = trustDomainSpiffeId(trustDomain);
  if (!tdId) return tdId.status();
  auto window = windowFor(opts, kRootValiditySeconds);
  if (!window) return window.status();
  CertSpec spec;
  spec.subjectKey = key.publicKey();
  spec.commonName = truncatedCn("kith root " + std::string(trustDomain));
  spec.uriSans = {*tdId};
  spec.isCa = true;
  spec.keyUsage = kCaKeyUsage;
  spec.notBefore = window->notBefore;
  spec.notAfter = window->notAfter;
  auto der = buildCertificate(spec, key, {});
  if (!der) return der.status();
  return load(std::move(key), certificateToPem(*der));
}

Result<CertificateAuthority> CertificateAuthority::load(SigningKey key, std::string certPem) {
  auto der = certificateFromPem(certPem);
  if (!der) return Status::badRequest("CA certificate: " + der.status().message());
  auto info = parseCertificateDer(*der);
  if (!info) return Status::badRequest("CA certificate: " + info.status().message());
  if (!info->isCa) return Status::badRequest("CA certificate is not a CA (basicConstraints)");
  if (!info->hasEd25519Key || info->publicKey != key.publicKey()) {
    return Status::badRequest("CA certificate does not match the CA key");
  }
  std::string trustDomain, machine;
  for (const auto& uri : info->uriSans) {
    auto id = parseSpiffeId(uri);
    if (!id) continue;
    if (id->isTrustDomainId() || !id->nodeMachine().empty()) {
      trustDomain = id->trustDomain;
      machine = id->nodeMachine();
      break;
    }
  }
  if (trustDomain.empty()) {
    return Status::badRequest(
        "CA certificate has no spiffe://TD or spiffe://TD/node/MACHINE URI SAN");
  }
  return CertificateAuthority(std::move(key), std::move(certPem), std::move(*der),
                              std::move(*info), std::move(trustDomain), std::move(machine));
}

Result<std::string> CertificateAuthority::issueNodeCertificate(const PublicKey& nodeKey,
                                                               std::string_view machine,
                                                               const IssueOptions& opts) const {
  if (!machine_.empty()) return Status::badRequest("a node CA cannot certify nodes");
  auto nodeId = nodeSpiffeId(trustDomain_, machine);
  if (!nodeId) return nodeId.status();
  auto window = windowFor(opts, kNodeValiditySeconds);
  if (!window) return window.status();
  CertSpec spec;
  spec.subjectKey = nodeKey;
  spec.commonName = std::string(machine);
  spec.uriSans = {*nodeId};
  spec.dnsSans = {std::string(machine)};
  spec.keyUsage = kLeafKeyUsage;
  spec.extKeyUsage = kLeafExtKeyUsage;
  spec.notBefore = window->notBefore;
  spec.notAfter = window->notAfter;
  auto der = buildCertificate(spec, key_, certDer_);
  if (!der) return der.status();
  return certificateToPem(*der);
}

Result<std::string> CertificateAuthority::signNodeCsr(std::string_view csrPem,
                                                      std::string_view machine,
                                                      const IssueOptions& opts) const {
  auto key = csrPublicKey(csrPem);
  if (!key) return key.status();
  return issueNodeCertificate(*key, machine, opts);
}

Result<std::string> CertificateAuthority::issueNodeCaCertificate(const PublicKey& nodeKey,
                                                                 std::string_view machine,
                                                                 const IssueOptions& opts) const {
  if (!machine_.empty()) return Status::badRequest("a node CA cannot certify nodes");
  auto nodeId = nodeSpiffeId(trustDomain_, machine);
  if (!nodeId) return nodeId.status();
  auto window = windowFor(opts, kNodeValiditySeconds);
  if (!window) return window.status();
  CertSpec spec;
  spec.subjectKey = nodeKey;
  spec.commonName = "kith node CA " + std::string(machine);
  if (spec.commonName.size() > 63) spec.commonName = std::string(machine);
  spec.uriSans = {*nodeId};
  spec.isCa = true;
  spec.pathLen = 0;
  spec.keyUsage = kCaKeyUsage;
  spec.notBefore = window->notBefore;
  spec.notAfter = window->notAfter;
  auto der = buildCertificate(spec, key_, certDer_);
  if (!der) return der.status();
  return certificateToPem(*der);
}

Result<std::string> CertificateAuthority::issueSvid(const PublicKey& workloadKey,
                                                    std::string_view spiffeId,
                                                    const IssueOptions& opts) const {
  auto id = parseSpiffeId(spiffeId);
  if (!id) return id.status();
  if (id->trustDomain != trustDomain_) {
    return Status::badRequest("SPIFFE ID " + std::string(spiffeId) +
                              " is outside this CA's trust domain " + trustDomain_);
  }
  if (id->isTrustDomainId()) return Status::badRequest("an SVID needs a SPIFFE ID with a path");
  if (!machine_.empty() && id->path.back() != machine_) {
    return Status::badRequest("node " + machine_ + " may only issue SVIDs for its own workloads, not " +
                              std::string(spiffeId));
  }
  auto window = windowFor(opts, kSvidValiditySeconds);
  if (!window) return window.status();
  CertSpec spec;
  spec.subjectKey = workloadKey;
  // The workload's address, for people reading the certificate.
  std::string address;
  for (const auto& seg : id->path) address += (address.empty() ? "" : ".") + seg;
  if (address.size() <= 63) spec.commonName = address;
  spec.uriSans = {id->toString()};
  spec.keyUsage = kLeafKeyUsage;
  spec.extKeyUsage = kLeafExtKeyUsage;
  spec.notBefore = window->notBefore;
  spec.notAfter = window->notAfter;
  auto der = buildCertificate(spec, key_, certDer_);
  if (!der) return der.status();
  return certificateToPem(*der);
}

}  // namespace kith::identity
