// HostID: the identity of a FOKS host (primary or virtual), in FOKS's EntityID
// form: one type byte 0x02 ("host") followed by the host's FIRST HostKey, an
// Ed25519 public key — 33 bytes. A HostID never changes: rotating the HostKey
// later (hostchain.h) keeps the HostID of the key that founded the chain.
//
// Text form: lowercase RFC 4648 base32 without padding of the 33 bytes, 53
// characters, always beginning "a" then one of "ijkl" (the 0x02 type byte). It is stable (one
// text per ID), DNS-label safe and case-insensitive on input.
//
// ShortHostID: a small positive integer the daemon's store allocates per host
// (unique per daemon), used in logs and workload names.
//
// Pure value types; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::identity {

inline constexpr uint8_t kHostIdType = 0x02;
inline constexpr size_t kHostIdSize = 1 + kEd25519PublicKeySize;

class HostId {
 public:
  HostId() = default;
  static HostId fromHostKey(const PublicKey& key);
  // 33 raw bytes, first 0x02.
  static Result<HostId> fromBytes(std::string_view raw);
  // The text form (case-insensitive); errors name what is wrong.
  static Result<HostId> parse(std::string_view text);

  std::string toString() const;
  const std::array<uint8_t, kHostIdSize>& bytes() const { return bytes_; }
  // The founding HostKey.
  PublicKey hostKey() const;
  bool empty() const { return bytes_[0] == 0; }

  bool operator==(const HostId&) const = default;
  auto operator<=>(const HostId&) const = default;

 private:
  std::array<uint8_t, kHostIdSize> bytes_{};
};

// A hostname as the daemon accepts it for hosts: DNS labels [a-z0-9-]{1,63}
// joined by dots, at most 253 bytes, lowercase, no leading/trailing hyphen.
Status checkHostname(std::string_view name);

}  // namespace kith::identity

template <>
struct std::hash<kith::identity::HostId> {
  size_t operator()(const kith::identity::HostId& id) const noexcept {
    size_t h = 0;
    for (size_t i = 1; i < sizeof(size_t) + 1; ++i) h = (h << 8) | id.bytes()[i];
    return h;
  }
};
