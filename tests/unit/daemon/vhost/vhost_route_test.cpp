// MeshVhostRoute on a real loop, store, registry and local broker: its
// callback contract (never called from inside open(), exactly once, never
// after the route is gone) and the answers it gives before its own workload
// is registered and when nothing matches.
#include "kith/daemon/vhost/vhost_route.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <optional>

#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/broker/server_ends.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/policy/stream_authorizer.h"
#include "kith/daemon/store/store.h"
#include "../registry_env.h"

using namespace kith;
using namespace kith::daemon;

namespace {

// No workload listens through the API here.
struct NoListeners : ListenerSink {
  bool deliverIncoming(uint64_t, const IncomingStream&, UniqueFd) override { return false; }
};

struct Env : kith::daemon::test::RegistryEnv {
  NoListeners listeners;
  std::unique_ptr<PolicyManager> policy;
  std::unique_ptr<StreamAuthorizer> authorizer;
  std::unique_ptr<ServerEnds> ends;
  std::unique_ptr<LocalBroker> broker;

  Env() : RegistryEnv("vhost-route") {
    policy = std::make_unique<PolicyManager>("");
    BOOST_REQUIRE(policy->load().isOk());
    authorizer = std::make_unique<StreamAuthorizer>(*policy);
    ends = std::make_unique<ServerEnds>(loop, *reg, listeners);
    broker = std::make_unique<LocalBroker>(loop, *reg, *ends, *authorizer, nullptr, nullptr,
                                           LocalBroker::Options{"n1", "test.kith", dir, false});
  }
  ~Env() {
    broker.reset();  // before the registry the base closes
    ends.reset();
  }
  // Runs the loop until `done` or the deadline.
  void runUntil(const std::function<bool()>& done, int ms = 10000) {
    Timer deadline(loop), poll(loop);
    deadline.start(static_cast<uint64_t>(ms), 0, [&] { loop.stop(); });
    poll.start(1, 1, [&] {
      if (done()) loop.stop();
    });
    loop.run();
  }
};

struct Answer {
  bool called = false;
  int calls = 0;
  Status status;
  bool fd = false;
};

VhostRoute::Done record(Answer& a) {
  return [&a](Status st, UniqueFd fd) {
    a.called = true;
    ++a.calls;
    a.status = std::move(st);
    a.fd = static_cast<bool>(fd);
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(vhost_route)

BOOST_AUTO_TEST_CASE(before_its_workload_is_registered_the_route_answers_cannot_connect_from_the_loop) {
  Env env;
  MeshVhostRoute route(env.loop, *env.reg, *env.broker, "vhost.kithd.listener.default");
  route.start();  // the registration is committed by the store's writer, later
  Answer a;
  route.open("prod.web.*.*.*", {"vhost:a.example.test", ""}, 1000, record(a));
  BOOST_TEST(!a.called);  // never from inside open()
  env.runUntil([&] { return a.called; });
  BOOST_TEST(a.calls == 1);
  BOOST_TEST(static_cast<int>(a.status.code()) == static_cast<int>(Code::kCannotConnect));
  BOOST_TEST(a.status.message().find("not registered yet") != std::string::npos, a.status.message());
  BOOST_TEST(!a.fd);
}

BOOST_AUTO_TEST_CASE(once_registered_it_connects_as_the_listeners_workload_and_keeps_the_brokers_code) {
  Env env;
  MeshVhostRoute route(env.loop, *env.reg, *env.broker, "vhost.kithd.listener.default");
  route.start();
  env.runUntil([&] { return !route.address().empty(); });
  BOOST_REQUIRE(route.address() == "vhost.kithd.listener.default.n1");
  BOOST_TEST(env.reg->find(route.address()) != nullptr);
  Answer a;
  route.open("prod.web.*.*.*", {"vhost:a.example.test", ""}, 1000, record(a));
  BOOST_TEST(!a.called);  // the broker refuses synchronously; the route posts it
  env.runUntil([&] { return a.called; });
  BOOST_TEST(a.calls == 1);
  BOOST_TEST(static_cast<int>(a.status.code()) == static_cast<int>(Code::kDestinationNotFound));
  Answer bad;
  route.open("not a pattern", {"vhost:a.example.test", ""}, 1000, record(bad));
  env.runUntil([&] { return bad.called; });
  BOOST_TEST(static_cast<int>(bad.status.code()) == static_cast<int>(Code::kBadRequest));
}

BOOST_AUTO_TEST_CASE(a_route_destroyed_with_an_answer_pending_never_calls_back) {
  Env env;
  Answer a;
  {
    MeshVhostRoute route(env.loop, *env.reg, *env.broker, "vhost.kithd.listener.default");
    route.open("prod.web.*.*.*", {"vhost:a.example.test", ""}, 1000, record(a));
  }
  env.loop.runPosted();
  BOOST_TEST(!a.called);
}

BOOST_AUTO_TEST_SUITE_END()
