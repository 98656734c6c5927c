#include "cert_builder.h"

#include <sodium.h>

#include <cstring>
#include <ctime>

#include "der.h"
#include "wolf.h"

namespace kith::identity {
namespace {

// Large enough for any certificate kith makes: names are bounded by the SAN
// buffer below and Ed25519 keys and signatures are small.
constexpr size_t kMaxCertDer = 8192;
constexpr size_t kSerialBytes = 16;

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. Writes the
// full DER element (tag, length, content), which is what wolfSSL's Cert wants.
Result<int> encodeTime(int64_t seconds, uint8_t* out, size_t cap) {
  time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return Status::badRequest("certificate date out of range");
  int year = tm.tm_year + 1900;
  char buf[32];
  int n;
  uint8_t tag;
  if (year >= 1950 && year < 2050) {
    tag = der::kUtcTime;
    n = std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else if (year >= 2050 && year <= 9999) {
    tag = der::kGeneralizedTime;
    n = std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  } else {
    return Status::badRequest("certificate date out of range: year " + std::to_string(year));
  }
  if (n < 0 || static_cast<size_t>(n) + 2 > cap) return Status::internal("date buffer too small");
  out[0] = tag;
  out[1] = static_cast<uint8_t>(n);
  std::memcpy(out + 2, buf, static_cast<size_t>(n));
  return n + 2;
}

Status setName(char (&field)[CTC_NAME_SIZE], const std::string& value, const char* what) {
  if (value.size() >= CTC_NAME_SIZE) {
    return Status::badRequest(std::string(what) + " longer than " +
                              std::to_string(CTC_NAME_SIZE - 1) + " bytes");
  }
  std::memcpy(field, value.data(), value.size());
  field[value.size()] = '\0';
  return Status::ok();
}

// GeneralNames ::= SEQUENCE OF GeneralName, URIs first.
Bytes encodeAltNames(const CertSpec& spec) {
  Bytes names;
  for (const auto& uri : spec.uriSans) der::appendTlv(names, der::kGeneralNameUri, uri);
  for (const auto& dns : spec.dnsSans) der::appendTlv(names, der::kGeneralNameDns, dns);
  return der::tlv(der::kSequence, names);
}

}  // namespace

Result<Bytes> buildCertificate(const CertSpec& spec, const SigningKey& issuerKey,
                               std::span<const uint8_t> issuerCertDer) {
  if (spec.notAfter <= spec.notBefore) {
    return Status::badRequest("certificate validity must be positive");
  }
  auto certOr = wolf::newCert();
  if (!certOr) return certOr.status();
  Cert* cert = certOr->get();
  auto rng = wolf::Rng::create();
  if (!rng) return rng.status();
  auto subjectKey = wolf::Ed25519Key::fromPublicKey(spec.subjectKey);
  if (!subjectKey) return subjectKey.status();
  auto signer = wolf::Ed25519Key::fromSigningKey(issuerKey);
  if (!signer) return signer.status();

  cert->version = 2;  // X.509 v3
  cert->sigType = CTC_ED25519;
  KITH_RETURN_IF_ERROR(setName(cert->subject.commonName, spec.commonName, "common name"));
  KITH_RETURN_IF_ERROR(setName(cert->subject.org, spec.organization, "organization"));
  cert->subject.commonNameEnc = CTC_UTF8;
  cert->subject.orgEnc = CTC_UTF8;

  // A positive 16-byte serial: the top bit clear, the first byte non-zero (DER
  // would otherwise drop it).
  randombytes_buf(cert->serial, kSerialBytes);
  cert->serial[0] = static_cast<uint8_t>((cert->serial[0] & 0x7f) | 0x40);
  cert->serialSz = kSerialBytes;

  auto before = encodeTime(spec.notBefore, cert->beforeDate, sizeof cert->beforeDate);
  if (!before) return before.status();
  auto after = encodeTime(spec.notAfter, cert->afterDate, sizeof cert->afterDate);
  if (!after) return after.status();
  cert->beforeDateSz = *before;
  cert->afterDateSz = *after;

  cert->isCA = spec.isCa ? 1 : 0;
  cert->basicConstSet = 1;  // also say CA:FALSE explicitly (X509-SVID requires it)
  if (spec.isCa && spec.pathLen >= 0) {
    cert->pathLen = static_cast<byte>(spec.pathLen);
    cert->pathLenSet = 1;
  }

  if (!spec.uriSans.empty() || !spec.dnsSans.empty()) {
    Bytes alt = encodeAltNames(spec);
    if (alt.size() > sizeof cert->altNames) {
      return Status::badRequest("subject alternative names too long");
    }
    std::memcpy(cert->altNames, alt.data(), alt.size());
    cert->altNamesSz = static_cast<int>(alt.size());
    // RFC 5280 4.2.1.6: critical when the subject name is empty.
    cert->altNamesCrit = spec.commonName.empty() ? 1 : 0;
  }

  int rc = wc_SetKeyUsage(cert, spec.keyUsage.c_str());
  if (rc != 0) return wolf::error("set key usage", rc);
  if (!spec.extKeyUsage.empty()) {
    rc = wc_SetExtKeyUsage(cert, spec.extKeyUsage.c_str());
    if (rc != 0) return wolf::error("set extended key usage", rc);
  }
  rc = wc_SetSubjectKeyIdFromPublicKey_ex(cert, ED25519_TYPE, (*subjectKey)->get());
  if (rc != 0) return wolf::error("set subject key id", rc);

  if (issuerCertDer.empty()) {
    cert->selfSigned = 1;
    rc = wc_SetAuthKeyIdFromPublicKey_ex(cert, ED25519_TYPE, (*signer)->get());
    if (rc != 0) return wolf::error("set authority key id", rc);
  } else {
    rc = wc_SetIssuerBuffer(cert, issuerCertDer.data(), static_cast<int>(issuerCertDer.size()));
    if (rc != 0) return wolf::error("set issuer", rc);
    rc = wc_SetAuthKeyIdFromCert(cert, issuerCertDer.data(), static_cast<int>(issuerCertDer.size()));
    if (rc != 0) return wolf::error("set authority key id", rc);
  }

  Bytes der(kMaxCertDer);
  rc = wc_MakeCert_ex(cert, der.data(), static_cast<word32>(der.size()), ED25519_TYPE,
                      (*subjectKey)->get(), (*rng)->get());
  if (rc < 0) return wolf::error("make certificate", rc);
  rc = wc_SignCert_ex(cert->bodySz, cert->sigType, der.data(), static_cast<word32>(der.size()),
                      ED25519_TYPE, (*signer)->get(), (*rng)->get());
  if (rc < 0) return wolf::error("sign certificate", rc);
  der.resize(static_cast<size_t>(rc));
  return der;
}

}  // namespace kith::identity
