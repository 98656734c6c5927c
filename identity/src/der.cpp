#include "der.h"

namespace kith::identity::der {

void appendTlv(Bytes& out, uint8_t tag, std::span<const uint8_t> content) {
  out.push_back(tag);
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
  } else {
    uint8_t len[sizeof(size_t)];
    int k = 0;
    for (size_t v = n; v != 0; v >>= 8) len[k++] = static_cast<uint8_t>(v & 0xff);
    out.push_back(static_cast<uint8_t>(0x80 | k));
    while (k > 0) out.push_back(len[--k]);
  }
  out.insert(out.end(), content.begin(), content.end());
}

void appendTlv(Bytes& out, uint8_t tag, std::string_view content) {
  appendTlv(out, tag,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(content.data()),
                                     content.size()));
}

Bytes tlv(uint8_t tag, std::span<const uint8_t> content) {
  Bytes out;
  appendTlv(out, tag, content);
  return out;
}

bool Reader::readAny(uint8_t* tag, std::span<const uint8_t>* content) {
  if (in_.size() < 2) return false;
  size_t idx = 1;
  size_t len = in_[idx++];
  if (len & 0x80) {
    size_t k = len & 0x7f;
    // Long form: 1..4 length bytes, minimal, and actually needed (DER).
    if (k == 0 || k > 4 || in_.size() < idx + k) return false;
    if (in_[idx] == 0) return false;
    len = 0;
    for (size_t i = 0; i < k; ++i) len = (len << 8) | in_[idx++];
    if (len < 0x80) return false;
  }
  if (in_.size() - idx < len) return false;
  *tag = in_[0];
  *content = in_.subspan(idx, len);
  in_ = in_.subspan(idx + len);
  return true;
}

bool Reader::read(uint8_t tag, std::span<const uint8_t>* content) {
  if (peekTag() != tag) return false;
  uint8_t got = 0;
  return readAny(&got, content);
}

bool Reader::readElement(uint8_t tag, std::span<const uint8_t>* whole,
                         std::span<const uint8_t>* content) {
  std::span<const uint8_t> before = in_;
  if (!read(tag, content)) return false;
  *whole = before.first(before.size() - in_.size());
  return true;
}

}  // namespace kith::identity::der
