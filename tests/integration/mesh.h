// Several real daemons of one trust domain (made with `kithctl ca`), each with
// its own home, replicating over ZeroMQ CURVE and (with tunnels) brokering
// streams over mutual-TLS links, on loopback or inside network namespaces.
#pragma once

#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "fixture.h"

namespace kith::test {

struct Mesh {
  struct Machine {
    std::string extraToml;   // appended to the generated config (whole tables)
    std::string brokerToml;  // extra keys of its [broker] table
    std::string host = "127.0.0.1";
    std::string netns;
  };

  TempDir dir;
  std::string td;
  std::string ca = dir.path() + "/ca";
  bool tunnels;
  std::map<std::string, std::unique_ptr<DaemonProcess>> daemons;
  std::map<std::string, Machine> machines;
  std::string seed;  // the first machine's MACHINE=KEY@ENDPOINT

  explicit Mesh(bool withTunnels = true, std::string trustDomain = "mesh.kith")
      : td(std::move(trustDomain)), tunnels(withTunnels) {
    std::string out;
    BOOST_REQUIRE_MESSAGE(
        runCommand(binDir() + "/kithctl ca init --trust-domain " + td + " --out " + ca, &out) == 0, out);
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

  // Issues the node identity and writes the config.
  static Machine spec(std::string extraToml, std::string brokerToml = "") {
    Machine s;
    s.extraToml = std::move(extraToml);
    s.brokerToml = std::move(brokerToml);
    return s;
  }
  void prepare(const std::string& m) { prepare(m, Machine()); }
  void prepare(const std::string& m, Machine spec) {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + m + " --ca " + ca + " --out " +
                                         home(m) + "/node", &out) == 0,
                          out);
    std::string cfg = "machine = \"" + m + "\"\ntrust_domain = \"" + td + "\"\nhome = \"" + home(m) +
                      "\"\n[replication]\nlisten = \"tcp://" + spec.host + ":0\"\n" +
                      (seed.empty() ? "" : "seeds = [\"" + seed + "\"]\n");
    if (tunnels) cfg += "[broker]\nlisten = \"" + spec.host + ":0\"\n" + spec.brokerToml;
    writeFile(config(m), cfg + spec.extraToml);
    machines[m] = std::move(spec);
  }
  DaemonProcess& start(const std::string& m) { return start(m, Machine()); }
  DaemonProcess& start(const std::string& m, Machine spec) {
    prepare(m, spec);
    auto& d = daemons[m];
    d = std::make_unique<DaemonProcess>(home(m));
    if (!machines[m].netns.empty()) d->setNetns(machines[m].netns);
    Status st = d->startWithConfig(config(m));
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message() << "\n" << d->log());
    if (seed.empty()) seed = admin(m).request({{"op", "peers"}})->json.value("seed", "");
    return *d;
  }
  DaemonProcess& restart(const std::string& m) {
    auto& d = daemons[m];
    Status st = d->startWithConfig(config(m));
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
    return *d;
  }
  TestClient api(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->apiSocket()); }
  TestClient admin(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->adminSocket()); }
  nlohmann::json peers(const std::string& m) { return admin(m).request({{"op", "peers"}})->json["peers"]; }
  bool allUp(const std::string& m, size_t n) {
    size_t up = 0;
    nlohmann::json list = peers(m);  // (a temporary would dangle in the loop)
    for (auto& e : list) up += e["state"] == "up";
    return up >= n;
  }
  bool meshUp() {
    for (auto& [m, d] : daemons) {
      if (d->running() && !allUp(m, daemons.size() - 1)) return false;
    }
    return true;
  }
  nlohmann::json resolve(const std::string& m, const std::string& pattern, int waitMs = 0) {
    return api(m).request({{"op", "resolve"}, {"name", pattern}, {"wait_ms", waitMs}}, waitMs + 5000)->json;
  }
  // Until machine `m` knows `address` (replicated), within the deadline.
  bool knows(const std::string& m, const std::string& address, int timeoutMs = 10000) {
    return waitFor([&] { return errorCode(resolve(m, address)) == "OK"; }, timeoutMs);
  }
  nlohmann::json streams(const std::string& m) { return admin(m).request({{"op", "streams"}})->json; }
  nlohmann::json status(const std::string& m) { return admin(m).request({{"op", "status"}})->json; }
  std::string kithctl(const std::string& m) const { return "KITH_HOME=" + home(m) + " " + binDir() + "/kithctl"; }
  std::string kithcat(const std::string& m) const { return "KITH_HOME=" + home(m) + " " + binDir() + "/kithcat"; }
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
