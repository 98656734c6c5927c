#include "kith/common/encoding.h"

namespace kith {
namespace {
constexpr char kHex[] = "0123456789abcdef";
constexpr char kB32[] = "abcdefghijklmnopqrstuvwxyz234567";

int hexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int b32Val(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}
}  // namespace

std::string toHex(const uint8_t* data, size_t n) {
  std::string out;
  out.resize(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xf];
  }
  return out;
}

std::optional<Bytes> fromHex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  Bytes out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hexVal(s[2 * i]), lo = hexVal(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string toBase32(const uint8_t* data, size_t n) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    buf = (buf << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out.push_back(kB32[(buf >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kB32[(buf << (5 - bits)) & 31]);
  return out;
}

std::optional<Bytes> fromBase32(std::string_view s) {
  Bytes out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : s) {
    int v = b32Val(c);
    if (v < 0) return std::nullopt;
    buf = (buf << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buf >> (bits - 8)));
      bits -= 8;
    }
  }
  // Leftover bits must be zero padding of fewer than 5 bits, as the encoder makes.
  if (bits >= 5 || (buf & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace kith
