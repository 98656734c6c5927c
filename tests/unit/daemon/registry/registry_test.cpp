// Registry on a real loop and a real SQLite store: durability before the
// acknowledgement, leases, process exit, restart, token binding.
#include "kith/daemon/registry/registry.h"

#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "kith/daemon/loop/loop.h"
#include "kith/daemon/store/store.h"
#include "../registry_env.h"

using namespace kith;
using namespace kith::daemon;

namespace {

struct Env : kith::daemon::test::RegistryEnv {
  Caller self(uint64_t connId = 1) {
    Caller c;
    c.cred = {getuid(), getgid(), getpid()};
    c.startTime = *api::processStartTime(getpid());
    c.connId = connId;
    return c;
  }
  // Registers and runs the loop until the (durable) answer.
  Result<RegisterResult> registerNow(const Caller& c, RegisterRequest r) {
    std::optional<Result<RegisterResult>> out;
    Status st = reg->registerWorkload(c, std::move(r), [&](Result<RegisterResult> res) {
      out = std::move(res);
      loop.stop();
    });
    if (!st.isOk()) return st;
    loop.run();
    BOOST_REQUIRE(out.has_value());
    return std::move(*out);
  }
  void runFor(int ms) {
    Timer t(loop);
    t.start(static_cast<uint64_t>(ms), 0, [&] { loop.stop(); });
    loop.run();
  }
};

RegisterRequest req(const std::string& name, int64_t ttl = 0) {
  RegisterRequest r;
  r.name = name;
  r.ttlMs = ttl;
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_registry)

BOOST_AUTO_TEST_CASE(registration_is_acknowledged_only_once_durable) {
  Env env;
  auto r = env.registerNow(env.self(), req("dev.web.w1.default"));
  BOOST_REQUIRE(r.isOk());
  BOOST_TEST(r->address == "dev.web.w1.default.n1");
  BOOST_TEST(r->spiffeId == "spiffe://test.kith/dev/web/w1/default/n1");
  // Already in the database when acknowledged: a second reader sees it.
  auto rows = env.store->loadWorkloads();
  BOOST_REQUIRE(rows.isOk());
  BOOST_REQUIRE(rows->size() == 1u);
  BOOST_TEST((*rows)[0].address == "dev.web.w1.default.n1");
  // Only the token's hash is stored.
  BOOST_TEST(toHex((*rows)[0].tokenHash) != r->token);
}

BOOST_AUTO_TEST_CASE(a_failed_commit_is_not_acknowledged_and_frees_the_address) {
  Env env;
  env.store->failNextCommitForTest();
  auto r = env.registerNow(env.self(), req("dev.web.w1.default"));
  BOOST_TEST((r.status().code() == Code::kInternal));
  BOOST_TEST(env.reg->find("dev.web.w1.default.n1") == nullptr);
  BOOST_TEST(env.registerNow(env.self(), req("dev.web.w1.default")).isOk());
}

BOOST_AUTO_TEST_CASE(tokens_bind_to_the_registering_uid) {
  Env env;
  auto r = env.registerNow(env.self(), req("dev.web.w1.default"));
  BOOST_REQUIRE(r.isOk());
  BOOST_TEST(env.reg->authenticate(r->token, getuid()).isOk());
  BOOST_TEST((env.reg->authenticate(r->token, getuid() + 1).status().code() == Code::kUnauthorized));
  BOOST_TEST((env.reg->authenticate(std::string(64, 'f'), getuid()).status().code() == Code::kInvalidSource));
}

BOOST_AUTO_TEST_CASE(identity_hash_covers_the_whitelist) {
  Env env;
  auto a = env.registerNow(env.self(), req("dev.web.a.default"));
  RegisterRequest withList = req("dev.web.a.default");
  withList.whitelist = {"dev.*.*.*.*"};
  auto b = env.registerNow(env.self(), withList);  // same process: replaces
  BOOST_REQUIRE(a.isOk() && b.isOk());
  BOOST_TEST(a->identityHash != b->identityHash);
  BOOST_TEST(a->identityHash.size() == 64u);
}

BOOST_AUTO_TEST_CASE(a_lease_without_connection_lapses_after_its_ttl) {
  Env env;
  auto r = env.registerNow(env.self(7), req("dev.job.j1.default", 1000));
  BOOST_REQUIRE(r.isOk());
  env.reg->connectionClosed(7);
  env.clock.advanceMillis(600);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->heartbeat(r->token, getuid()).isOk());  // extends to +1000
  env.clock.advanceMillis(600);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j1.default.n1") != nullptr);
  env.clock.advanceMillis(399);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j1.default.n1") != nullptr);
  env.clock.advanceMillis(1);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j1.default.n1") == nullptr);
  BOOST_TEST((env.reg->heartbeat(r->token, getuid()).status().code() == Code::kTimeout));
  BOOST_TEST(env.reg->stats().expired == 1u);
}

BOOST_AUTO_TEST_CASE(a_lease_lives_while_its_connection_stays_open_and_counts_from_its_close) {
  Env env;
  auto r = env.registerNow(env.self(7), req("dev.job.j2.default", 1000));
  BOOST_REQUIRE(r.isOk());
  env.clock.advanceMillis(60'000);  // a minute, connection open: no deadline at all
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j2.default.n1") != nullptr);
  env.reg->connectionClosed(7);  // the TTL counts from here, not from the registration
  env.clock.advanceMillis(999);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j2.default.n1") != nullptr);
  env.clock.advanceMillis(1);
  env.reg->expireLeases();
  BOOST_TEST(env.reg->find("dev.job.j2.default.n1") == nullptr);
}

BOOST_AUTO_TEST_CASE(process_exit_ends_the_registration_and_restart_drops_it) {
  Env env;
  int ready[2], go[2];
  BOOST_REQUIRE(pipe(ready) == 0 && pipe(go) == 0);
  pid_t child = fork();
  if (child == 0) {
    char c;
    (void)!write(ready[1], "r", 1);
    (void)!read(go[0], &c, 1);
    _exit(0);
  }
  char c;
  BOOST_REQUIRE(read(ready[0], &c, 1) == 1);
  Caller other = env.self(2);
  other.cred.pid = child;
  other.startTime = *api::processStartTime(child);
  BOOST_REQUIRE(env.registerNow(other, req("dev.job.child.default")).isOk());
  BOOST_REQUIRE(env.registerNow(env.self(), req("dev.job.me.default")).isOk());
  std::vector<std::string> events;
  env.reg->addWatcher([&](const Registry::Event& ev) {
    events.push_back(std::string(ev.isRegister() ? "register" : "deregister") + ":" +
                     (ev.isRegister() ? "" : endReasonName(ev.reason)));
    env.loop.stop();
  });
  BOOST_REQUIRE(write(go[1], "g", 1) == 1);
  int st;
  waitpid(child, &st, 0);
  env.runFor(1000);  // stopped early by the watcher
  BOOST_REQUIRE(events.size() == 1u);
  BOOST_TEST(events[0] == "deregister:exit");
  BOOST_TEST(env.reg->find("dev.job.child.default.n1") == nullptr);
  // Restart: our own registration comes back, nothing else.
  env.closeAll();
  env.open();
  BOOST_TEST(env.reg->size() == 1u);
  BOOST_TEST(env.reg->find("dev.job.me.default.n1") != nullptr);
}

// Watchers say which events they want; remote events nobody wants are not
// built at all (the replicator asks wantsRemote first).
BOOST_AUTO_TEST_CASE(watchers_get_only_the_events_of_their_interest) {
  Env env;
  std::vector<std::string> local, deregs, all;
  auto tag = [](const Registry::Event& ev) {
    return std::string(ev.isRegister() ? "register" : "deregister") + (ev.local() ? "@local" : "@remote");
  };
  env.reg->addWatcher([&](const Registry::Event& ev) { local.push_back(tag(ev)); }, Registry::kLocalEvents);
  BOOST_TEST(!env.reg->wantsRemote(Registry::kRemoteRegisters));
  BOOST_TEST(!env.reg->wantsRemote(Registry::kRemoteDeregisters));
  uint64_t d = env.reg->addWatcher([&](const Registry::Event& ev) { deregs.push_back(tag(ev)); },
                                   Registry::kLocalEvents | Registry::kRemoteDeregisters);
  BOOST_TEST(!env.reg->wantsRemote(Registry::kRemoteRegisters));
  BOOST_TEST(env.reg->wantsRemote(Registry::kRemoteDeregisters));
  // One that removes itself while notified (the copy keeps it alive).
  uint64_t a = 0;
  a = env.reg->addWatcher([&](const Registry::Event& ev) {
    all.push_back(tag(ev));
    env.reg->removeWatcher(a);
  });
  BOOST_TEST(env.reg->wantsRemote(Registry::kRemoteRegisters));
  RegistryEvent remote;
  remote.address = "dev.a.b.default.n2";
  remote.machine = "n2";
  env.reg->notifyRemote(remote);
  BOOST_TEST(!env.reg->wantsRemote(Registry::kRemoteRegisters));
  remote.kind = RegistryEvent::Kind::kDeregister;
  env.reg->notifyRemote(remote);
  BOOST_REQUIRE(env.registerNow(env.self(), req("dev.job.me.default")).isOk());
  BOOST_TEST(local == (std::vector<std::string>{"register@local"}));
  BOOST_TEST(deregs == (std::vector<std::string>{"deregister@remote", "register@local"}));
  BOOST_TEST(all == (std::vector<std::string>{"register@remote"}));
  env.reg->removeWatcher(d);
  BOOST_TEST(!env.reg->wantsRemote(Registry::kRemoteDeregisters));
}

// The contract replicate_wait_ms relies on: a watcher (the replicator) sees a
// registration, typed and complete, before the caller's `done` runs.
BOOST_AUTO_TEST_CASE(watchers_see_a_registration_before_its_caller_is_answered) {
  Env env;
  std::vector<std::string> order;
  env.reg->addWatcher([&](const Registry::Event& ev) {
    BOOST_TEST(ev.isRegister());
    BOOST_TEST(ev.local());
    BOOST_TEST(ev.address == "dev.web.w1.default.n1");
    BOOST_TEST(ev.spiffeId == "spiffe://test.kith/dev/web/w1/default/n1");
    BOOST_TEST(ev.ts > 0);
    // What the watcher looks up is already active when it is told.
    const Registration* r = env.reg->find(ev.address);
    BOOST_TEST((r != nullptr && r->active));
    order.push_back("watcher");
  });
  Status st = env.reg->registerWorkload(env.self(), req("dev.web.w1.default"), [&](Result<RegisterResult> res) {
    BOOST_TEST(res.isOk());
    order.push_back("done");
    env.loop.stop();
  });
  BOOST_REQUIRE(st.isOk());
  env.loop.run();
  BOOST_TEST(order == (std::vector<std::string>{"watcher", "done"}));
}

BOOST_AUTO_TEST_CASE(end_reasons_have_the_socket_apis_names_both_ways) {
  for (EndReason r : {EndReason::kExit, EndReason::kExpired, EndReason::kDeregister, EndReason::kReplaced}) {
    BOOST_TEST((endReasonFromName(endReasonName(r)) == r));
  }
  BOOST_TEST(std::string(endReasonName(EndReason::kExpired)) == "expired");
  BOOST_TEST(!endReasonFromName("crashed").has_value());
}

BOOST_AUTO_TEST_CASE(synchronous_validation_errors_never_call_back) {
  Env env;
  bool called = false;
  auto cb = [&](Result<RegisterResult>) { called = true; };
  BOOST_TEST((env.reg->registerWorkload(env.self(), req("bad"), cb).code() == Code::kBadRequest));
  BOOST_TEST((env.reg->registerWorkload(env.self(), req("a.b.c.d.other"), cb).code() == Code::kUnauthorized));
  RegisterRequest t = req("a.b.c.d");
  t.target = "tcp:192.0.2.1:80";
  BOOST_TEST((env.reg->registerWorkload(env.self(), t, cb).code() == Code::kBadRequest));
  RegisterRequest p = req("a.b.c.d");
  p.protocols = {"sctp"};
  BOOST_TEST((env.reg->registerWorkload(env.self(), p, cb).code() == Code::kBadRequest));
  env.runFor(50);
  BOOST_TEST(!called);
}

BOOST_AUTO_TEST_SUITE_END()
