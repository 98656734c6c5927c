// RegistryEnv: a real loop, a real SQLite store in a temporary directory and a
// Registry on them (machine n1, trust domain test.kith), for the daemon's unit
// tests. Destruction closes the registry and the store, delivers what the
// store posted while closing, checks that the loop closes clean (no leaked
// handle) and removes the directory. Objects built on the registry belong to
// the derived fixture, whose members are destroyed first. The registry reads
// time from `clock`, a FakeClock that moves only when a test says so.
#pragma once

#include <sodium.h>
#include <stdlib.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "kith/common/clock.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/store/store.h"

namespace kith::daemon::test {

struct RegistryEnv {
  std::string dir;
  Loop loop;
  std::unique_ptr<Store> store;
  std::unique_ptr<Registry> reg;
  FakeClock clock;

  explicit RegistryEnv(const char* tag = "registry") {
    BOOST_REQUIRE(sodium_init() >= 0);
    std::string tmpl = std::string("/tmp/kith-") + tag + "-XXXXXX";
    dir = mkdtemp(tmpl.data());
    open();
  }
  // (Re)opens the store and a registry restored from it.
  void open() {
    auto s = Store::open(dir + "/state.db", [this](std::function<void()> fn) { loop.post(std::move(fn)); });
    BOOST_REQUIRE(s.isOk());
    store = std::move(s).value();
    Registry::Options o;
    o.machine = "n1";
    o.trustDomain = "test.kith";
    o.machineIdentity = "node-key";
    reg = std::make_unique<Registry>(loop, *store, o, clock);
    BOOST_REQUIRE(reg->restore().isOk());
  }
  void closeAll() {
    // The store's completions (posted to the loop) capture the registry:
    // deliver them while it still lives, in the daemon's order.
    store->close();
    loop.runPosted();
    reg.reset();
    loop.run();  // let closing handles finish
    store.reset();
  }
  ~RegistryEnv() {
    if (reg) closeAll();
    BOOST_TEST(loop.close() == 0);
    std::filesystem::remove_all(dir);
  }
};

}  // namespace kith::daemon::test
