// ApiConnection's output on a real libuv loop: answers made outside a read
// (a `connect` answered when the tunnel's OPEN_OK arrives) leave at the end of
// the loop iteration that made them, and output the socket cannot take at
// once still arrives whole. Every case ends with the loop closing cleanly.
#include "kith/daemon/api/api_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <optional>
#include <string>

using namespace kith;
using namespace kith::daemon;

namespace {

std::pair<UniqueFd, UniqueFd> pair() {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

// Runs single loop iterations until `done` or a bounded number of them.
template <typename Pred>
bool runUntil(Loop& loop, Pred done) {
  for (int i = 0; i < 10000 && !done(); ++i) uv_run(loop.raw(), UV_RUN_NOWAIT);
  return done();
}

std::string drain(int fd) {
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_api_connection)

BOOST_AUTO_TEST_CASE(an_answer_made_in_another_sockets_callback_leaves_in_the_same_loop_iteration) {
  Loop loop;
  {
    auto [daemonEnd, client] = pair();
    auto [trigger, triggerPeer] = pair();
    std::optional<Reply> pending;
    auto conn = std::make_shared<ApiConnection>(loop, std::move(daemonEnd), ApiConnection::Kind::kApi, Caller{});
    BOOST_REQUIRE(conn->start([&](ApiConnection&, nlohmann::json, Reply r) { pending.emplace(std::move(r)); },
                              [](ApiConnection&) {})
                      .isOk());
    const std::string req = "{\"id\":7,\"op\":\"hello\"}\n";
    BOOST_REQUIRE(::send(client.get(), req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
    BOOST_REQUIRE(runUntil(loop, [&] { return pending.has_value(); }));

    // The answer is made in the poll callback of another socket, as a
    // tunnel link's read makes a `connect` answer.
    Poll poll(loop, trigger.get());
    bool answered = false;
    BOOST_REQUIRE(poll.start(UV_READABLE, [&](int, int) {
                        char c;
                        (void)::recv(trigger.get(), &c, 1, 0);
                        pending->ok({{"answer", 42}});
                        answered = true;
                        poll.stop();
                      })
                      .isOk());
    BOOST_REQUIRE(::send(triggerPeer.get(), "x", 1, 0) == 1);
    // One iteration: the trigger's callback runs in its poll phase, the
    // answer leaves in its check phase (not in a later iteration's poll).
    for (int i = 0; i < 100 && !answered; ++i) uv_run(loop.raw(), UV_RUN_ONCE);
    BOOST_REQUIRE(answered);
    std::string got = drain(client.get());
    BOOST_TEST(got.find("\"id\":7") != std::string::npos);
    BOOST_TEST(got.find("\"answer\":42") != std::string::npos);
    BOOST_TEST((!got.empty() && got.back() == '\n'));
    conn->close();
  }
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_CASE(output_larger_than_the_socket_buffer_arrives_whole_as_the_client_reads) {
  Loop loop;
  {
    auto [daemonEnd, client] = pair();
    auto conn = std::make_shared<ApiConnection>(loop, std::move(daemonEnd), ApiConnection::Kind::kApi, Caller{});
    BOOST_REQUIRE(conn->start([](ApiConnection&, nlohmann::json, Reply) {}, [](ApiConnection&) {}).isOk());
    // ~2 MiB of events, far beyond a Unix socket's buffer; pushed from a
    // timer (outside any read), so the flush at iteration end meets EAGAIN
    // and the rest must go out on writability.
    const std::string blob(16 * 1024, 'b');
    const int kEvents = 128;
    Timer t(loop);
    t.start(0, 0, [&] {
      for (int i = 0; i < kEvents; ++i) conn->pushEvent({{"event", "blob"}, {"i", i}, {"data", blob}});
    });
    std::string got;
    auto lines = [&] { return std::count(got.begin(), got.end(), '\n'); };
    BOOST_REQUIRE(runUntil(loop, [&] {
      got += drain(client.get());
      return lines() == kEvents;
    }));
    BOOST_TEST(got.find("\"i\":0}") != std::string::npos);
    BOOST_TEST(got.find("\"i\":" + std::to_string(kEvents - 1) + "}") != std::string::npos);
    BOOST_TEST(conn->queuedBytes() == 0u);
    conn->close();
  }
  BOOST_TEST(loop.close() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
