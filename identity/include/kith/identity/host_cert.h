// X.509 certificates of FOKS hosts (wolfSSL, Ed25519):
//
//   TLS CA     self-signed by the host's delegated TLS CA key, CA:TRUE pathlen 0,
//              URI SAN foks://HOSTID of the host that owns the key (a primary;
//              its vhosts use the same CA through their Alias link).
//   server     CA:FALSE, serverAuth, DNS SAN = the hostname, URI SAN
//              foks://HOSTID; signed by the TLS CA. What the vhost listener
//              presents for SNI = hostname.
//   client     CA:FALSE, clientAuth, URI SAN foks://HOSTID/user/NAME; signed by
//              the TLS CA of that host (or of its primary). The HostID in the URI
//              is the host the client belongs to: the vhost listener routes by it.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/host_id.h"
#include "kith/identity/keys.h"

namespace kith::identity {

inline constexpr int64_t kHostCaValiditySeconds = 3650LL * 86400;
inline constexpr int64_t kHostLeafValiditySeconds = 90LL * 86400;

// "foks://HOSTID" and "foks://HOSTID/user/NAME".
std::string hostUri(const HostId& id);
std::string hostUserUri(const HostId& id, std::string_view user);
// The HostID a foks:// URI names (its authority), or an error.
Result<HostId> hostIdOfUri(std::string_view uri);

Result<std::string> issueHostCaCertificate(const SigningKey& tlsCaKey, const HostId& owner);
// `caCertPem` must be the CA certificate of `tlsCaKey`.
Result<std::string> issueHostServerCertificate(const SigningKey& tlsCaKey, std::string_view caCertPem,
                                               const PublicKey& leafKey, std::string_view hostname,
                                               const HostId& hostId);
Result<std::string> issueHostClientCertificate(const SigningKey& tlsCaKey, std::string_view caCertPem,
                                               const PublicKey& leafKey, const HostId& hostId,
                                               std::string_view user, int64_t validitySeconds = 0);

}  // namespace kith::identity
