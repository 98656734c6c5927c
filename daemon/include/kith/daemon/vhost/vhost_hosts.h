// VhostHosts: the FOKS hosts this daemon fronts — primaries and their virtual
// hosts — with everything the vhost listener needs per host: its HostDir
// (keys, hostchain), ShortHostID, backend destination pattern, its signed zone
// and its TLS server context (certificate for its hostname, issued at load by
// its TLS CA key, or its primary's for a vhost).
//
// Persistence: the `hosts` and `vhosts` tables (store migration v3) and one
// HostDir per host under `hostsDir`/<name>/. A new host's directory is made
// first, then its row is committed with a ShortHostID allocated by the same
// statement (MAX + 1, UNIQUE): if the commit fails the directory is removed,
// so a host exists only when its row does. Removing a vhost deletes its row
// first (durably), then its directory.
//
// Lookups by hostname (SNI) and by HostID are hash lookups, never scans.
//
// Loop thread only. Admin operations that write files do so on the loop
// thread (a few small files, rarely); the row goes through the store's writer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kith/common/status.h"
#include "kith/daemon/store/store.h"
#include "kith/daemon/tls/vhost_tls.h"
#include "kith/identity/host_dir.h"
#include "kith/identity/host_id.h"
#include "kith/identity/host_zone.h"
#include "kith/identity/hostchain.h"

namespace kith::daemon {

struct VhostHost {
  std::string name;  // the hostname
  identity::HostId id;
  int64_t shortId = 0;
  std::string backend;  // destination pattern of the backend workloads
  std::string primary;  // "" for a primary
  std::unique_ptr<identity::HostDir> dir;
  std::string caPem;      // the TLS CA certificate its certificates chain to
  std::string chainPem;   // server leaf + CA
  std::string leafKeyPem; // the server leaf's key (made at load, memory only)
  SslCtxPtr ctx{nullptr, &wolfSSL_CTX_free};
  identity::HostZone zone;
};

// Where the zone's services are: filled in by the service once listeners bind.
struct VhostEndpoints {
  uint16_t userPort = 0;   // the vhost listener
  uint16_t probePort = 0;  // the probe/beacon listener
};

class VhostHosts {
 public:
  using Done = std::function<void(Status)>;

  VhostHosts(Store& store, std::string hostsDir);

  // Startup: reads the tables and loads every host's directory. A host whose
  // directory no longer loads (tampered chain, loosened key file) is logged
  // and left out, never served.
  Status load();
  void setEndpoints(VhostEndpoints e);

  // host.init: a new primary.
  void initHost(const std::string& name, const std::string& backend, Done done);
  // vhost.add: a new vhost of `primary` (backend: the primary's when empty).
  void addVhost(const std::string& name, const std::string& primary, const std::string& backend, Done done);
  // vhost.remove
  void removeVhost(const std::string& name, Done done);
  // host.rotate: a new key for `role`; re-issues certificates and zones of
  // the host and (for a primary) its vhosts.
  Status rotate(const std::string& name, identity::HostKeyRole role);

  const VhostHost* byName(const std::string& name) const;
  const VhostHost* byId(const identity::HostId& id) const;
  std::vector<const VhostHost*> all() const;  // by ShortHostID
  // The host presented to clients that send no SNI: the primary with the
  // lowest ShortHostID (nullptr when there are no hosts).
  const VhostHost* defaultHost() const;
  // Every host's CA, for the no-SNI context's client verification.
  const std::string& allCasPem() const { return allCas_; }
  WOLFSSL_CTX* defaultCtx() const { return defaultCtx_.get(); }
  // Bumped whenever hosts or their TLS material change.
  uint64_t generation() const { return generation_; }

 private:
  void create(const std::string& name, const std::string& primary, const std::string& backend, Done done);
  Status prepare(VhostHost& h);  // certificate, context, zone
  void rebuildShared();
  void index(std::unique_ptr<VhostHost> h);

  Store& store_;
  std::string hostsDir_;
  VhostEndpoints endpoints_;
  std::unordered_map<std::string, std::unique_ptr<VhostHost>> hosts_;  // by name
  std::unordered_map<identity::HostId, VhostHost*> byId_;
  std::map<std::string, bool> pending_;  // names being created or removed
  std::string allCas_;
  SslCtxPtr defaultCtx_{nullptr, &wolfSSL_CTX_free};
  uint64_t generation_ = 0;
};

}  // namespace kith::daemon
