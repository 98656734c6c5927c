// Mesh: a trust domain made with `kithctl ca init` and real kithd processes
// for its machines, replicating over ZeroMQ CURVE on loopback (or inside
// network namespaces) and, with `tunnels`, brokering streams between them
// over mutual-TLS links. Shared by the replication and tunnel integration
// tests.
#pragma once

#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "fixture.h"

namespace kith::test {

// A trust domain and the daemons of its machines.
struct Mesh {
  using json = nlohmann::json;
  // What one machine's daemon gets beyond the defaults.
  struct Machine {
    std::string extraToml;   // whole tables appended to its kithd.toml
    std::string brokerToml;  // extra keys of its [broker] table (with tunnels)
    std::string host = "127.0.0.1";
    std::string netns;       // "" = the test's own network namespace
  };
  static Machine spec(std::string extraToml, std::string brokerToml = "") {
    Machine s;
    s.extraToml = std::move(extraToml);
    s.brokerToml = std::move(brokerToml);
    return s;
  }

  TempDir dir;
  std::string td;
  std::string ca = dir.path() + "/ca";
  std::map<std::string, std::unique_ptr<DaemonProcess>> daemons;
  std::string seed;         // the first machine's MACHINE=KEY@ENDPOINT
  std::string extraConfig;  // appended to every machine's kithd.toml
  std::string listenHost = "127.0.0.1";            // where daemons bind replication (and tunnels)
  std::map<std::string, std::string> listenHostOf;  // per machine, overrides listenHost
  std::map<std::string, std::string> netnsOf;       // machine -> network namespace
  std::map<std::string, Machine> specs;             // machine -> what start(m, spec) asked for
  bool tunnels = false;  // [broker] listen on every machine

  explicit Mesh(const std::string& trustDomain = "mesh.kith") : td(trustDomain) {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca init --trust-domain " + td + " --out " + ca, &out) == 0,
                          out);
  }
  ~Mesh() {
    for (auto& [m, d] : daemons) {
      if (d->running()) {
        ::kill(d->pid(), SIGCONT);  // a stopped daemon cannot drain
        d->stop();
      }
    }
  }
  std::string home(const std::string& m) const { return dir.path() + "/" + m; }
  std::string config(const std::string& m) const { return home(m) + ".toml"; }
  // Issues the node identity (from `caDir`, default ours) and writes the config.
  std::string prepare(const std::string& m, const std::string& caDir = "", const std::string& trustDomain = "") {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + m + " --ca " +
                                         (caDir.empty() ? ca : caDir) + " --out " + home(m) + "/node", &out) == 0,
                          out);
    const Machine& s = specs[m];
    std::string host = listenHostOf.count(m) ? listenHostOf[m] : listenHost;
    std::string cfg = "machine = \"" + m + "\"\ntrust_domain = \"" + (trustDomain.empty() ? td : trustDomain) +
                      "\"\nhome = \"" + home(m) + "\"\n[replication]\nlisten = \"tcp://" + host + ":0\"\n" +
                      (seed.empty() ? "" : "seeds = [\"" + seed + "\"]\n");
    if (tunnels) cfg += "[broker]\nlisten = \"" + host + ":0\"\n" + s.brokerToml;
    writeFile(config(m), cfg + extraConfig + s.extraToml);
    return config(m);
  }
  DaemonProcess& start(const std::string& m, const std::string& caDir = "", const std::string& trustDomain = "") {
    std::string cfg = prepare(m, caDir, trustDomain);
    auto& d = daemons[m];
    d = std::make_unique<DaemonProcess>(home(m));
    if (netnsOf.count(m)) d->setNetns(netnsOf[m]);
    Status st = d->startWithConfig(cfg);
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message() << "\n" << d->log());
    if (seed.empty()) seed = admin(m).request({{"op", "peers"}})->json.value("seed", "");
    return *d;
  }
  DaemonProcess& start(const std::string& m, Machine s) {
    listenHostOf[m] = s.host;
    if (!s.netns.empty()) netnsOf[m] = s.netns;
    specs[m] = std::move(s);
    return start(m);
  }
  DaemonProcess& restart(const std::string& m) {
    auto& d = daemons[m];
    Status st = d->startWithConfig(config(m));
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
    return *d;
  }
  TestClient api(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->apiSocket()); }
  TestClient admin(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->adminSocket()); }
  json peers(const std::string& m) { return admin(m).request({{"op", "peers"}})->json["peers"]; }
  bool allUp(const std::string& m, size_t n) {
    json p = peers(m);  // (a member of a temporary would dangle in the loop)
    size_t up = 0;
    for (auto& e : p) up += e["state"] == "up";
    return up >= n;
  }
  // Every running daemon sees every other one up.
  bool meshUp() {
    size_t running = 0;
    for (auto& [m, d] : daemons) running += d->running();
    for (auto& [m, d] : daemons) {
      if (d->running() && !allUp(m, running - 1)) return false;
    }
    return true;
  }
  json resolve(const std::string& m, const std::string& pattern, int waitMs = 0) {
    return api(m).request({{"op", "resolve"}, {"name", pattern}, {"wait_ms", waitMs}}, waitMs + 5000)->json;
  }
  // Until machine `m` knows `address` (replicated), within the deadline.
  bool knows(const std::string& m, const std::string& address, int timeoutMs = 10000) {
    return waitFor([&] { return errorCode(resolve(m, address)) == "OK"; }, timeoutMs);
  }
  json streams(const std::string& m) { return admin(m).request({{"op", "streams"}})->json; }
  json status(const std::string& m) { return admin(m).request({{"op", "status"}})->json; }
  std::string kithctl(const std::string& m) const { return "KITH_HOME=" + home(m) + " " + binDir() + "/kithctl"; }
  std::string kithcat(const std::string& m) const { return "KITH_HOME=" + home(m) + " " + binDir() + "/kithcat"; }
};

// A mesh whose daemons also broker streams between machines.
struct TunnelMesh : Mesh {
  TunnelMesh() { tunnels = true; }
};

// Resident set size of a process, in KiB (0 if unknown).
inline size_t rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace kith::test
