// PROXY protocol v2 headers (HAProxy's spec, section 2.2): how the daemon tells
// a `target` server who is calling before the stream's first byte.
//
// kith's TLVs (custom range 0xE0-0xEF): 0xE0 = caller's kith address, 0xE1 =
// caller's SPIFFE ID, 0xE2 = HostID (vhosts). Standard 0x02 (AUTHORITY) carries
// SNI for vhosts. Both encoder and parser are pure functions; the parser treats
// its input as untrusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"

namespace kith::api {

inline constexpr uint8_t kTlvAuthority = 0x02;
inline constexpr uint8_t kTlvKithAddress = 0xE0;
inline constexpr uint8_t kTlvKithSpiffeId = 0xE1;
inline constexpr uint8_t kTlvKithHostId = 0xE2;

struct ProxyTlv {
  uint8_t type;
  std::string value;
};

struct ProxyHeader {
  enum class Family : uint8_t { kUnspec = 0x00, kInet = 0x10, kInet6 = 0x20, kUnix = 0x30 };
  bool local = false;  // LOCAL command (health checks) rather than PROXY
  Family family = Family::kUnspec;
  // Addresses in network form: 4 or 16 bytes for inet; paths for unix.
  std::string srcAddr, dstAddr;
  uint16_t srcPort = 0, dstPort = 0;
  std::vector<ProxyTlv> tlvs;

  std::optional<std::string> tlv(uint8_t type) const;
};

// Encodes a v2 header (TCP/stream transport). Fails if the TLVs do not fit.
Result<std::string> encodeProxyHeader(const ProxyHeader& h);

// Parses a v2 header from the front of `data`. Returns the header and sets
// *consumed; Code::kNotFound with "need more bytes" if `data` is a valid but
// incomplete prefix; BAD_REQUEST for anything malformed.
Result<ProxyHeader> parseProxyHeader(std::string_view data, size_t* consumed);

}  // namespace kith::api
