#include "kith/identity/cert.h"

#include <ctime>

#include "der.h"
#include "pem.h"
#include "wolf.h"

namespace kith::identity {
namespace {

constexpr std::string_view kCertLabel = "CERTIFICATE";
// SubjectPublicKeyInfo of an Ed25519 key, before the 32 key bytes (RFC 8410).
constexpr uint8_t kEd25519SpkiPrefix[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b,
                                          0x65, 0x70, 0x03, 0x21, 0x00};

int digits(const uint8_t* p, int n) {
  int v = 0;
  for (int i = 0; i < n; ++i) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

// Parses a DER UTCTime/GeneralizedTime given with its tag and length, as
// DecodedCert keeps them. Only the forms RFC 5280 allows (seconds, "Z").
bool parseAsnTime(const uint8_t* date, int len, int64_t* out) {
  if (date == nullptr || len < 2) return false;
  uint8_t tag = date[0];
  int contentLen = date[1];
  const uint8_t* c = date + 2;
  if (contentLen != len - 2) return false;
  std::tm tm{};
  int year;
  if (tag == der::kUtcTime && contentLen == 13) {
    year = digits(c, 2);
    if (year < 0) return false;
    year += year < 50 ? 2000 : 1900;
    c += 2;
  } else if (tag == der::kGeneralizedTime && contentLen == 15) {
    year = digits(c, 4);
    c += 4;
  } else {
    return false;
  }
  int mon = digits(c, 2), day = digits(c + 2, 2), hour = digits(c + 4, 2),
      min = digits(c + 6, 2), sec = digits(c + 8, 2);
  if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      min < 0 || min > 59 || sec < 0 || sec > 60 || c[10] != 'Z') {
    return false;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  *out = static_cast<int64_t>(timegm(&tm));
  return true;
}

std::string verifyReason(int rc) {
  switch (rc) {
    case ASN_NO_SIGNER_E:
      return "no trusted CA issued it (ASN_NO_SIGNER_E)";
    case ASN_SIG_CONFIRM_E:
      return "its signature does not verify (ASN_SIG_CONFIRM_E)";
    case ASN_AFTER_DATE_E:
      return "it has expired (ASN_AFTER_DATE_E)";
    case ASN_BEFORE_DATE_E:
      return "it is not yet valid (ASN_BEFORE_DATE_E)";
    default:
      return std::string(wc_GetErrorString(rc)) + " (" + std::to_string(rc) + ")";
  }
}

}  // namespace

Result<std::vector<Bytes>> certificatesFromPem(std::string_view pem) {
  auto blocks = pem::decodeAll(pem, kCertLabel);
  if (!blocks) return Status::badRequest("damaged PEM CERTIFICATE block");
  if (blocks->empty()) return Status::badRequest("no PEM CERTIFICATE block");
  return std::move(*blocks);
}

Result<Bytes> certificateFromPem(std::string_view pem) {
  auto certs = certificatesFromPem(pem);
  if (!certs) return certs.status();
  if (certs->size() != 1) {
    return Status::badRequest("expected one certificate, found " +
                              std::to_string(certs->size()));
  }
  return std::move(certs->front());
}

std::string certificateToPem(std::span<const uint8_t> der) {
  return pem::encode(kCertLabel, Bytes(der.begin(), der.end()));
}

Result<CertificateInfo> parseCertificateDer(std::span<const uint8_t> der) {
  auto decoded = wolf::Decoded::parse(der);
  if (!decoded) return decoded.status();
  DecodedCert* dc = (*decoded)->get();

  CertificateInfo info;
  if (dc->subjectCN != nullptr && dc->subjectCNLen > 0) {
    info.subjectCommonName.assign(dc->subjectCN, static_cast<size_t>(dc->subjectCNLen));
  }
  for (DNS_entry* e = dc->altNames; e != nullptr; e = e->next) {
    if (e->name == nullptr || e->len < 0) continue;
    std::string name(e->name, static_cast<size_t>(e->len));
    if (e->type == ASN_URI_TYPE) info.uriSans.push_back(std::move(name));
    if (e->type == ASN_DNS_TYPE) info.dnsSans.push_back(std::move(name));
  }
  if (!parseAsnTime(dc->beforeDate, dc->beforeDateLen, &info.notBefore) ||
      !parseAsnTime(dc->afterDate, dc->afterDateLen, &info.notAfter)) {
    return Status::badRequest("certificate has a validity date kith cannot read");
  }
  info.isCa = dc->isCA != 0;
  if (dc->keyOID == ED25519k && dc->publicKey != nullptr) {
    // wolfSSL keeps either the bare key or the whole SubjectPublicKeyInfo.
    const uint8_t* key = nullptr;
    if (dc->pubKeySize == kEd25519PublicKeySize) {
      key = dc->publicKey;
    } else if (dc->pubKeySize == sizeof(kEd25519SpkiPrefix) + kEd25519PublicKeySize &&
               std::equal(std::begin(kEd25519SpkiPrefix), std::end(kEd25519SpkiPrefix),
                          dc->publicKey)) {
      key = dc->publicKey + sizeof(kEd25519SpkiPrefix);
    }
    if (key == nullptr) return Status::badRequest("certificate has a malformed Ed25519 key");
    std::copy(key, key + kEd25519PublicKeySize, info.publicKey.begin());
    info.hasEd25519Key = true;
  }
  if (dc->serialSz > 0) info.serialHex = toHex(dc->serial, static_cast<size_t>(dc->serialSz));
  return info;
}

Result<CertificateInfo> parseCertificatePem(std::string_view pem) {
  auto certs = certificatesFromPem(pem);
  if (!certs) return certs.status();
  return parseCertificateDer(certs->front());
}

Status verifyCertificate(std::string_view leafPem, std::string_view trustBundlePem,
                         std::string_view intermediatesPem) {
  auto leaf = certificatesFromPem(leafPem);
  if (!leaf) return Status::badRequest("certificate: " + leaf.status().message());
  auto roots = certificatesFromPem(trustBundlePem);
  if (!roots) return Status::badRequest("trust bundle: " + roots.status().message());
  std::vector<Bytes> intermediates;
  if (!intermediatesPem.empty()) {
    auto mids = certificatesFromPem(intermediatesPem);
    if (!mids) return Status::badRequest("intermediates: " + mids.status().message());
    intermediates = std::move(*mids);
  }
  auto cm = wolf::newCertManager();
  if (!cm) return cm.status();
  for (const Bytes& root : *roots) {
    int rc = wolfSSL_CertManagerLoadCABuffer(cm->get(), root.data(), static_cast<long>(root.size()),
                                             WOLFSSL_FILETYPE_ASN1);
    if (rc != WOLFSSL_SUCCESS) {
      return Status::crypto("trust bundle certificate rejected: " + verifyReason(rc));
    }
  }
  // An intermediate becomes a signer only after it verifies against what is
  // already loaded, so order them root-side first as a chain file would.
  for (const Bytes& mid : intermediates) {
    int rc = wolfSSL_CertManagerVerifyBuffer(cm->get(), mid.data(), static_cast<long>(mid.size()),
                                             WOLFSSL_FILETYPE_ASN1);
    if (rc != WOLFSSL_SUCCESS) {
      return Status::crypto("intermediate certificate does not verify: " + verifyReason(rc));
    }
    auto info = parseCertificateDer(mid);
    if (!info) return info.status();
    if (!info->isCa) return Status::crypto("intermediate certificate is not a CA");
    rc = wolfSSL_CertManagerLoadCABuffer(cm->get(), mid.data(), static_cast<long>(mid.size()),
                                         WOLFSSL_FILETYPE_ASN1);
    if (rc != WOLFSSL_SUCCESS) {
      return Status::crypto("intermediate certificate rejected: " + verifyReason(rc));
    }
  }
  const Bytes& der = leaf->front();
  int rc = wolfSSL_CertManagerVerifyBuffer(cm->get(), der.data(), static_cast<long>(der.size()),
                                           WOLFSSL_FILETYPE_ASN1);
  if (rc != WOLFSSL_SUCCESS) {
    return Status::crypto("certificate does not verify: " + verifyReason(rc));
  }
  return Status::ok();
}

}  // namespace kith::identity
