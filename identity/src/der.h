// Minimal DER reading and writing — private to identity/.
//
// Just enough ASN.1 for what kith encodes by hand: PKCS#8 Ed25519 keys and the
// GeneralNames of a subjectAltName. Certificates themselves are built and parsed
// by wolfSSL. Readers never allocate and never read past their input.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kith/common/encoding.h"

namespace kith::identity::der {

enum Tag : uint8_t {
  kInteger = 0x02,
  kBitString = 0x03,
  kOctetString = 0x04,
  kNull = 0x05,
  kOid = 0x06,
  kUtf8String = 0x0c,
  kIa5String = 0x16,
  kUtcTime = 0x17,
  kGeneralizedTime = 0x18,
  kSequence = 0x30,
  // GeneralName choices (context-specific, primitive).
  kGeneralNameDns = 0x82,
  kGeneralNameUri = 0x86,
};

// Appends tag, DER length and content to `out`.
void appendTlv(Bytes& out, uint8_t tag, std::span<const uint8_t> content);
void appendTlv(Bytes& out, uint8_t tag, std::string_view content);
Bytes tlv(uint8_t tag, std::span<const uint8_t> content);

// Reads consecutive TLVs from a buffer.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  // Reads the next element; false (and nothing consumed) on malformed input or
  // on a tag other than `tag`.
  bool read(uint8_t tag, std::span<const uint8_t>* content);
  // Like read(), also giving the whole element (tag and length included), for
  // checking a signature over it.
  bool readElement(uint8_t tag, std::span<const uint8_t>* whole,
                   std::span<const uint8_t>* content);
  // Reads the next element of any tag.
  bool readAny(uint8_t* tag, std::span<const uint8_t>* content);
  // The tag of the next element, or -1 at the end.
  int peekTag() const { return in_.empty() ? -1 : in_[0]; }
  bool atEnd() const { return in_.empty(); }

 private:
  std::span<const uint8_t> in_;
};

}  // namespace kith::identity::der
