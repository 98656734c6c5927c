// HostDir: one FOKS host's keys and hostchain on disk, in a directory of its
// own (mode 0700):
//
//   host.json       {"hostname": "...", "primary": HOSTID | absent}
//   chain.json      the hostchain (hostchain.h JSON), rewritten atomically
//   host.key        the current HostKey            (PKCS#8 PEM, 0600)
//   tls-ca.key      the delegated TLS CA key       (primary only, 0600)
//   merkle.key      the delegated Merkle signer    (primary only, 0600)
//   metadata.key    the delegated metadata signer  (primary only, 0600)
//   tls-ca.crt      the TLS CA certificate (host_cert.h), primary only
//
// A primary's first link adds all four keys (stacked signatures). A vhost
// gets only a HostKey; its first link adds it and aliases the primary, whose
// TLS CA, Merkle and metadata keys it uses. Key files are refused when group
// or others may read them (keys.h).
//
// Rotation writes the new key as `<role>.key.next`, then the chain, then
// renames the key into place: a crash leaves either the old chain (and a stray
// .next that is ignored) or the new chain whose key is found as .next and
// finished on load.
//
// Not thread-safe; one owner.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kith/common/status.h"
#include "kith/identity/host_id.h"
#include "kith/identity/hostchain.h"
#include "kith/identity/keys.h"

namespace kith::identity {

class HostDir {
 public:
  static Result<HostDir> create(const std::string& dir, const std::string& hostname, int64_t now,
                                std::optional<HostId> primary = std::nullopt);
  // Loads and replays; a chain that does not replay, or keys that do not match
  // its live keys, are errors.
  static Result<HostDir> load(const std::string& dir);

  // A new key for `role`, introduced by a link that also revokes the old one,
  // signed by the current HostKey (which, for role host, is the key revoked).
  // A vhost may rotate only its host key.
  Status rotate(HostKeyRole role, int64_t now);

  const std::string& dir() const { return dir_; }
  const std::string& hostname() const { return hostname_; }
  const HostId& id() const { return state_.hostId; }
  bool isVhost() const { return state_.aliasOf.has_value(); }
  const std::vector<HostchainLink>& chain() const { return chain_; }
  const HostState& state() const { return state_; }
  // nullptr when this host has no such key of its own (a vhost's delegated roles).
  const SigningKey* key(HostKeyRole role) const;
  const std::string& tlsCaCertPem() const { return tlsCaCertPem_; }

  HostDir(HostDir&&) = default;
  HostDir& operator=(HostDir&&) = default;

 private:
  HostDir() = default;
  Status saveChain() const;

  std::string dir_;
  std::string hostname_;
  std::vector<HostchainLink> chain_;
  HostState state_;
  std::map<HostKeyRole, SigningKey> keys_;
  std::string tlsCaCertPem_;
};

}  // namespace kith::identity
