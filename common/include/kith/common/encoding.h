// Byte encodings used in kith's text formats: lowercase hex, and RFC 4648
// base32 (lowercase, no padding) for compact printable IDs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kith {

using Bytes = std::vector<uint8_t>;

std::string toHex(const uint8_t* data, size_t n);
inline std::string toHex(const Bytes& b) { return toHex(b.data(), b.size()); }
// Accepts upper or lower case; nullopt on odd length or a non-hex character.
std::optional<Bytes> fromHex(std::string_view s);

std::string toBase32(const uint8_t* data, size_t n);
inline std::string toBase32(const Bytes& b) { return toBase32(b.data(), b.size()); }
// Accepts upper or lower case without padding; nullopt on anything else.
std::optional<Bytes> fromBase32(std::string_view s);

}  // namespace kith
