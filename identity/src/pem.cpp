#include "pem.h"

#include <sodium.h>

namespace kith::identity::pem {

std::string encode(std::string_view label, const Bytes& der) {
  const size_t b64max = sodium_base64_encoded_len(der.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string b64(b64max, '\0');
  sodium_bin2base64(b64.data(), b64max, der.data(), der.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::char_traits<char>::length(b64.c_str()));

  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out.push_back('\n');
  }
  out += "-----END " + std::string(label) + "-----\n";
  // The armour may be a private key's: leave no copy behind.
  sodium_memzero(b64.data(), b64.size());
  return out;
}

std::optional<std::vector<Bytes>> decodeAll(std::string_view text, std::string_view label) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----";
  const std::string end = "-----END " + std::string(label) + "-----";
  std::vector<Bytes> out;
  size_t pos = 0;
  while (true) {
    size_t b = text.find(begin, pos);
    if (b == std::string_view::npos) break;
    size_t bodyStart = b + begin.size();
    size_t e = text.find(end, bodyStart);
    if (e == std::string_view::npos) return std::nullopt;
    std::string_view body = text.substr(bodyStart, e - bodyStart);
    Bytes der(body.size());  // base64 always shrinks
    size_t derLen = 0;
    const char* bodyEnd = nullptr;
    if (sodium_base642bin(der.data(), der.size(), body.data(), body.size(), " \t\r\n", &derLen,
                          &bodyEnd, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bodyEnd != body.data() + body.size() || derLen == 0) {
      return std::nullopt;
    }
    der.resize(derLen);
    out.push_back(std::move(der));
    pos = e + end.size();
  }
  return out;
}

}  // namespace kith::identity::pem
