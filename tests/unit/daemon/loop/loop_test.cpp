// Loop wrappers and Pump on a real libuv loop; every case ends with the loop
// closing cleanly (no leaked handle).
#include "kith/daemon/loop/loop.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <thread>

#include "kith/daemon/broker/pump.h"

using namespace kith;
using namespace kith::daemon;

namespace {

std::pair<UniqueFd, UniqueFd> pair(int type = SOCK_STREAM) {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

struct Flag : DeferredDeletable {
  explicit Flag(bool* destroyed) : destroyed(destroyed) {}
  ~Flag() override { *destroyed = true; }
  bool* destroyed;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_loop)

BOOST_AUTO_TEST_CASE(timers_fire_and_the_loop_closes_clean) {
  Loop loop;
  int fired = 0;
  {
    Timer once(loop), repeat(loop);
    once.start(1, 0, [&] { ++fired; });
    int n = 0;
    repeat.start(1, 1, [&] {
      if (++n == 3) repeat.stop();
    });
    loop.run();
    BOOST_TEST(n == 3);
  }
  BOOST_TEST(fired == 1);
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_CASE(post_runs_on_the_loop_thread_from_other_threads) {
  Loop loop;
  std::thread::id loopThread = std::this_thread::get_id();
  std::atomic<int> ran{0};
  bool onLoop = true;
  auto keepAlive = std::make_unique<Timer>(loop);
  keepAlive->start(5000, 0, [&] { loop.stop(); });
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) {
      loop.post([&] {
        onLoop = onLoop && std::this_thread::get_id() == loopThread;
        if (++ran == 100) loop.stop();
      });
    }
  });
  loop.run();
  t.join();
  BOOST_TEST(ran.load() == 100);
  BOOST_TEST(onLoop);
  keepAlive.reset();
  BOOST_TEST(loop.close() == 0);
  // Posting after close is dropped, not a crash.
  loop.post([] { BOOST_FAIL("ran after close"); });
}

BOOST_AUTO_TEST_CASE(deferred_delete_waits_for_the_end_of_the_iteration) {
  Loop loop;
  bool destroyed = false;
  {
    Timer t(loop);
    t.start(1, 0, [&] {
      loop.deferredDelete(std::make_unique<Flag>(&destroyed));
      BOOST_TEST(!destroyed);  // not inside the callback
    });
    loop.run();
  }
  BOOST_TEST(destroyed);
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_CASE(a_poll_may_be_destroyed_from_its_own_callback) {
  Loop loop;
  auto [a, b] = pair();
  auto poll = std::make_unique<Poll>(loop, a.get());
  int calls = 0;
  BOOST_REQUIRE(poll->start(UV_READABLE, [&](int, int) {
    ++calls;
    poll.reset();
  }).isOk());
  BOOST_REQUIRE(write(b.get(), "x", 1) == 1);
  loop.run();
  BOOST_TEST(calls == 1);
  BOOST_TEST(!poll);
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_CASE(pump_relays_both_ways_with_half_close_and_bounded_memory) {
  Loop loop;
  auto [clientEnd, relayA] = pair();
  auto [relayB, serverEnd] = pair();
  auto pump = std::make_unique<Pump>(loop, std::move(relayA), std::move(relayB));
  bool done = false;
  pump->start([&] { done = true; });
  // Write 4 MiB from the client while nobody reads the server side for a
  // while: the pump must hold back, not buffer it all.
  const size_t total = 4 << 20;
  std::string sent(total, '\0');
  for (size_t i = 0; i < total; ++i) sent[i] = static_cast<char>(i * 131 % 251);
  size_t off = 0;
  std::string got;
  size_t maxBuffered = 0;
  auto driverOwner = std::make_unique<Timer>(loop);
  Timer& driver = *driverOwner;
  driver.start(1, 1, [&] {
    while (off < total) {
      ssize_t n = send(clientEnd.get(), sent.data() + off, std::min<size_t>(65536, total - off), MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    if (off == total) shutdown(clientEnd.get(), SHUT_WR);
    maxBuffered = std::max(maxBuffered, pump->bufferedBytes());
    char buf[65536];
    for (;;) {
      ssize_t n = recv(serverEnd.get(), buf, sizeof buf, 0);
      if (n > 0) { got.append(buf, static_cast<size_t>(n)); continue; }
      if (n == 0) {
        // EOF reached the server: answer and close its side.
        send(serverEnd.get(), "ok", 2, MSG_NOSIGNAL);
        shutdown(serverEnd.get(), SHUT_WR);
      }
      break;
    }
    if (done) driver.stop();
  });
  loop.run();
  BOOST_TEST(got.size() == total);
  BOOST_TEST((got == sent));
  BOOST_TEST(maxBuffered <= Pump::kScratchBytes);
  BOOST_TEST(pump->bytesAtoB() == total);
  BOOST_TEST(pump->bytesBtoA() == 2u);
  char reply[8];
  BOOST_TEST(recv(clientEnd.get(), reply, sizeof reply, 0) == 2);
  pump.reset();
  driverOwner.reset();
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_CASE(pump_keeps_seqpacket_boundaries_and_close_ends_both_sides) {
  Loop loop;
  auto [clientEnd, relayA] = pair(SOCK_SEQPACKET);
  auto [relayB, serverEnd] = pair(SOCK_SEQPACKET);
  auto pump = std::make_unique<Pump>(loop, std::move(relayA), std::move(relayB));
  bool done = false;
  pump->start([&] { done = true; });
  BOOST_REQUIRE(send(clientEnd.get(), "one", 3, 0) == 3);
  BOOST_REQUIRE(send(clientEnd.get(), "three", 5, 0) == 5);
  std::vector<std::string> records;
  auto tOwner = std::make_unique<Timer>(loop);
  Timer& t = *tOwner;
  t.start(1, 1, [&] {
    char buf[64];
    ssize_t n;
    while ((n = recv(serverEnd.get(), buf, sizeof buf, 0)) > 0) records.emplace_back(buf, static_cast<size_t>(n));
    if (records.size() == 2 && !done) pump->close();
    if (done) t.stop();
  });
  loop.run();
  BOOST_REQUIRE(records.size() == 2u);
  BOOST_TEST(records[0] == "one");
  BOOST_TEST(records[1] == "three");
  char b;
  BOOST_TEST(recv(clientEnd.get(), &b, 1, 0) == 0);  // closed by the relay
  pump.reset();
  tOwner.reset();
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
