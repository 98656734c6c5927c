// HostZone: a FOKS host's signed zone — where its services are (probe, reg,
// user, merkle query: "host:port" each) and how long a client may cache it.
// Signed by the host's metadata signer key; a vhost that aliases its primary
// signs with the primary's metadata key (hostchain.h, Alias).
//
// Pure value; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/encoding.h"
#include "kith/common/status.h"
#include "kith/identity/host_id.h"
#include "kith/identity/hostchain.h"
#include "kith/identity/keys.h"

namespace kith::identity {

struct HostZone {
  std::string hostname;
  HostId hostId;
  std::string probe, reg, user, merkleQuery;  // "host:port"
  int64_t ttlSeconds = 3600;
  int64_t time = 0;  // Unix seconds when signed
  PublicKey signer{};
  Signature signature{};

  Bytes payload() const;
  void sign(const SigningKey& metadataKey);
  // The signature verifies and its signer is the live metadata key of `state`
  // (or, when `state` aliases a primary, of `primary`, which must be given and
  // be that primary).
  Status verify(const HostState& state, const HostState* primary) const;

  nlohmann::json toJson() const;
  static Result<HostZone> fromJson(const nlohmann::json& j);
};

}  // namespace kith::identity
