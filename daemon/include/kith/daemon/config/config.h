// Config: kithd's settings, read from a TOML file (kithd.toml(5)) or built in
// for `kithd --dev`.
//
// Parsing happens once at start (and again on SIGHUP) before anything is
// served; it is the one place exceptions are used (toml++ reports errors that
// way) and none escapes parseConfig/loadConfig. A bad file is rejected whole:
// every problem is reported as "FILE:LINE:COLUMN: what is wrong", one per line
// of the Status message — TOML syntax, wrong types ("api.max_connections:
// expected an integer, got a string"), values out of range, invalid names, and
// unknown keys (a typo such as `[lease] defualt_ttl_ms` is an error, never
// silently ignored).
//
// All paths in a Config are resolved: relative paths in the file are taken
// relative to the directory of the file, and the defaults derived from `home`
// are filled in. Config is a plain value; it has no thread rules of its own.
//
// Reload (SIGHUP): only the keys in kReloadableKeys take effect in a running
// daemon; applyReload() copies those and reports any other key that changed.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/log.h"
#include "kith/common/status.h"

namespace kith::daemon {

enum class LogFormat { kAuto, kJson, kText };  // auto: text on a terminal

struct ApiConfig {
  std::string socket;       // default RUN_DIR/api.sock
  std::string adminSocket;  // default admin.sock beside `socket`
  std::string adminGroup;   // "" = none: admin.sock is root-only (0600)
  int64_t maxConnections = 16384;

  bool operator==(const ApiConfig&) const = default;
};

struct IdentityConfig {
  std::string nodeDir;  // node.key, node.crt, ca.crt; default HOME/node
  int64_t svidTtlS = 3600;  // lifetime of workload X.509-SVIDs (`svid` op); rotated at half
  int64_t watchMs = 10000;  // how often node_dir is checked for a rotated identity; 0: SIGHUP only

  bool operator==(const IdentityConfig&) const = default;
};

struct StoreConfig {
  std::string path;  // default HOME/state.db

  bool operator==(const StoreConfig&) const = default;
};

struct LeaseConfig {
  int64_t defaultTtlMs = 30000;    // register's ttl_ms when the client gives none
  int64_t maxTtlMs = 3'600'000;    // largest ttl_ms a client may ask for

  bool operator==(const LeaseConfig&) const = default;
};

struct LogConfig {
  LogFormat format = LogFormat::kAuto;
  log::Level level = log::Level::kInfo;

  bool operator==(const LogConfig&) const = default;
};

struct PolicyConfig {
  std::string file;  // "" = no operator rules (default deny + whitelists)

  bool operator==(const PolicyConfig&) const = default;
};

struct ReplicationConfig {
  std::string listen;               // "tcp://HOST:PORT"; "" = replication off
  std::vector<std::string> seeds;   // "tcp://HOST:PORT" each

  bool operator==(const ReplicationConfig&) const = default;
};

struct BrokerConfig {
  std::string listen;  // "HOST:PORT"; "" = no tunnels to/from other machines
  // What other daemons dial, published in our infra record; "" = the bound
  // address (required when listen is a wildcard address).
  std::string advertise;
  int64_t udpIdleMs = 60000;  // a UDP flow with no datagram this long is closed
  // Local connects hand the server's descriptor straight to the caller (zero
  // copies) instead of relaying; such streams cannot be closed by a policy
  // reload or a deregistration. Default: relay.
  bool localHandoff = false;

  bool operator==(const BrokerConfig&) const = default;
};

// [[upstream]]: a local TCP port forwarded into the mesh (see Upstream).
struct UpstreamConfig {
  std::string name;         // scope.group.identity.resource (4 labels)
  std::string listen;       // HOST:PORT, loopback unless the operator says otherwise
  std::string destination;  // address or pattern
  int64_t timeoutMs = 5000;

  bool operator==(const UpstreamConfig&) const = default;
};

// FOKS virtual hosts (docs/ARCHITECTURE.md "FOKS virtual hosts").
struct VhostConfig {
  std::string listen;       // "HOST:PORT" of the vhost TLS listener; "" = off
  std::string probeListen;  // "HOST:PORT" of the probe/beacon TLS listener; "" = off
  std::string hostsDir;     // host keys and chains; default HOME/hosts
  std::string name = "vhost.kithd.listener.default";  // the listener's workload: the source policy sees

  bool operator==(const VhostConfig&) const = default;
};

struct MetricsConfig {
  std::string listen;              // "127.0.0.1:9464"; "" = no HTTP listener (kithctl metrics still works)
  bool allowNonLoopback = false;   // listen may name a non-loopback address

  bool operator==(const MetricsConfig&) const = default;
};

struct HealthConfig {
  int64_t intervalMs = 60000;  // how often health is checked (and action-required repeated)

  bool operator==(const HealthConfig&) const = default;
};

struct Config {
  std::string source;        // the file it came from, or "<dev>"
  std::string machine;       // one address label [A-Za-z0-9_-]{1,63} (identity::validateMachineName)
  std::string trustDomain;   // SPIFFE trust domain, e.g. "example.org"
  std::string home;          // state directory
  std::string runDir;        // sockets and one-shot stream sockets; default HOME/run
  ApiConfig api;
  IdentityConfig identity;
  StoreConfig store;
  LeaseConfig lease;
  LogConfig log;
  PolicyConfig policy;
  ReplicationConfig replication;
  BrokerConfig broker;
  std::vector<UpstreamConfig> upstreams;
  VhostConfig vhost;
  MetricsConfig metrics;
  HealthConfig health;

  bool operator==(const Config&) const = default;
};

// Keys a SIGHUP reload applies to a running daemon.
inline constexpr std::array<std::string_view, 4> kReloadableKeys = {
    "log.level", "policy.file", "lease.default_ttl_ms", "lease.max_ttl_ms"};

struct ConfigOptions {
  // `kithd --dev`: machine and trust_domain may be omitted (defaults: this
  // host's sanitized first hostname label, and "dev.kith").
  bool dev = false;
  // `kithd --home DIR`: overrides `home` from the file when non-empty.
  std::string home;
};

// Reads and parses the file at `path`; relative paths inside it are resolved
// against the file's directory (made absolute first).
Result<Config> loadConfig(const std::string& path, const ConfigOptions& options = {});
// Parses `text`; `sourceName` is used in messages and its directory (if it has
// one) is the base for relative paths.
Result<Config> parseConfig(std::string_view text, std::string_view sourceName,
                           const ConfigOptions& options = {});
// The built-in `kithd --dev` configuration: everything under `home`
// (sockets under HOME/run), machine from the hostname, trust domain "dev.kith".
Config devConfig(const std::string& home);

// Copies the reloadable keys of `fresh` into `live`. Returns ok if nothing else
// differs; otherwise a Code::kConfig error naming every non-reloadable key that
// changed — those keep their running values in `live` (the daemon logs the
// error and goes on).
Status applyReload(Config& live, const Config& fresh);

// A hostname's first label with every character outside [A-Za-z0-9_-] replaced
// by '-', cut to 63 characters; "dev" if nothing is left.
std::string machineNameFromHostname(std::string_view hostname);

std::string_view logFormatName(LogFormat f);

}  // namespace kith::daemon
