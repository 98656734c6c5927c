#include "kith/identity/host_cert.h"

#include "cert_builder.h"
#include "kith/common/clock.h"
#include "kith/identity/ca.h"
#include "kith/identity/cert.h"

namespace kith::identity {
namespace {

constexpr std::string_view kScheme = "foks://";

int64_t nowSeconds() { return systemClock().nowMicros() / 1'000'000; }

Result<std::string> issueLeaf(const SigningKey& caKey, std::string_view caCertPem, CertSpec spec) {
  auto caDer = certificateFromPem(caCertPem);
  if (!caDer) return Status::badRequest("host TLS CA certificate: " + caDer.status().message());
  auto caInfo = parseCertificateDer(*caDer);
  if (!caInfo) return caInfo.status();
  if (!caInfo->hasEd25519Key || caInfo->publicKey != caKey.publicKey()) {
    return Status::badRequest("host TLS CA certificate does not match the TLS CA key");
  }
  auto der = buildCertificate(spec, caKey, *caDer);
  if (!der) return der.status();
  return certificateToPem(*der);
}

}  // namespace

std::string hostUri(const HostId& id) { return std::string(kScheme) + id.toString(); }

std::string hostUserUri(const HostId& id, std::string_view user) {
  return hostUri(id) + "/user/" + std::string(user);
}

Result<HostId> hostIdOfUri(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) return Status::badRequest("not a foks:// URI: " + std::string(uri));
  std::string_view rest = uri.substr(kScheme.size());
  return HostId::parse(rest.substr(0, rest.find('/')));
}

Result<std::string> issueHostCaCertificate(const SigningKey& tlsCaKey, const HostId& owner) {
  CertSpec spec;
  spec.subjectKey = tlsCaKey.publicKey();
  spec.commonName = "foks host CA";
  spec.organization = "kith";
  spec.uriSans = {hostUri(owner)};
  spec.isCa = true;
  spec.pathLen = 0;
  spec.keyUsage = "keyCertSign,cRLSign";
  int64_t now = nowSeconds();
  spec.notBefore = now - kBackdateSeconds;
  spec.notAfter = now + kHostCaValiditySeconds;
  auto der = buildCertificate(spec, tlsCaKey, {});
  if (!der) return der.status();
  return certificateToPem(*der);
}

Result<std::string> issueHostServerCertificate(const SigningKey& tlsCaKey, std::string_view caCertPem,
                                               const PublicKey& leafKey, std::string_view hostname,
                                               const HostId& hostId) {
  KITH_RETURN_IF_ERROR(checkHostname(hostname));
  CertSpec spec;
  spec.subjectKey = leafKey;
  spec.commonName = hostname.size() <= 63 ? std::string(hostname) : "";
  spec.uriSans = {hostUri(hostId)};
  spec.dnsSans = {std::string(hostname)};
  spec.keyUsage = "digitalSignature";
  spec.extKeyUsage = "serverAuth";
  int64_t now = nowSeconds();
  spec.notBefore = now - kBackdateSeconds;
  spec.notAfter = now + kHostLeafValiditySeconds;
  return issueLeaf(tlsCaKey, caCertPem, std::move(spec));
}

Result<std::string> issueHostClientCertificate(const SigningKey& tlsCaKey, std::string_view caCertPem,
                                               const PublicKey& leafKey, const HostId& hostId,
                                               std::string_view user, int64_t validitySeconds) {
  if (user.empty() || user.size() > 64 || user.find_first_of("/ \n") != std::string_view::npos) {
    return Status::badRequest("client user name must be 1..64 bytes without '/', space or newline");
  }
  CertSpec spec;
  spec.subjectKey = leafKey;
  spec.commonName = std::string(user);
  spec.uriSans = {hostUserUri(hostId, user)};
  spec.keyUsage = "digitalSignature";
  spec.extKeyUsage = "clientAuth";
  int64_t now = nowSeconds();
  spec.notBefore = now - kBackdateSeconds;
  spec.notAfter = now + (validitySeconds > 0 ? validitySeconds : kHostLeafValiditySeconds);
  return issueLeaf(tlsCaKey, caCertPem, std::move(spec));
}

}  // namespace kith::identity
