#include "kith/identity/csr.h"

#include <algorithm>
#include <cstring>

#include "der.h"
#include "kith/identity/spiffe.h"
#include "pem.h"
#include "wolf.h"

namespace kith::identity {
namespace {

constexpr std::string_view kCsrLabel = "CERTIFICATE REQUEST";
constexpr uint8_t kEd25519Oid[] = {0x2b, 0x65, 0x70};
constexpr size_t kMaxCsrDer = 4096;

bool isEd25519AlgorithmId(std::span<const uint8_t> algContent) {
  der::Reader r(algContent);
  std::span<const uint8_t> oid;
  return r.read(der::kOid, &oid) && r.atEnd() &&
         std::equal(oid.begin(), oid.end(), std::begin(kEd25519Oid), std::end(kEd25519Oid));
}

}  // namespace

Result<std::string> makeNodeCsr(const SigningKey& key, std::string_view machine) {
  KITH_RETURN_IF_ERROR(validateMachineName(machine));
  auto cert = wolf::newCert();
  if (!cert) return cert.status();
  auto rng = wolf::Rng::create();
  if (!rng) return rng.status();
  auto wkey = wolf::Ed25519Key::fromSigningKey(key);
  if (!wkey) return wkey.status();
  Cert* c = cert->get();
  c->version = 0;  // PKCS#10 v1
  c->sigType = CTC_ED25519;
  std::memcpy(c->subject.commonName, machine.data(), machine.size());
  c->subject.commonName[machine.size()] = '\0';
  std::strcpy(c->subject.org, "kith");
  Bytes der(kMaxCsrDer);
  int rc = wc_MakeCertReq_ex(c, der.data(), static_cast<word32>(der.size()), ED25519_TYPE,
                             (*wkey)->get());
  if (rc < 0) return wolf::error("make certificate request", rc);
  rc = wc_SignCert_ex(c->bodySz, c->sigType, der.data(), static_cast<word32>(der.size()),
                      ED25519_TYPE, (*wkey)->get(), (*rng)->get());
  if (rc < 0) return wolf::error("sign certificate request", rc);
  der.resize(static_cast<size_t>(rc));
  return pem::encode(kCsrLabel, der);
}

// CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }
// CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }
Result<PublicKey> csrPublicKey(std::string_view csrPem) {
  auto blocks = pem::decodeAll(csrPem, kCsrLabel);
  if (!blocks || blocks->size() != 1) {
    return Status::badRequest("expected exactly one PEM \"CERTIFICATE REQUEST\" block");
  }
  auto bad = [](const char* why) {
    return Status::badRequest(std::string("certificate request: ") + why);
  };
  der::Reader top(blocks->front());
  std::span<const uint8_t> req, info, infoWhole, sigAlg, sigBits;
  if (!top.read(der::kSequence, &req) || !top.atEnd()) return bad("malformed");
  der::Reader r(req);
  if (!r.readElement(der::kSequence, &infoWhole, &info) || !r.read(der::kSequence, &sigAlg) ||
      !r.read(der::kBitString, &sigBits) || !r.atEnd()) {
    return bad("malformed");
  }
  if (!isEd25519AlgorithmId(sigAlg)) return bad("not signed with Ed25519");
  if (sigBits.size() != 1 + kEd25519SignatureSize || sigBits[0] != 0) {
    return bad("malformed signature");
  }
  der::Reader ir(info);
  std::span<const uint8_t> version, subject, spki, spkiAlg, keyBits;
  if (!ir.read(der::kInteger, &version) || version.size() != 1 || version[0] != 0 ||
      !ir.read(der::kSequence, &subject) || !ir.read(der::kSequence, &spki)) {
    return bad("malformed request info");
  }
  der::Reader kr(spki);
  if (!kr.read(der::kSequence, &spkiAlg) || !kr.read(der::kBitString, &keyBits) || !kr.atEnd() ||
      !isEd25519AlgorithmId(spkiAlg)) {
    return bad("public key is not Ed25519");
  }
  if (keyBits.size() != 1 + kEd25519PublicKeySize || keyBits[0] != 0) {
    return bad("malformed Ed25519 public key");
  }
  PublicKey key{};
  std::copy(keyBits.begin() + 1, keyBits.end(), key.begin());
  Signature sig{};
  std::copy(sigBits.begin() + 1, sigBits.end(), sig.begin());
  if (!verifyEd25519(key, infoWhole, sig)) return bad("signature does not verify");
  return key;
}

}  // namespace kith::identity
