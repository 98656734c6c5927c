#include "kith/daemon/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <initializer_list>

#include <toml++/toml.h>

#include "kith/common/unique_fd.h"
#include "kith/common/error_list.h"
#include "kith/common/toml_guard.h"
#include "kith/identity/spiffe.h"
#include "kith/policy/address.h"
#include "kith/policy/pattern.h"
#include "kith/daemon/observability/metrics_http.h"

namespace kith::daemon {
namespace {

constexpr size_t kMaxConfigFileBytes = 1 << 20;
constexpr int64_t kMaxConnectionsLimit = 1 << 20;
constexpr int64_t kMinTtlMs = 1000;
constexpr int64_t kMaxTtlLimitMs = 86'400'000;  // one day
constexpr std::string_view kDefaultHome = "/var/lib/kith";
constexpr std::string_view kDevHome = ".kith";
constexpr std::string_view kDevTrustDomain = "dev.kith";

// Problems as "<source>:<line>:<column>: <why>" lines.
class Errors : public ErrorList {
 public:
  using ErrorList::add;
  explicit Errors(std::string_view source) : ErrorList(source) {}
  void add(const toml::source_position& at, std::string_view why) { ErrorList::add(at.line, at.column, why); }
};

std::string_view typeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::none: return "nothing";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
  }
  return "a value";
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "HOST:PORT" with HOST a name, an IPv4 address, "*" or "[IPv6]".
bool validHostPort(std::string_view s, bool allowPortZero, std::string* why) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    *why = "expected HOST:PORT";
    return false;
  }
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      *why = "an IPv6 host must be written [ADDRESS]";
      return false;
    }
  } else if (host.find_first_of(": \t/[]") != std::string_view::npos) {
    *why = "host '" + std::string(host) + "' is not a name or address (IPv6 goes in [brackets])";
    return false;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    *why = "port '" + std::string(port) + "' is not a number";
    return false;
  }
  int p = std::stoi(std::string(port));
  if (p > 65535 || (p == 0 && !allowPortZero)) {
    *why = "port " + std::string(port) + " is out of range (" + (allowPortZero ? "0" : "1") +
           "..65535)";
    return false;
  }
  return true;
}

bool validTcpEndpoint(std::string_view s, bool allowPortZero, std::string* why) {
  constexpr std::string_view kScheme = "tcp://";
  if (s.substr(0, kScheme.size()) != kScheme) {
    *why = "expected tcp://HOST:PORT";
    return false;
  }
  return validHostPort(s.substr(kScheme.size()), allowPortZero, why);
}

bool validGroupName(std::string_view g) {
  if (g.empty() || g.size() > 32 || g.front() == '-') return false;
  return std::all_of(g.begin(), g.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

std::string absolutePath(const std::string& p) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(p, ec);
  if (ec) return p;
  return abs.lexically_normal().string();
}

std::string join(const std::filesystem::path& a, std::string_view b) {
  return (a / std::filesystem::path(b)).lexically_normal().string();
}

// Reads one TOML document into a Config, reporting every problem it finds.
class Parser {
 public:
  Parser(std::string_view source, Errors& errors)
      : errors_(errors), baseDir_(std::filesystem::path(source).parent_path()) {}

  void parse(const toml::table& root, const ConfigOptions& options, Config* c);

 private:
  using Keys = std::initializer_list<std::string_view>;

  static std::string fullKey(std::string_view section, std::string_view key) {
    return section.empty() ? std::string(key) : std::string(section) + "." + std::string(key);
  }

  void checkKeys(const toml::table& t, std::string_view section, Keys known) {
    for (auto&& [key, node] : t) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string msg = "unknown key '" + fullKey(section, key.str()) + "'";
      std::string_view best;
      size_t bestDistance = 3;  // suggest only close spellings
      for (std::string_view k : known) {
        size_t d = editDistance(key.str(), k);
        if (d < bestDistance) {
          bestDistance = d;
          best = k;
        }
      }
      if (!best.empty()) {
        msg += " (did you mean '" + fullKey(section, best) + "'?)";
      } else {
        std::string list;
        for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        msg += section.empty() ? " (known: " + list + ")"
                               : " in [" + std::string(section) + "] (known: " + list + ")";
      }
      errors_.add(key.source().begin, msg);
    }
  }

  // The node at t[key] if it has type `want`; a type mismatch is reported.
  const toml::node* get(const toml::table* t, std::string_view section, std::string_view key,
                        toml::node_type want, std::string_view wantName) {
    if (t == nullptr) return nullptr;
    const toml::node* n = t->get(key);
    if (n == nullptr) return nullptr;
    if (n->type() != want) {
      errors_.add(n->source().begin, fullKey(section, key) + ": expected " +
                                         std::string(wantName) + ", got " +
                                         std::string(typeName(n->type())));
      return nullptr;
    }
    return n;
  }

  const toml::table* section(const toml::table& root, std::string_view name) {
    const toml::node* n = get(&root, "", name, toml::node_type::table, "a table");
    return n != nullptr ? n->as_table() : nullptr;
  }

  const toml::node* string(const toml::table* t, std::string_view section, std::string_view key,
                           std::string* out) {
    const toml::node* n = get(t, section, key, toml::node_type::string, "a string");
    if (n != nullptr) *out = n->as_string()->get();
    return n;
  }

  // A non-empty string; relative paths are taken from the file's directory.
  const toml::node* path(const toml::table* t, std::string_view section, std::string_view key,
                         std::string* out) {
    std::string raw;
    const toml::node* n = string(t, section, key, &raw);
    if (n == nullptr) return nullptr;
    if (raw.empty() || raw.find('\0') != std::string::npos) {
      errors_.add(n->source().begin, fullKey(section, key) + ": expected a path, got " +
                                         (raw.empty() ? "an empty string" : "a NUL character"));
      return nullptr;
    }
    *out = std::filesystem::path(raw).is_absolute() || baseDir_.empty()
               ? std::filesystem::path(raw).lexically_normal().string()
               : join(baseDir_, raw);
    return n;
  }

  const toml::node* boolean(const toml::table* t, std::string_view section, std::string_view key,
                            bool* out) {
    const toml::node* n = get(t, section, key, toml::node_type::boolean, "a boolean");
    if (n != nullptr) *out = n->as_boolean()->get();
    return n;
  }

  const toml::node* integer(const toml::table* t, std::string_view section, std::string_view key,
                            int64_t lo, int64_t hi, int64_t* out) {
    const toml::node* n = get(t, section, key, toml::node_type::integer, "an integer");
    if (n == nullptr) return nullptr;
    int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      errors_.add(n->source().begin, fullKey(section, key) + ": " + std::to_string(v) +
                                         " is out of range (" + std::to_string(lo) + ".." +
                                         std::to_string(hi) + ")");
      return nullptr;
    }
    *out = v;
    return n;
  }

  const toml::node* stringArray(const toml::table* t, std::string_view section,
                                std::string_view key, std::vector<std::string>* out) {
    const toml::node* n = get(t, section, key, toml::node_type::array, "an array of strings");
    if (n == nullptr) return nullptr;
    std::vector<std::string> v;
    bool ok = true;
    size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_string()) {
        errors_.add(e.source().begin, fullKey(section, key) + "[" + std::to_string(i) +
                                          "]: expected a string, got " +
                                          std::string(typeName(e.type())));
        ok = false;
      } else {
        v.push_back(e.as_string()->get());
      }
      ++i;
    }
    if (!ok) return nullptr;
    *out = std::move(v);
    return n;
  }

  void invalid(const toml::node* n, std::string_view key, std::string_view why) {
    errors_.add(n->source().begin, std::string(key) + ": " + std::string(why));
  }

  Errors& errors_;
  std::filesystem::path baseDir_;
};

void Parser::parse(const toml::table& root, const ConfigOptions& options, Config* c) {
  checkKeys(root, "",
            {"machine", "trust_domain", "home", "run_dir", "api", "identity", "store", "lease",
             "log", "policy", "replication", "broker", "upstream", "vhost", "metrics", "health"});

  // --- top level ---
  if (const toml::node* n = string(&root, "", "machine", &c->machine)) {
    Status st = identity::validateMachineName(c->machine);
    if (!st.isOk()) invalid(n, "machine", "'" + c->machine + "' is not a valid machine name: " + st.message());
  } else if (root.get("machine") == nullptr) {
    if (options.dev) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      c->machine = machineNameFromHostname(host);
    } else {
      errors_.add("machine is required (this machine's name: one label of [A-Za-z0-9_-]{1,63})");
    }
  }
  if (const toml::node* n = string(&root, "", "trust_domain", &c->trustDomain)) {
    Status st = identity::validateTrustDomain(c->trustDomain);
    if (!st.isOk()) invalid(n, "trust_domain", st.message());
  } else if (root.get("trust_domain") == nullptr) {
    if (options.dev) {
      c->trustDomain = std::string(kDevTrustDomain);
    } else {
      errors_.add("trust_domain is required (e.g. trust_domain = \"example.org\")");
    }
  }
  path(&root, "", "home", &c->home);
  if (!options.home.empty()) c->home = absolutePath(options.home);
  if (c->home.empty()) c->home = options.dev ? absolutePath(std::string(kDevHome)) : std::string(kDefaultHome);
  path(&root, "", "run_dir", &c->runDir);
  if (c->runDir.empty()) c->runDir = join(c->home, "run");

  // --- [api] ---
  const toml::table* api = section(root, "api");
  if (api != nullptr) checkKeys(*api, "api", {"socket", "admin_socket", "admin_group", "max_connections"});
  path(api, "api", "socket", &c->api.socket);
  if (c->api.socket.empty()) c->api.socket = join(c->runDir, "api.sock");
  path(api, "api", "admin_socket", &c->api.adminSocket);
  if (c->api.adminSocket.empty()) {
    c->api.adminSocket = join(std::filesystem::path(c->api.socket).parent_path(), "admin.sock");
  }
  if (const toml::node* n = string(api, "api", "admin_group", &c->api.adminGroup)) {
    if (!validGroupName(c->api.adminGroup)) {
      invalid(n, "api.admin_group", "'" + c->api.adminGroup + "' is not a group name");
    }
  }
  integer(api, "api", "max_connections", 1, kMaxConnectionsLimit, &c->api.maxConnections);

  // --- [identity], [store] ---
  const toml::table* id = section(root, "identity");
  if (id != nullptr) checkKeys(*id, "identity", {"node_dir", "svid_ttl_s", "watch_ms"});
  path(id, "identity", "node_dir", &c->identity.nodeDir);
  integer(id, "identity", "svid_ttl_s", 2, 30 * 86'400, &c->identity.svidTtlS);
  integer(id, "identity", "watch_ms", 0, 86'400'000, &c->identity.watchMs);
  if (c->identity.nodeDir.empty()) c->identity.nodeDir = join(c->home, "node");
  const toml::table* store = section(root, "store");
  if (store != nullptr) checkKeys(*store, "store", {"path"});
  path(store, "store", "path", &c->store.path);
  if (c->store.path.empty()) c->store.path = join(c->home, "state.db");

  // --- [lease] ---
  const toml::table* lease = section(root, "lease");
  if (lease != nullptr) checkKeys(*lease, "lease", {"default_ttl_ms", "max_ttl_ms"});
  integer(lease, "lease", "max_ttl_ms", kMinTtlMs, kMaxTtlLimitMs, &c->lease.maxTtlMs);
  if (const toml::node* n = integer(lease, "lease", "default_ttl_ms", kMinTtlMs, kMaxTtlLimitMs,
                                    &c->lease.defaultTtlMs)) {
    if (c->lease.defaultTtlMs > c->lease.maxTtlMs) {
      invalid(n, "lease.default_ttl_ms",
              std::to_string(c->lease.defaultTtlMs) + " is larger than lease.max_ttl_ms (" +
                  std::to_string(c->lease.maxTtlMs) + ")");
    }
  } else if (c->lease.defaultTtlMs > c->lease.maxTtlMs) {
    // Only max_ttl_ms was lowered: the default follows it down.
    c->lease.defaultTtlMs = c->lease.maxTtlMs;
  }

  // --- [log] ---
  const toml::table* lg = section(root, "log");
  if (lg != nullptr) checkKeys(*lg, "log", {"format", "level"});
  std::string s;
  if (const toml::node* n = string(lg, "log", "format", &s)) {
    if (s == "auto") c->log.format = LogFormat::kAuto;
    else if (s == "json") c->log.format = LogFormat::kJson;
    else if (s == "text") c->log.format = LogFormat::kText;
    else invalid(n, "log.format", "'" + s + "' is not one of json, text, auto");
  }
  if (const toml::node* n = string(lg, "log", "level", &s)) {
    if (!log::parseLevel(s, &c->log.level)) {
      invalid(n, "log.level", "'" + s + "' is not one of debug, info, warn, error");
    }
  }

  // --- [policy] ---
  const toml::table* pol = section(root, "policy");
  if (pol != nullptr) checkKeys(*pol, "policy", {"file"});
  path(pol, "policy", "file", &c->policy.file);

  // --- [replication] ---
  const toml::table* rep = section(root, "replication");
  if (rep != nullptr) checkKeys(*rep, "replication", {"listen", "seeds"});
  std::string why;
  if (const toml::node* n = string(rep, "replication", "listen", &c->replication.listen)) {
    if (!validTcpEndpoint(c->replication.listen, /*allowPortZero=*/true, &why)) {
      invalid(n, "replication.listen", "'" + c->replication.listen + "': " + why);
    }
  }
  if (const toml::node* n = stringArray(rep, "replication", "seeds", &c->replication.seeds)) {
    const toml::array& arr = *n->as_array();
    for (size_t i = 0; i < c->replication.seeds.size(); ++i) {
      // MACHINE=NODEKEY@tcp://HOST:PORT: the seed's machine name and node public
      // key (64 hex digits), from which its CURVE server key derives; without
      // them no encrypted, authenticated link can be made.
      std::string_view seed = c->replication.seeds[i];
      auto eq = seed.find('=');
      auto at = seed.find('@');
      bool shapeOk = eq != std::string_view::npos && at == eq + 65 &&
                     identity::isValidMachineName(seed.substr(0, eq)) &&
                     seed.substr(eq + 1, 64).find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
      if (!shapeOk) {
        invalid(arr.get(i), "replication.seeds[" + std::to_string(i) + "]",
                "'" + c->replication.seeds[i] +
                    "': expected MACHINE=NODEKEY@tcp://HOST:PORT (the seed's machine name and node "
                    "public key in 64 hex digits; `kithctl status` on that machine prints it)");
        continue;
      }
      if (!validTcpEndpoint(seed.substr(at + 1), /*allowPortZero=*/false, &why)) {
        invalid(arr.get(i), "replication.seeds[" + std::to_string(i) + "]",
                "'" + c->replication.seeds[i] + "': " + why);
      }
    }
  }

  // --- [[upstream]] ---
  if (const toml::node* n = root.get("upstream")) {
    if (!n->is_array_of_tables()) {
      invalid(n, "upstream", "expected an array of tables ([[upstream]])");
    } else {
      size_t i = 0;
      for (const toml::node& e : *n->as_array()) {
        const toml::table* t = e.as_table();
        std::string key = "upstream[" + std::to_string(i++) + "]";
        checkKeys(*t, key, {"name", "listen", "destination", "timeout_ms"});
        UpstreamConfig u;
        const toml::node* nn = string(t, key, "name", &u.name);
        const toml::node* ln = string(t, key, "listen", &u.listen);
        const toml::node* dn = string(t, key, "destination", &u.destination);
        integer(t, key, "timeout_ms", 1, 600000, &u.timeoutMs);
        if (!nn || !ln || !dn) {
          invalid(&e, key, "needs name, listen and destination");
          continue;
        }
        if (std::count(u.name.begin(), u.name.end(), '.') != 3) {
          invalid(nn, key + ".name", "'" + u.name + "': expected four labels (scope.group.identity.resource)");
        }
        if (!validHostPort(u.listen, /*allowPortZero=*/true, &why)) {
          invalid(ln, key + ".listen", "'" + u.listen + "': " + why);
        }
        if (auto p = policy::Pattern::parse(u.destination); !p.isOk()) {
          invalid(dn, key + ".destination", "'" + u.destination + "': " + p.status().message());
        }
        c->upstreams.push_back(std::move(u));
      }
    }
  }

  // --- [broker] ---
  const toml::table* broker = section(root, "broker");
  if (broker != nullptr) checkKeys(*broker, "broker", {"listen", "advertise", "local_handoff", "udp_idle_ms"});
  integer(broker, "broker", "udp_idle_ms", 100, 86400000, &c->broker.udpIdleMs);
  if (const toml::node* n = string(broker, "broker", "advertise", &c->broker.advertise)) {
    if (!validHostPort(c->broker.advertise, /*allowPortZero=*/false, &why)) {
      invalid(n, "broker.advertise", "'" + c->broker.advertise + "': " + why);
    }
  }
  boolean(broker, "broker", "local_handoff", &c->broker.localHandoff);
  if (const toml::node* n = string(broker, "broker", "listen", &c->broker.listen)) {
    if (!validHostPort(c->broker.listen, /*allowPortZero=*/true, &why)) {
      invalid(n, "broker.listen", "'" + c->broker.listen + "': " + why);
    }
  }

  // --- [vhost] ---
  const toml::table* vhost = section(root, "vhost");
  if (vhost != nullptr) checkKeys(*vhost, "vhost", {"listen", "probe_listen", "hosts_dir", "name"});
  if (const toml::node* n = string(vhost, "vhost", "listen", &c->vhost.listen)) {
    if (!validHostPort(c->vhost.listen, /*allowPortZero=*/true, &why)) {
      invalid(n, "vhost.listen", "'" + c->vhost.listen + "': " + why);
    }
  }
  if (const toml::node* n = string(vhost, "vhost", "probe_listen", &c->vhost.probeListen)) {
    if (!validHostPort(c->vhost.probeListen, /*allowPortZero=*/true, &why)) {
      invalid(n, "vhost.probe_listen", "'" + c->vhost.probeListen + "': " + why);
    }
  }
  const toml::node* nameNode = string(vhost, "vhost", "name", &c->vhost.name);
  if (nameNode != nullptr) {
    if (auto a = policy::Address::fromName(c->vhost.name, "machine"); !a.isOk()) {
      invalid(nameNode, "vhost.name", "'" + c->vhost.name + "': " + a.status().message() +
                                          " (expected four labels: scope.group.identity.resource)");
    }
  }
  // The daemon registers both in its own name: one would replace the other.
  for (const UpstreamConfig& u : c->upstreams) {
    if (vhost != nullptr && !c->vhost.listen.empty() && u.name == c->vhost.name) {
      invalid(nameNode != nullptr ? nameNode : static_cast<const toml::node*>(vhost), "vhost.name",
              "'" + c->vhost.name + "' is also an [[upstream]] name; give the vhost listener a name of its own");
    }
  }
  path(vhost, "vhost", "hosts_dir", &c->vhost.hostsDir);
  if (c->vhost.hostsDir.empty()) c->vhost.hostsDir = join(c->home, "hosts");
  // --- [metrics] --- (the HTTP listener: off unless listen is set; loopback only unless allowed)
  const toml::table* met = section(root, "metrics");
  if (met != nullptr) checkKeys(*met, "metrics", {"listen", "allow_non_loopback"});
  boolean(met, "metrics", "allow_non_loopback", &c->metrics.allowNonLoopback);
  if (const toml::node* n = string(met, "metrics", "listen", &c->metrics.listen)) {
    std::string host;
    uint16_t port = 0;
    bool loopback = false;
    Status st = MetricsHttp::parseListen(c->metrics.listen, /*allowPortZero=*/true, &host, &port, &loopback);
    if (!st.isOk()) {
      invalid(n, "metrics.listen", st.message());
    } else if (!loopback && !c->metrics.allowNonLoopback) {
      invalid(n, "metrics.listen",
              "'" + c->metrics.listen + "' is not a loopback address; the metrics are unauthenticated, so "
              "set metrics.allow_non_loopback = true to serve them beyond this machine");
    }
  }

  // --- [health] ---
  const toml::table* hl = section(root, "health");
  if (hl != nullptr) checkKeys(*hl, "health", {"interval_ms"});
  integer(hl, "health", "interval_ms", 100, 86'400'000, &c->health.intervalMs);
}

}  // namespace

std::string_view logFormatName(LogFormat f) {
  switch (f) {
    case LogFormat::kAuto: return "auto";
    case LogFormat::kJson: return "json";
    case LogFormat::kText: return "text";
  }
  return "auto";
}

std::string machineNameFromHostname(std::string_view hostname) {
  std::string_view first = hostname.substr(0, hostname.find('.'));
  std::string out;
  for (char c : first) {
    if (out.size() == identity::kMaxLabelLength) break;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    out.push_back(ok ? c : '-');
  }
  return out.empty() ? "dev" : out;
}

Result<Config> parseConfig(std::string_view text, std::string_view sourceName,
                           const ConfigOptions& options) {
  // toml++ reports syntax errors by exception (Debian builds it with exceptions
  // on); this is before the loop runs, and nothing escapes this function.
  if (auto hazard = findTomlHazard(text)) {
    // Input that would crash toml++ itself (see toml_guard.h).
    Errors errors(sourceName);
    errors.add(hazard->line, hazard->why);
    return errors.status();
  }
  try {
    Errors errors(sourceName);
    toml::table root = toml::parse(text, sourceName);
    Config c;
    c.source = std::string(sourceName);
    Parser(sourceName, errors).parse(root, options, &c);
    if (errors.any()) return errors.status();
    return c;
  } catch (const toml::parse_error& e) {
    Errors errors(sourceName);
    errors.add(e.source().begin, e.description());
    return errors.status();
  } catch (const std::exception& e) {
    return Status::config(std::string(sourceName) + ": " + e.what());
  } catch (...) {
    return Status::config(std::string(sourceName) + ": unexpected error while parsing");
  }
}

Result<Config> loadConfig(const std::string& path, const ConfigOptions& options) {
  const std::string abs = absolutePath(path);
  UniqueFd fd(::open(abs.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::config(abs + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buf[1 << 14];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::config(abs + ": cannot read: " + std::strerror(errno));
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > kMaxConfigFileBytes) {
      return Status::config(abs + ": larger than 1 MiB; not a kithd configuration");
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return parseConfig(text, abs, options);
}

Config devConfig(const std::string& home) {
  ConfigOptions o;
  o.dev = true;
  o.home = home.empty() ? std::string(kDevHome) : home;
  auto c = parseConfig("", "<dev>", o);
  // An empty document has nothing that can be wrong.
  assert(c.isOk());
  return std::move(c).value();
}

Status applyReload(Config& live, const Config& fresh) {
  live.log.level = fresh.log.level;
  live.policy.file = fresh.policy.file;
  live.lease = fresh.lease;

  struct Fixed {
    std::string_view key;
    std::function<bool(const Config&, const Config&)> same;
  };
  const Fixed fixed[] = {
      {"machine", [](auto& a, auto& b) { return a.machine == b.machine; }},
      {"trust_domain", [](auto& a, auto& b) { return a.trustDomain == b.trustDomain; }},
      {"home", [](auto& a, auto& b) { return a.home == b.home; }},
      {"run_dir", [](auto& a, auto& b) { return a.runDir == b.runDir; }},
      {"api.socket", [](auto& a, auto& b) { return a.api.socket == b.api.socket; }},
      {"api.admin_socket", [](auto& a, auto& b) { return a.api.adminSocket == b.api.adminSocket; }},
      {"api.admin_group", [](auto& a, auto& b) { return a.api.adminGroup == b.api.adminGroup; }},
      {"api.max_connections",
       [](auto& a, auto& b) { return a.api.maxConnections == b.api.maxConnections; }},
      {"identity.node_dir", [](auto& a, auto& b) { return a.identity.nodeDir == b.identity.nodeDir; }},
      {"identity.svid_ttl_s", [](auto& a, auto& b) { return a.identity.svidTtlS == b.identity.svidTtlS; }},
      {"identity.watch_ms", [](auto& a, auto& b) { return a.identity.watchMs == b.identity.watchMs; }},
      {"store.path", [](auto& a, auto& b) { return a.store.path == b.store.path; }},
      {"log.format", [](auto& a, auto& b) { return a.log.format == b.log.format; }},
      {"replication.listen",
       [](auto& a, auto& b) { return a.replication.listen == b.replication.listen; }},
      {"replication.seeds",
       [](auto& a, auto& b) { return a.replication.seeds == b.replication.seeds; }},
      {"broker.listen", [](auto& a, auto& b) { return a.broker.listen == b.broker.listen; }},
      {"broker.advertise", [](auto& a, auto& b) { return a.broker.advertise == b.broker.advertise; }},
      {"broker.udp_idle_ms", [](auto& a, auto& b) { return a.broker.udpIdleMs == b.broker.udpIdleMs; }},
      {"upstream", [](auto& a, auto& b) { return a.upstreams == b.upstreams; }},
      {"vhost", [](auto& a, auto& b) { return a.vhost == b.vhost; }},
      {"broker.local_handoff",
       [](auto& a, auto& b) { return a.broker.localHandoff == b.broker.localHandoff; }},
      {"metrics", [](auto& a, auto& b) { return a.metrics == b.metrics; }},
      {"health.interval_ms", [](auto& a, auto& b) { return a.health == b.health; }},
  };
  std::string changed;
  for (const auto& f : fixed) {
    if (!f.same(live, fresh)) changed += (changed.empty() ? "" : ", ") + std::string(f.key);
  }
  if (changed.empty()) return Status::ok();
  return Status::config("reload cannot change " + changed +
                        " (restart kithd to apply); the running values stay");
}

}  // namespace kith::daemon
