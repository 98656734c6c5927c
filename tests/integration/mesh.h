// Mesh: a trust domain made with `kithctl ca init` and real kithd processes
// for its machines, replicating over ZeroMQ CURVE on loopback. Shared by the
// replication integration tests.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "fixture.h"

namespace kith::test {

// A trust domain and the daemons of its machines.
struct Mesh {
  using json = nlohmann::json;
  TempDir dir;
  std::string ca = dir.path() + "/ca";
  std::map<std::string, std::unique_ptr<DaemonProcess>> daemons;
  std::string seed;  // the first machine's MACHINE=KEY@ENDPOINT
  std::string extraConfig;  // appended to every machine's kithd.toml
  std::string listenHost = "127.0.0.1";            // where daemons bind replication
  std::map<std::string, std::string> listenHostOf;  // per machine, overrides listenHost
  std::map<std::string, std::string> netnsOf;       // machine -> network namespace

  explicit Mesh(const std::string& td = "mesh.kith") {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca init --trust-domain " + td + " --out " + ca, &out) == 0,
                          out);
  }
  ~Mesh() {
    for (auto& [m, d] : daemons) {
      if (d->running()) d->stop();
    }
  }
  std::string home(const std::string& m) const { return dir.path() + "/" + m; }
  // Issues the node identity (from `caDir`, default ours) and writes the config.
  std::string prepare(const std::string& m, const std::string& caDir = "", const std::string& td = "mesh.kith") {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + m + " --ca " +
                                         (caDir.empty() ? ca : caDir) + " --out " + home(m) + "/node", &out) == 0,
                          out);
    std::string cfg = home(m) + ".toml";
    writeFile(cfg, "machine = \"" + m + "\"\ntrust_domain = \"" + td + "\"\nhome = \"" + home(m) +
                       "\"\n[replication]\nlisten = \"tcp://" +
                       (listenHostOf.count(m) ? listenHostOf[m] : listenHost) + ":0\"\n" +
                       (seed.empty() ? "" : "seeds = [\"" + seed + "\"]\n") + extraConfig);
    return cfg;
  }
  DaemonProcess& start(const std::string& m, const std::string& caDir = "", const std::string& td = "mesh.kith") {
    std::string cfg = prepare(m, caDir, td);
    auto& d = daemons[m];
    d = std::make_unique<DaemonProcess>(home(m));
    if (netnsOf.count(m)) d->setNetns(netnsOf[m]);
    kith::Status st = d->startWithConfig(cfg);
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
    if (seed.empty()) seed = admin(m).request({{"op", "peers"}})->json.value("seed", "");
    return *d;
  }
  DaemonProcess& restart(const std::string& m) {
    auto& d = daemons[m];
    kith::Status st = d->startWithConfig(home(m) + ".toml");
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
    return *d;
  }
  TestClient api(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->apiSocket()); }
  TestClient admin(const std::string& m) { return DaemonFixture::connectTo(daemons[m]->adminSocket()); }
  json peers(const std::string& m) { return admin(m).request({{"op", "peers"}})->json["peers"]; }
  bool allUp(const std::string& m, size_t n) {
    auto p = peers(m);
    size_t up = 0;
    for (auto& e : p) up += e["state"] == "up";
    return up >= n;
  }
  json resolve(const std::string& m, const std::string& pattern, int waitMs = 0) {
    return api(m).request({{"op", "resolve"}, {"name", pattern}, {"wait_ms", waitMs}}, waitMs + 5000)->json;
  }
};


}  // namespace kith::test
