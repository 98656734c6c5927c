#include "kith/identity/host_id.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "kith/common/encoding.h"

namespace kith::identity {

HostId HostId::fromHostKey(const PublicKey& key) {
  HostId id;
  id.bytes_[0] = kHostIdType;
  std::copy(key.begin(), key.end(), id.bytes_.begin() + 1);
  return id;
}

Result<HostId> HostId::fromBytes(std::string_view raw) {
  if (raw.size() != kHostIdSize) {
    return Status::badRequest("host ID: " + std::to_string(raw.size()) + " bytes, want " +
                              std::to_string(kHostIdSize));
  }
  if (static_cast<uint8_t>(raw[0]) != kHostIdType) {
    return Status::badRequest("host ID: type byte is not 0x02 (host)");
  }
  HostId id;
  std::memcpy(id.bytes_.data(), raw.data(), kHostIdSize);
  return id;
}

Result<HostId> HostId::parse(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto raw = fromBase32(lower);
  if (!raw) return Status::badRequest("host ID '" + std::string(text) + "' is not base32");
  auto id = fromBytes(std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size()));
  if (!id) return Status::badRequest("host ID '" + std::string(text) + "': " + id.status().message());
  // Exactly one text per ID: a non-canonical spelling (stray trailing bits) is refused.
  if (id->toString() != lower) {
    return Status::badRequest("host ID '" + std::string(text) + "' is not in canonical form");
  }
  return id;
}

std::string HostId::toString() const { return toBase32(bytes_.data(), bytes_.size()); }

PublicKey HostId::hostKey() const {
  PublicKey k{};
  std::copy(bytes_.begin() + 1, bytes_.end(), k.begin());
  return k;
}

Status checkHostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return Status::badRequest("hostname must be 1..253 bytes");
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > 63) {
      return Status::badRequest("hostname '" + std::string(name) + "': empty or over-long label");
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return Status::badRequest("hostname '" + std::string(name) +
                                  "': labels are lowercase letters, digits and '-'");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return Status::badRequest("hostname '" + std::string(name) + "': a label starts or ends with '-'");
    }
    start = dot + 1;
  }
  return Status::ok();
}

}  // namespace kith::identity
