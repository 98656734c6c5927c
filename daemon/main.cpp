// kithd: the per-machine daemon. This file only wires: command line, config,
// identity, logging, signals; the daemon proper is kith::daemon::Daemon.
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "kith/common/log.h"
#include "kith/daemon/observability/sd_notify.h"
#include "kith/daemon/config/config.h"
#include "kith/daemon/daemon.h"
#include "kith/daemon/config/dev_identity.h"
#include "kith/identity/ca_dir.h"

namespace {

using namespace kith;
using namespace kith::daemon;

constexpr const char* kMod = "kithd";

void raiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void applyLogConfig(const Config& c, const std::string& flagFormat) {
  std::string f = flagFormat;
  if (f.empty()) {
    if (c.log.format == LogFormat::kJson) f = "json";
    if (c.log.format == LogFormat::kText) f = "text";
  }
  if (f == "json") log::setFormat(log::Format::kJson);
  if (f == "text") log::setFormat(log::Format::kText);
  log::setLevel(c.log.level);
}

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "kithd: %s\n", msg.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kithd — the kith mesh daemon (one per machine)", "kithd"};
  std::string configPath, home, logFormat;
  bool dev = false, version = false;
  app.add_option("--config", configPath, "kithd.toml to run from (see kithd.toml(5))");
  app.add_flag("--dev", dev,
               "embedded one-machine default: dev CA, node identity, state and sockets under "
               "./.kith/ (or --home / $KITH_HOME); nothing to configure");
  app.add_option("--home", home, "state directory (overrides the config's home)");
  app.add_option("--log-format", logFormat, "json or text (default: text on a terminal)")
      ->check(CLI::IsMember({"json", "text"}));
  app.add_flag("--version", version, "print the version and exit");
  app.footer(
      "Clients find the daemon through --socket, $KITH_SOCKET, $KITH_HOME/run/api.sock, or "
      "/run/kith/api.sock.\nSIGTERM drains and exits; SIGHUP reloads log level, lease limits, "
      "policy and a rotated node identity.\nSee kithd(8).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (version) {
    std::printf("kithd %s\n", KITH_VERSION);
    return 0;
  }
  if (configPath.empty() && !dev) {
    std::fprintf(stderr, "kithd: give --config FILE or --dev (try --help)\n");
    return 2;
  }

  Config config;
  if (dev && home.empty()) {
    if (const char* h = std::getenv("KITH_HOME"); h && *h) home = h;
  }
  if (!configPath.empty()) {
    ConfigOptions co;
    co.dev = dev;
    co.home = home;
    auto c = loadConfig(configPath, co);
    if (!c.isOk()) return fail(c.status().message());
    config = std::move(c).value();
  } else {
    if (home.empty()) {
      const char* h = std::getenv("KITH_HOME");
      home = h && *h ? h : ".kith";
    }
    std::error_code ec;
    std::filesystem::create_directories(home, ec);
    config = devConfig(std::filesystem::absolute(home).lexically_normal().string());
  }
  applyLogConfig(config, logFormat);

  if (sodium_init() < 0) return fail("libsodium failed to initialise");
  ::signal(SIGPIPE, SIG_IGN);
  raiseFdLimit();
  // Tunnels move data through buffers of 64-256 KiB that come and go: keep
  // them on the heap and stop glibc from returning memory at every free
  // (with the defaults each one was an mmap/munmap or brk pair).
  ::mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
  // HOME is traversable (0711) so that local users reach run/api.sock, but not
  // listable; the CA, node key and state inside are 0700/0600.
  ::mkdir(config.home.c_str(), 0711);
  ::chmod(config.home.c_str(), 0711);

  bool replicate = !config.replication.listen.empty();
  auto node = dev ? ensureDevNode(config) : loadNode(config, /*required=*/replicate);
  if (!node.isOk()) return fail((dev ? "dev identity: " : "node identity: ") + node.status().message());
  std::string machineIdentity = node->machineIdentity;

  DaemonOptions o;
  o.machine = config.machine;
  o.trustDomain = config.trustDomain;
  o.machineIdentity = machineIdentity;
  o.runDir = config.runDir;
  o.apiSocket = config.api.socket;
  o.adminSocket = config.api.adminSocket;
  if (!config.api.adminGroup.empty()) {
    group* g = ::getgrnam(config.api.adminGroup.c_str());
    if (!g) return fail(config.source + ": api.admin_group: no such group '" + config.api.adminGroup + "'");
    o.adminGroup = g->gr_gid;
  }
  o.storePath = config.store.path;
  o.maxConnections = static_cast<size_t>(config.api.maxConnections);
  o.defaultTtlMs = config.lease.defaultTtlMs;
  o.maxTtlMs = config.lease.maxTtlMs;
  o.policyFile = config.policy.file;
  o.vhost.hostsDir = config.vhost.hostsDir;
  o.vhost.listen = config.vhost.listen;
  o.vhost.probeListen = config.vhost.probeListen;
  o.vhost.name = config.vhost.name;
  if (replicate) {
    ReplicatorOptions ro;
    ro.machine = config.machine;
    ro.trustDomain = config.trustDomain;
    ro.listen = config.replication.listen;
    ro.seeds = config.replication.seeds;
    ro.rootKey = node->rootKey;
    ro.delegLine = node->delegLine;
    o.replication = std::move(ro);
    o.nodeKey = std::move(node->key);
  }
  o.localHandoff = config.broker.localHandoff;
  for (const auto& u : config.upstreams) o.upstreams.push_back({u.name, u.listen, u.destination, u.timeoutMs});
  if (!config.broker.listen.empty()) {
    if (!replicate) {
      return fail(config.source + ": broker.listen needs replication ([replication] listen): other daemons find "
                                  "this one's tunnel endpoint in its replicated infra record");
    }
    if (!node->node) return fail("tunnels: no node identity in " + config.identity.nodeDir);
    const identity::NodeIdentity& nodeId = node->node->identity;
    TunnelOptions t;
    t.machine = config.machine;
    t.listen = config.broker.listen;
    t.advertise = config.broker.advertise;
    t.tls = {nodeId.certPem, nodeId.key.toPkcs8Pem(), nodeId.rootPem, config.trustDomain};
    t.link.udpIdleMs = config.broker.udpIdleMs;
    o.tunnels = std::move(t);
  }
  o.node = node->node;
  o.nodeDir = config.identity.nodeDir;
  o.nodeWatchMs = static_cast<uint64_t>(config.identity.watchMs);
  o.svidTtlSec = config.identity.svidTtlS;
  o.metricsListen = config.metrics.listen;
  o.metricsAllowNonLoopback = config.metrics.allowNonLoopback;
  o.healthIntervalMs = static_cast<uint64_t>(config.health.intervalMs);

  int exitCode = 0;
  {
    Loop loop;
    auto d = Daemon::create(loop, std::move(o));
    if (!d.isOk()) return fail(d.status().message());
    std::unique_ptr<Daemon> daemon = std::move(d).value();
    if (Status st = daemon->start(); !st.isOk()) return fail(st.message());
    // Type=notify: ready once the sockets serve (no-op outside systemd).
    sdNotify("READY=1\nSTATUS=serving");

    Timer drainDeadline(loop);
    auto drain = [&] {
      log::info(kMod, "signal: draining");
      sdNotify("STOPPING=1\nSTATUS=draining");
      daemon->drain();
      // Whatever still runs (relays, pending waits) gets 5 s.
      drainDeadline.start(5000, 0, [&] { loop.stop(); });
      drainDeadline.unref();
    };
    Signal term(loop), intr(loop), hup(loop);
    (void)term.start(SIGTERM, drain);
    (void)intr.start(SIGINT, drain);
    (void)hup.start(SIGHUP, [&] {
      daemon->checkNodeIdentity();  // a rotated node certificate, key or deleg
      if (configPath.empty()) {
        log::info(kMod, "SIGHUP: dev mode has no config file to reload");
        return;
      }
      ConfigOptions co;
      co.dev = dev;
      co.home = home;
      auto fresh = loadConfig(configPath, co);
      if (!fresh.isOk()) {
        log::error(kMod, "reload rejected; the old config stays", {{"error", fresh.status().message()}});
        return;
      }
      Status st = applyReload(config, *fresh);
      if (!st.isOk()) log::warn(kMod, "reload: some keys need a restart", {{"detail", st.message()}});
      applyLogConfig(config, logFormat);
      daemon->registry().setLeaseLimits(config.lease.defaultTtlMs, config.lease.maxTtlMs);
      log::info(kMod, "reloaded", {{"config", configPath}});
      if (!config.policy.file.empty()) {
        daemon->policy().setFile(config.policy.file);
        (void)daemon->reloadPolicy();  // logs its own outcome; the old policy stays on failure
      }
    });

    if (dev) {
      std::fprintf(stderr,
                   "kithd: dev mode, machine '%s', trust domain '%s'\n"
                   "kithd: point clients at it with:\n"
                   "    export KITH_HOME=%s\n"
                   "kithd: (api socket %s, admin socket %s)\n",
                   config.machine.c_str(), config.trustDomain.c_str(), config.home.c_str(),
                   config.api.socket.c_str(), config.api.adminSocket.c_str());
    }
    loop.run();
    log::info(kMod, "stopped");
    daemon.reset();
  }
  return exitCode;
}
