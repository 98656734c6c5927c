#include "kith/daemon/config/config.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "kith/identity/spiffe.h"

using kith::Code;
using kith::daemon::applyReload;
using kith::daemon::Config;
using kith::daemon::ConfigOptions;
using kith::daemon::LogFormat;
using kith::daemon::parseConfig;

namespace {

constexpr const char* kSource = "/etc/kith/kithd.toml";

Config parseOk(const std::string& text, const ConfigOptions& o = {}) {
  auto c = parseConfig(text, kSource, o);
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().toString());
  return std::move(c).value();
}

// The error message of a config that must be rejected.
std::string parseErr(const std::string& text, const ConfigOptions& o = {}) {
  auto c = parseConfig(text, kSource, o);
  BOOST_REQUIRE_MESSAGE(!c.isOk(), "accepted:\n" << text);
  BOOST_TEST((c.status().code() == Code::kConfig));
  return c.status().message();
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

const std::string kMinimal = "machine = \"node1\"\ntrust_domain = \"example.org\"\n";

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/kith-config-test-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_config)

BOOST_AUTO_TEST_CASE(full_file_sets_every_key) {
  Config c = parseOk(R"(
machine = "node-1_a"
trust_domain = "example.org"
home = "/srv/kith"
run_dir = "/run/kith"
[api]
socket = "/run/kith/api.sock"
admin_socket = "/run/kith/adm/admin.sock"
admin_group = "kith"
max_connections = 1000
[identity]
node_dir = "/etc/kith/node"
[store]
path = "/srv/db/state.db"
[lease]
default_ttl_ms = 10000
max_ttl_ms = 60000
[log]
format = "json"
level = "debug"
[policy]
file = "/etc/kith/policy.toml"
[replication]
listen = "tcp://0.0.0.0:7401"
seeds = ["n2=abababababababababababababababababababababababababababababababab@tcp://10.0.0.2:7401", "n3=abababababababababababababababababababababababababababababababab@tcp://[fd00::3]:7401"]
[broker]
listen = "0.0.0.0:7402"
)");
  BOOST_TEST(c.source == kSource);
  BOOST_TEST(c.machine == "node-1_a");
  BOOST_TEST(c.trustDomain == "example.org");
  BOOST_TEST(c.home == "/srv/kith");
  BOOST_TEST(c.runDir == "/run/kith");
  BOOST_TEST(c.api.socket == "/run/kith/api.sock");
  BOOST_TEST(c.api.adminSocket == "/run/kith/adm/admin.sock");
  BOOST_TEST(c.api.adminGroup == "kith");
  BOOST_TEST(c.api.maxConnections == 1000);
  BOOST_TEST(c.identity.nodeDir == "/etc/kith/node");
  BOOST_TEST(c.store.path == "/srv/db/state.db");
  BOOST_TEST(c.lease.defaultTtlMs == 10000);
  BOOST_TEST(c.lease.maxTtlMs == 60000);
  BOOST_TEST((c.log.format == LogFormat::kJson));
  BOOST_TEST((c.log.level == kith::log::Level::kDebug));
  BOOST_TEST(c.policy.file == "/etc/kith/policy.toml");
  BOOST_TEST(c.replication.listen == "tcp://0.0.0.0:7401");
  BOOST_TEST((c.replication.seeds ==
              std::vector<std::string>{"n2=abababababababababababababababababababababababababababababababab@tcp://10.0.0.2:7401", "n3=abababababababababababababababababababababababababababababababab@tcp://[fd00::3]:7401"}));
  BOOST_TEST(c.broker.listen == "0.0.0.0:7402");
}

BOOST_AUTO_TEST_CASE(defaults_are_derived_from_home) {
  Config c = parseOk(kMinimal + "home = \"/srv/kith\"\n");
  BOOST_TEST(c.runDir == "/srv/kith/run");
  BOOST_TEST(c.api.socket == "/srv/kith/run/api.sock");
  BOOST_TEST(c.api.adminSocket == "/srv/kith/run/admin.sock");
  BOOST_TEST(c.api.adminGroup == "");
  BOOST_TEST(c.api.maxConnections == 16384);
  BOOST_TEST(c.identity.nodeDir == "/srv/kith/node");
  BOOST_TEST(c.store.path == "/srv/kith/state.db");
  BOOST_TEST(c.lease.defaultTtlMs == 30000);
  BOOST_TEST(c.lease.maxTtlMs == 3600000);
  BOOST_TEST((c.log.format == LogFormat::kAuto));
  BOOST_TEST((c.log.level == kith::log::Level::kInfo));
  BOOST_TEST(c.policy.file.empty());
  BOOST_TEST(c.replication.listen.empty());
  BOOST_TEST(c.replication.seeds.empty());
  BOOST_TEST(c.broker.listen.empty());

  Config d = parseOk(kMinimal);
  BOOST_TEST(d.home == "/var/lib/kith");
  BOOST_TEST(d.api.socket == "/var/lib/kith/run/api.sock");

  // admin.sock sits beside a configured api socket.
  Config e = parseOk(kMinimal + "[api]\nsocket = \"/run/kith/api.sock\"\n");
  BOOST_TEST(e.api.adminSocket == "/run/kith/admin.sock");

  // Lowering only max_ttl_ms pulls the default down with it.
  Config f = parseOk(kMinimal + "[lease]\nmax_ttl_ms = 5000\n");
  BOOST_TEST(f.lease.defaultTtlMs == 5000);
}

BOOST_AUTO_TEST_CASE(syntax_error_names_file_line_and_column) {
  std::string m = parseErr(kMinimal + "[api]\nmax_connections = = 3\n");
  BOOST_TEST(m.rfind("/etc/kith/kithd.toml:4:", 0) == 0u, m);
  m = parseErr("machine = \"node1\"\n[api\n");
  BOOST_TEST(m.rfind("/etc/kith/kithd.toml:2:", 0) == 0u, m);
  m = parseErr(kMinimal + "machine = \"again\"\n");  // duplicate key
  BOOST_TEST(m.rfind("/etc/kith/kithd.toml:3:", 0) == 0u, m);
}

BOOST_AUTO_TEST_CASE(wrong_type_names_key_expected_and_actual_type) {
  std::string m = parseErr(kMinimal + "[api]\nmax_connections = \"many\"\n");
  BOOST_TEST(m == "/etc/kith/kithd.toml:4:19: api.max_connections: expected an integer, got a string");
  m = parseErr(kMinimal + "[lease]\ndefault_ttl_ms = 1.5\n");
  BOOST_TEST(contains(m, ":4:18: lease.default_ttl_ms: expected an integer, got a floating-point number"), m);
  m = parseErr(kMinimal + "api = 5\n");
  BOOST_TEST(contains(m, ":3:7: api: expected a table, got an integer"), m);
  m = parseErr(kMinimal + "[replication]\nseeds = [\"tcp://a:1\", 7]\n");
  BOOST_TEST(contains(m, ":4:23: replication.seeds[1]: expected a string, got an integer"), m);
  m = parseErr("machine = 7\ntrust_domain = \"example.org\"\n");
  BOOST_TEST(contains(m, ":1:11: machine: expected a string, got an integer"), m);
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_rejected_with_their_line) {
  std::string m = parseErr(kMinimal + "[api]\nmax_connections = 0\n");
  BOOST_TEST(contains(m, "kithd.toml:4:19: api.max_connections: 0 is out of range (1..1048576)"), m);
  m = parseErr(kMinimal + "[lease]\ndefault_ttl_ms = 10\n");
  BOOST_TEST(contains(m, "kithd.toml:4:18: lease.default_ttl_ms: 10 is out of range"), m);
  m = parseErr(kMinimal + "[lease]\nmax_ttl_ms = 10000\ndefault_ttl_ms = 20000\n");
  BOOST_TEST(contains(m, "kithd.toml:5:18: lease.default_ttl_ms: 20000 is larger than lease.max_ttl_ms (10000)"), m);
  m = parseErr(kMinimal + "[broker]\nlisten = \"127.0.0.1:70000\"\n");
  BOOST_TEST(contains(m, "kithd.toml:4:10: broker.listen: '127.0.0.1:70000': port 70000 is out of range"), m);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_errors_naming_key_and_line) {
  std::string m = parseErr(kMinimal + "[lease]\ndefualt_ttl_ms = 5000\n");
  BOOST_TEST(m == "/etc/kith/kithd.toml:4:1: unknown key 'lease.defualt_ttl_ms' "
                  "(did you mean 'lease.default_ttl_ms'?)");
  m = parseErr(kMinimal + "[tunnel]\nport = 1\n");
  BOOST_TEST(contains(m, ":3:2: unknown key 'tunnel' (known: machine,"), m);
  m = parseErr(kMinimal + "[api]\nsocket_path = \"/x\"\n");
  BOOST_TEST(contains(m, ":4:1: unknown key 'api.socket_path' in [api] (known: socket, admin_socket,"), m);
  m = parseErr(kMinimal + "hme = \"/x\"\n");
  BOOST_TEST(contains(m, ":3:1: unknown key 'hme' (did you mean 'home'?)"), m);
}

BOOST_AUTO_TEST_CASE(bad_machine_and_names_are_rejected) {
  std::string m = parseErr("machine = \"node.1\"\ntrust_domain = \"example.org\"\n");
  BOOST_TEST(contains(m, "kithd.toml:1:11: machine: 'node.1' is not a valid machine name"), m);
  m = parseErr("machine = \"" + std::string(64, 'a') + "\"\ntrust_domain = \"example.org\"\n");
  BOOST_TEST(contains(m, "kithd.toml:1:11: machine:"), m);
  m = parseErr("machine = \"\"\ntrust_domain = \"example.org\"\n");
  BOOST_TEST(contains(m, "kithd.toml:1:11: machine:"), m);
  m = parseErr("trust_domain = \"example.org\"\n");
  BOOST_TEST(contains(m, "/etc/kith/kithd.toml: machine is required"), m);
  m = parseErr("machine = \"n1\"\ntrust_domain = \"Example.org\"\n");
  BOOST_TEST(contains(m, "kithd.toml:2:16: trust_domain:"), m);
  m = parseErr("machine = \"n1\"\n");
  BOOST_TEST(contains(m, "trust_domain is required"), m);
}

BOOST_AUTO_TEST_CASE(bad_enumerations_and_endpoints_are_rejected) {
  std::string m = parseErr(kMinimal + "[log]\nformat = \"xml\"\nlevel = \"loud\"\n");
  BOOST_TEST(contains(m, ":4:10: log.format: 'xml' is not one of json, text, auto"), m);
  BOOST_TEST(contains(m, ":5:9: log.level: 'loud' is not one of debug, info, warn, error"), m);
  m = parseErr(kMinimal + "[replication]\nlisten = \"127.0.0.1:7401\"\n"
                          "seeds = [\"a=abababababababababababababababababababababababababababababababab@tcp://a:1\", \"b=abababababababababababababababababababababababababababababababab@tcp://b\"]\n");
  BOOST_TEST(contains(m, ":4:10: replication.listen: '127.0.0.1:7401': expected tcp://HOST:PORT"), m);
  BOOST_TEST(contains(m, ":5:90: replication.seeds[1]: 'b=abababababababababababababababababababababababababababababababab@tcp://b': expected HOST:PORT"), m);
  m = parseErr(kMinimal + "[replication]\nseeds = [\"tcp://a:1\"]\n");
  BOOST_TEST(contains(m, ":4:10: replication.seeds[0]: 'tcp://a:1': expected MACHINE=NODEKEY@tcp://HOST:PORT"), m);
  m = parseErr(kMinimal + "[api]\nadmin_group = \"-x y\"\nsocket = \"\"\n");
  BOOST_TEST(contains(m, ":4:15: api.admin_group: '-x y' is not a group name"), m);
  BOOST_TEST(contains(m, ":5:10: api.socket: expected a path, got an empty string"), m);
}

BOOST_AUTO_TEST_CASE(every_error_in_a_file_is_reported_at_once) {
  std::string m = parseErr("machine = \"a b\"\n[lease]\nmax_ttl = 1\n[log]\nlevel = 3\n");
  BOOST_TEST(std::count(m.begin(), m.end(), '\n') == 3, m);  // four lines
  BOOST_TEST(contains(m, ":1:11: machine:"), m);
  BOOST_TEST(contains(m, "trust_domain is required"), m);
  BOOST_TEST(contains(m, ":3:1: unknown key 'lease.max_ttl'"), m);
  BOOST_TEST(contains(m, ":5:9: log.level: expected a string, got an integer"), m);
}

BOOST_AUTO_TEST_CASE(relative_paths_resolve_against_the_config_files_directory) {
  TempDir dir;
  std::filesystem::create_directories(dir.path + "/etc");
  const std::string file = dir.path + "/etc/kithd.toml";
  std::ofstream(file) << kMinimal
                      << "home = \"state\"\n[store]\npath = \"../db/./state.db\"\n"
                         "[policy]\nfile = \"policy.toml\"\n[api]\nsocket = \"/abs/api.sock\"\n";
  auto c = kith::daemon::loadConfig(file);
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().toString());
  BOOST_TEST(c->source == file);
  BOOST_TEST(c->home == dir.path + "/etc/state");
  BOOST_TEST(c->runDir == dir.path + "/etc/state/run");
  BOOST_TEST(c->identity.nodeDir == dir.path + "/etc/state/node");
  BOOST_TEST(c->store.path == dir.path + "/db/state.db");
  BOOST_TEST(c->policy.file == dir.path + "/etc/policy.toml");
  BOOST_TEST(c->api.socket == "/abs/api.sock");

  // --home on the command line wins over the file, and is relative to the cwd.
  ConfigOptions o;
  o.home = "/opt/kith";
  auto h = kith::daemon::loadConfig(file, o);
  BOOST_REQUIRE(h.isOk());
  BOOST_TEST(h->home == "/opt/kith");
  BOOST_TEST(h->api.adminSocket == "/abs/admin.sock");
  BOOST_TEST(h->identity.nodeDir == "/opt/kith/node");

  auto missing = kith::daemon::loadConfig(dir.path + "/nope.toml");
  BOOST_REQUIRE(!missing.isOk());
  BOOST_TEST((missing.status().code() == Code::kConfig));
  BOOST_TEST(contains(missing.status().message(), dir.path + "/nope.toml: cannot open"));

  // Errors from a loaded file carry its absolute path.
  std::ofstream(file) << kMinimal << "[lease]\nmax_ttl_ms = \"x\"\n";
  auto bad = kith::daemon::loadConfig(file);
  BOOST_REQUIRE(!bad.isOk());
  BOOST_TEST(contains(bad.status().message(), file + ":4:14: lease.max_ttl_ms"), bad.status().message());
}

BOOST_AUTO_TEST_CASE(dev_mode_needs_no_machine_or_trust_domain) {
  Config c = kith::daemon::devConfig("/tmp/kith-dev-home");
  BOOST_TEST(c.source == "<dev>");
  BOOST_TEST(!c.machine.empty());
  BOOST_TEST(kith::identity::isValidMachineName(c.machine));
  BOOST_TEST(c.trustDomain == "dev.kith");
  BOOST_TEST(c.home == "/tmp/kith-dev-home");
  BOOST_TEST(c.api.socket == "/tmp/kith-dev-home/run/api.sock");
  BOOST_TEST(c.api.adminSocket == "/tmp/kith-dev-home/run/admin.sock");
  BOOST_TEST(c.store.path == "/tmp/kith-dev-home/state.db");
  BOOST_TEST(c.identity.nodeDir == "/tmp/kith-dev-home/node");

  // A file used with --dev may still name them.
  ConfigOptions dev;
  dev.dev = true;
  dev.home = "/tmp/h";
  Config d = parseOk("machine = \"m2\"\n[lease]\ndefault_ttl_ms = 2000\n", dev);
  BOOST_TEST(d.machine == "m2");
  BOOST_TEST(d.trustDomain == "dev.kith");
  BOOST_TEST(d.lease.defaultTtlMs == 2000);
  // ... but a wrong one is still wrong.
  parseErr("machine = \"m.2\"\n", dev);
}

BOOST_AUTO_TEST_CASE(machine_name_from_hostname_is_one_sanitized_label) {
  using kith::daemon::machineNameFromHostname;
  BOOST_TEST(machineNameFromHostname("web-01.example.org") == "web-01");
  BOOST_TEST(machineNameFromHostname("my_host!x") == "my_host-x");
  BOOST_TEST(machineNameFromHostname("") == "dev");
  BOOST_TEST(machineNameFromHostname(".local") == "dev");
  BOOST_TEST(machineNameFromHostname(std::string(100, 'h')) == std::string(63, 'h'));
}

BOOST_AUTO_TEST_CASE(reload_applies_reloadable_keys_and_names_the_others) {
  Config live = parseOk(kMinimal + "[log]\nlevel = \"info\"\n");
  Config fresh = parseOk(kMinimal +
                         "[log]\nlevel = \"debug\"\n[lease]\ndefault_ttl_ms = 5000\n"
                         "max_ttl_ms = 60000\n[policy]\nfile = \"/etc/kith/p.toml\"\n");
  BOOST_TEST(applyReload(live, fresh).isOk());
  BOOST_TEST((live.log.level == kith::log::Level::kDebug));
  BOOST_TEST(live.lease.defaultTtlMs == 5000);
  BOOST_TEST(live.lease.maxTtlMs == 60000);
  BOOST_TEST(live.policy.file == "/etc/kith/p.toml");
  BOOST_TEST((live == fresh));

  Config changed = parseOk("machine = \"node2\"\ntrust_domain = \"example.org\"\n"
                           "[api]\nsocket = \"/x/api.sock\"\n[log]\nlevel = \"warn\"\n");
  kith::Status st = applyReload(live, changed);
  BOOST_REQUIRE(!st.isOk());
  BOOST_TEST((st.code() == Code::kConfig));
  BOOST_TEST(contains(st.message(), "machine, api.socket, api.admin_socket"), st.message());
  BOOST_TEST(!contains(st.message(), "log.level"));
  BOOST_TEST(live.machine == "node1");                              // kept
  BOOST_TEST(live.api.socket == "/var/lib/kith/run/api.sock");      // kept
  BOOST_TEST((live.log.level == kith::log::Level::kWarn));          // applied
  BOOST_TEST(live.policy.file.empty());                             // applied (removed)
  BOOST_TEST(kith::daemon::kReloadableKeys.size() == 4u);
}

BOOST_AUTO_TEST_CASE(shipped_sample_file_is_valid) {
  // Built and run from the repository root (make); __FILE__ is relative to it.
  std::filesystem::path sample =
      std::filesystem::path(__FILE__).parent_path() / "../../../../docs/kithd.toml.sample";
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(sample), "missing " << sample);
  auto c = kith::daemon::loadConfig(sample.string());
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().toString());
  BOOST_TEST(c->machine == "node1");
  BOOST_TEST(c->metrics.listen == "127.0.0.1:9464");
  BOOST_TEST(c->health.intervalMs == 60000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(daemon_config_hazards)

// Inputs that make toml++ 3.3.0 abort must be an ordinary error: a SIGHUP with
// a mangled kithd.toml may never take the daemon down.
BOOST_AUTO_TEST_CASE(inputs_that_crash_tomlplusplus_are_rejected_with_a_line) {
  for (const char* text : {"machine = \"n1\"\n[{\n", "[[=\n", "a = [}\n", "machine = \"n1\"\n[ #\n"}) {
    auto c = kith::daemon::parseConfig(text, "bad.toml");
    BOOST_REQUIRE(!c.isOk());
    BOOST_TEST(c.status().message().find("bad.toml:") == 0u, c.status().message());
  }
}

BOOST_AUTO_TEST_CASE(upstreams_and_broker_keys_parse_and_their_errors_name_the_line) {
  auto c = parseConfig(kMinimal + "[broker]\nlisten = \"0.0.0.0:0\"\nadvertise = \"10.1.2.3:7402\"\nudp_idle_ms = 500\n"
                                  "[[upstream]]\nname = \"dev.curl.c1.default\"\nlisten = \"127.0.0.1:9090\"\n"
                                  "destination = \"dev.nginx.*.default.*\"\n"
                                  "[[upstream]]\nname = \"dev.psql.p1.default\"\nlisten = \"127.0.0.1:0\"\n"
                                  "destination = \"dev.db.d1.default.n2\"\ntimeout_ms = 1500\n",
                       "/etc/kith/kithd.toml");
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().message());
  BOOST_TEST(c->broker.advertise == "10.1.2.3:7402");
  BOOST_TEST(c->broker.udpIdleMs == 500);
  BOOST_REQUIRE_EQUAL(c->upstreams.size(), 2u);
  BOOST_TEST(c->upstreams[0].destination == "dev.nginx.*.default.*");
  BOOST_TEST(c->upstreams[0].timeoutMs == 5000);
  BOOST_TEST(c->upstreams[1].timeoutMs == 1500);
  std::string m = parseErr(kMinimal + "[upstream]\nname = \"x\"\n");
  BOOST_TEST(contains(m, "upstream: expected an array of tables ([[upstream]])"), m);
  m = parseErr(kMinimal + "[[upstream]]\nname = \"dev.a.b\"\nlisten = \"127.0.0.1:1\"\ndestination = \"dev.*.*.*.*\"\n");
  BOOST_TEST(contains(m, ":4:8: upstream[0].name: 'dev.a.b': expected four labels"), m);
  m = parseErr(kMinimal + "[[upstream]]\nname = \"dev.a.b.c\"\nlisten = \"nowhere\"\ndestination = \"dev.*.*.*.*\"\n");
  BOOST_TEST(contains(m, "upstream[0].listen: 'nowhere': expected HOST:PORT"), m);
  m = parseErr(kMinimal + "[[upstream]]\nname = \"dev.a.b.c\"\nlisten = \"127.0.0.1:1\"\ndestination = \"a.b\"\n");
  BOOST_TEST(contains(m, "upstream[0].destination: 'a.b':"), m);
  m = parseErr(kMinimal + "[[upstream]]\nname = \"dev.a.b.c\"\n");
  BOOST_TEST(contains(m, "upstream[0]: needs name, listen and destination"), m);
  m = parseErr(kMinimal + "[broker]\nudp_idle_ms = 5\n");
  BOOST_TEST(contains(m, "broker.udp_idle_ms: 5 is out of range"), m);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(daemon_config_vhost)

BOOST_AUTO_TEST_CASE(vhost_section_is_parsed_and_checked) {
  auto c = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"example.org\"\nhome = \"/var/lib/kith\"\n"
      "[vhost]\nlisten = \"127.0.0.1:4430\"\nprobe_listen = \"[::1]:0\"\n",
      "/etc/kith/kithd.toml");
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().toString());
  BOOST_TEST(c->vhost.listen == "127.0.0.1:4430");
  BOOST_TEST(c->vhost.probeListen == "[::1]:0");
  BOOST_TEST(c->vhost.hostsDir == "/var/lib/kith/hosts");
  BOOST_TEST(c->vhost.name == "vhost.kithd.listener.default");  // the listener's workload, by default
  auto named = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"example.org\"\n[vhost]\nname = \"edge.front.tls1.default\"\n", "k.toml");
  BOOST_REQUIRE_MESSAGE(named.isOk(), named.status().toString());
  BOOST_TEST(named->vhost.name == "edge.front.tls1.default");
  for (std::string name : {"a.b.c", "a.b.c.d.e", "a.b.*.d", "a.b c.d.e", ""}) {
    auto badName = kith::daemon::parseConfig(
        "machine = \"n1\"\ntrust_domain = \"example.org\"\n[vhost]\nname = \"" + name + "\"\n", "k.toml");
    BOOST_REQUIRE_MESSAGE(!badName.isOk(), name);
    BOOST_TEST(badName.status().message().find("vhost.name") != std::string::npos, badName.status().message());
  }
  // The listener and an [[upstream]] are both the daemon's own registrations.
  auto clash = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"example.org\"\n[vhost]\nlisten = \"127.0.0.1:0\"\n"
      "[[upstream]]\nname = \"vhost.kithd.listener.default\"\nlisten = \"127.0.0.1:0\"\ndestination = \"a.b.c.d.e\"\n",
      "k.toml");
  BOOST_REQUIRE(!clash.isOk());
  BOOST_TEST(clash.status().message().find("also an [[upstream]] name") != std::string::npos, clash.status().message());
  auto bad = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"example.org\"\n[vhost]\nlisten = \"nope\"\nlisen = 1\n", "k.toml");
  BOOST_REQUIRE(!bad.isOk());
  BOOST_TEST(bad.status().message().find("vhost.listen") != std::string::npos, bad.status().message());
  BOOST_TEST(bad.status().message().find("lisen") != std::string::npos, bad.status().message());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(daemon_config_metrics_health)

BOOST_AUTO_TEST_CASE(metrics_listen_is_off_by_default_and_loopback_only_unless_allowed) {
  auto dflt = kith::daemon::parseConfig("machine = \"n1\"\ntrust_domain = \"ex.org\"\n", "k.toml");
  BOOST_REQUIRE(dflt.isOk());
  BOOST_TEST(dflt->metrics.listen.empty());
  BOOST_TEST(dflt->health.intervalMs == 60000);
  auto lo = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"ex.org\"\n[metrics]\nlisten = \"[::1]:9464\"\n[health]\ninterval_ms = 500\n",
      "k.toml");
  BOOST_REQUIRE_MESSAGE(lo.isOk(), lo.status().message());
  BOOST_TEST(lo->metrics.listen == "[::1]:9464");
  BOOST_TEST(lo->health.intervalMs == 500);
  auto wide = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"ex.org\"\n[metrics]\nlisten = \"0.0.0.0:9464\"\n", "k.toml");
  BOOST_REQUIRE(!wide.isOk());
  BOOST_TEST(wide.status().message().find("k.toml:4:") == 0u, wide.status().message());
  BOOST_TEST(wide.status().message().find("allow_non_loopback") != std::string::npos);
  auto allowed = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"ex.org\"\n[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_non_loopback = true\n",
      "k.toml");
  BOOST_TEST(allowed.isOk());
  for (const char* bad : {"[metrics]\nlisten = \"127.0.0.1\"\n", "[metrics]\nlisten = \"host.example:1\"\n",
                          "[metrics]\nlisten = 9464\n", "[metrics]\nlisen = \"127.0.0.1:1\"\n",
                          "[health]\ninterval_ms = 5\n", "[health]\nintervall_ms = 500\n"}) {
    auto c = kith::daemon::parseConfig(std::string("machine = \"n1\"\ntrust_domain = \"ex.org\"\n") + bad, "k.toml");
    BOOST_TEST(!c.isOk(), bad);
  }
}

BOOST_AUTO_TEST_CASE(metrics_and_health_need_a_restart_to_change) {
  auto a = kith::daemon::parseConfig("machine = \"n1\"\ntrust_domain = \"ex.org\"\n", "k.toml");
  auto b = kith::daemon::parseConfig(
      "machine = \"n1\"\ntrust_domain = \"ex.org\"\n[metrics]\nlisten = \"127.0.0.1:1\"\n[health]\ninterval_ms = 200\n",
      "k.toml");
  BOOST_REQUIRE((a.isOk() && b.isOk()));
  kith::daemon::Config live = *a;
  auto st = kith::daemon::applyReload(live, *b);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(st.message().find("metrics") != std::string::npos, st.message());
  BOOST_TEST(st.message().find("health.interval_ms") != std::string::npos, st.message());
  BOOST_TEST(live.metrics.listen.empty());
}

BOOST_AUTO_TEST_SUITE_END()
