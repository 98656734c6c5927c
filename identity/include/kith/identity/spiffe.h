// SPIFFE IDs and the names they are built from.
//
// A SPIFFE ID is "spiffe://<trust-domain>/<path>". kith uses two shapes:
//   workload: spiffe://TD/<scope>/<app group>/<app identity>/<resource group>/<machine>
//   node:     spiffe://TD/node/<machine>
//   root CA:  spiffe://TD (the trust domain itself, in the root certificate's SAN)
// Trust domain: 1..255 of [a-z0-9._-]. Path segments: [A-Za-z0-9._-], not empty,
// not "." or "..". Address labels (and so machine names): [A-Za-z0-9_-]{1,63}.
//
// Pure functions on values; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"

namespace kith::identity {

inline constexpr size_t kMaxTrustDomainLength = 255;
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxSpiffeIdLength = 2048;
inline constexpr size_t kAddressLabels = 5;
inline constexpr std::string_view kNodePathSegment = "node";

// OK, or BAD_REQUEST saying what is wrong with the name.
Status validateTrustDomain(std::string_view td);
// One address label: [A-Za-z0-9_-]{1,63}. A machine name is one label.
Status validateLabel(std::string_view label);
Status validateMachineName(std::string_view machine);
inline bool isValidTrustDomain(std::string_view td) { return validateTrustDomain(td).isOk(); }
inline bool isValidMachineName(std::string_view m) { return validateMachineName(m).isOk(); }

struct SpiffeId {
  std::string trustDomain;
  std::vector<std::string> path;  // segments; empty for the trust domain's own ID

  std::string toString() const;
  // "spiffe://TD" for the root.
  bool isTrustDomainId() const { return path.empty(); }
  // The machine of a node ID (spiffe://TD/node/M), else empty.
  std::string nodeMachine() const;
  bool operator==(const SpiffeId&) const = default;
};

// Parses and validates per the SPIFFE ID specification: lowercase scheme and
// trust domain, no port, user info, query, fragment, empty or dot segments, or
// trailing slash.
Result<SpiffeId> parseSpiffeId(std::string_view id);

// spiffe://TD/l1/l2/l3/l4/l5 from exactly five valid address labels.
Result<std::string> spiffeIdFor(std::string_view trustDomain,
                                std::span<const std::string> labels);
// The same from a dotted five-label address "dev.web.nginx1.default.node1".
Result<std::string> spiffeIdForAddress(std::string_view trustDomain, std::string_view address);
// spiffe://TD/node/MACHINE
Result<std::string> nodeSpiffeId(std::string_view trustDomain, std::string_view machine);
// spiffe://TD
Result<std::string> trustDomainSpiffeId(std::string_view trustDomain);

}  // namespace kith::identity
