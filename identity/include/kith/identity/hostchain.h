// Hostchain: the signed, hash-linked history of a FOKS host's keys (after
// go-foks lib/core/hostchain.go; our own encoding).
//
// A link carries: seqno (1, 2, 3, ...), the hash of the previous link (zeros
// for the first), a time, the HostID, the signer (a live HostKey) and a list of
// changes. A change adds a key in a role, revokes a key, or (a vhost only)
// aliases a primary host: the vhost then uses the primary's non-host keys (TLS
// CA, Merkle signer, metadata signer) instead of its own.
//
// Stacked signatures: every key a link ADDS signs the link's payload first (in
// the order of the changes), proving possession; then the signer signs the
// payload together with those signatures, last. A link's hash (what the next
// link's prev names) is BLAKE2b-256 over its payload and all its signatures.
//
// Replay (replayHostchain) checks every rule and reports the first violation
// with its own HostchainError, so a caller (and a test) can tell the classes
// of tampering apart:
//   kBadSeqno               seqno is not exactly one more than the previous
//   kBadPrevHash            prev does not name the previous link
//   kFirstLinkNotByHostKey  the first link is not signed by the HostID's key,
//                           or does not add that key as a host key
//   kUnknownSigner          the signer is not a host key of this chain
//   kRevokedSigner          the signer is a host key that was revoked
//   kRevokeLastHostKey      a link leaves the host with no live host key
//   kHostIdChanged          a link names a different HostID
//   kBadSignature           a signature (stacked or the signer's) fails
//   kBadChange              a malformed change: adding a key twice, revoking an
//                           unknown or revoked key, an alias on a primary's
//                           first link without host key, etc.
//
// Pure values and functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kith/common/encoding.h"
#include "kith/common/status.h"
#include "kith/identity/host_id.h"
#include "kith/identity/keys.h"

namespace kith::identity {

enum class HostKeyRole : uint8_t { kHost = 1, kTlsCa = 2, kMerkle = 3, kMetadata = 4 };
std::string_view roleName(HostKeyRole r);
// "host", "tls-ca", "merkle", "metadata".
Result<HostKeyRole> parseRole(std::string_view name);

using LinkHash = std::array<uint8_t, 32>;

struct HostchainChange {
  enum class Kind : uint8_t { kAdd = 1, kRevoke = 2, kAlias = 3 };
  Kind kind = Kind::kAdd;
  HostKeyRole role = HostKeyRole::kHost;  // kAdd
  PublicKey key{};                        // kAdd, kRevoke
  HostId aliasOf;                         // kAlias: the primary
};

struct HostchainLink {
  uint64_t seqno = 0;
  LinkHash prev{};
  int64_t time = 0;  // Unix seconds
  HostId hostId;
  PublicKey signer{};
  std::vector<HostchainChange> changes;
  // One per kAdd change, in order, then the signer's.
  std::vector<Signature> signatures;

  // The canonical bytes every signature covers (new keys' signatures cover
  // payload(); the signer's covers payload() || the new keys' signatures).
  Bytes payload() const;
  LinkHash hash() const;
};

enum class HostchainError {
  kNone,
  kBadSeqno,
  kBadPrevHash,
  kFirstLinkNotByHostKey,
  kUnknownSigner,
  kRevokedSigner,
  kRevokeLastHostKey,
  kHostIdChanged,
  kBadSignature,
  kBadChange,
};
std::string_view hostchainErrorName(HostchainError e);

// What a chain establishes.
struct HostState {
  HostId hostId;
  uint64_t seqno = 0;
  LinkHash lastHash{};
  // Live keys per role (several host keys may be live at once).
  std::map<HostKeyRole, std::vector<PublicKey>> live;
  std::vector<PublicKey> revoked;
  std::optional<HostId> aliasOf;  // a vhost: its primary

  // The newest live key of a role, if any.
  std::optional<PublicKey> current(HostKeyRole role) const;
  bool isLive(HostKeyRole role, const PublicKey& key) const;
};

struct ReplayResult {
  HostchainError error = HostchainError::kNone;
  std::string message;  // names the link and what is wrong
  HostState state;      // valid up to the last good link
  bool ok() const { return error == HostchainError::kNone; }
};

// Replays links from the first. An empty chain is kBadChange.
ReplayResult replayHostchain(const std::vector<HostchainLink>& links);
// Replays `next` on top of `state` (already validated).
ReplayResult extendHostchain(HostState state, const HostchainLink& next);

// Builds and signs a link: `newKeys` must hold the signing keys of the kAdd
// changes, in order; `signer` signs last. The link's seqno/prev/hostId come
// from `state` (nullptr: the first link).
struct NewKey {
  HostKeyRole role;
  const SigningKey* key;
};
HostchainLink makeLink(const HostState* state, const HostId& hostId, int64_t time,
                       const SigningKey& signer, const std::vector<NewKey>& adds,
                       const std::vector<PublicKey>& revokes,
                       std::optional<HostId> aliasOf = std::nullopt);

// JSON: {"seqno":..,"prev":hex,"time":..,"host_id":text,"signer":hex,
//        "changes":[{"op":"add","role":"tls-ca","key":hex}|{"op":"revoke","key":hex}|
//                   {"op":"alias","primary":hostid}],"signatures":[hex,...]}
nlohmann::json linkToJson(const HostchainLink& link);
Result<HostchainLink> linkFromJson(const nlohmann::json& j);
nlohmann::json chainToJson(const std::vector<HostchainLink>& links);
Result<std::vector<HostchainLink>> chainFromJson(const nlohmann::json& j);

}  // namespace kith::identity
