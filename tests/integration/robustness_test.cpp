// Malformed and hostile input never crashes or wedges the daemon.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <random>

#include "fixture.h"

using namespace kith::test;

namespace {

// The daemon still answers and still registers.
void assertServing(DaemonFixture& f) {
  auto c = f.client();
  auto h = c.request({{"op", "hello"}}, 5000);
  BOOST_REQUIRE_MESSAGE(h.isOk(), "daemon stopped answering: " << h.status().message());
  BOOST_TEST(errorCode(h->json) == "OK");
  BOOST_TEST(f.daemon.waitExit(0) == -1);  // still running
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(robustness, DaemonFixture)

BOOST_AUTO_TEST_CASE(random_bytes_get_bad_request_and_the_connection_survives) {
  std::mt19937 rng(42);
  for (int round = 0; round < 50; ++round) {
    auto c = client();
    std::string junk(1 + rng() % 2000, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng() % 256);
    for (auto& ch : junk) if (ch == '\n') ch = 'x';
    BOOST_REQUIRE(c.sendRaw(junk + "\n").isOk());
    auto r = c.next(5000);
    BOOST_REQUIRE(r.isOk());
    BOOST_TEST(errorCode(r->json) == "BAD_REQUEST");
    // Same connection, a good request next.
    BOOST_TEST(errorCode(c.request({{"op", "hello"}})->json) == "OK");
  }
  assertServing(*this);
}

BOOST_AUTO_TEST_CASE(oversize_lines_are_rejected_without_unbounded_buffering) {
  auto c = client();
  std::string huge(1 << 20, 'a');  // 1 MiB without a newline, then one
  BOOST_REQUIRE(c.sendRaw(huge).isOk());
  BOOST_REQUIRE(c.sendRaw("\n").isOk());
  auto r = c.next(5000);
  BOOST_REQUIRE(r.isOk());
  BOOST_TEST(errorCode(r->json) == "BAD_REQUEST");
  BOOST_TEST(r->json["error"]["message"].get<std::string>().find("longer than 65536") != std::string::npos);
  BOOST_TEST(errorCode(c.request({{"op", "hello"}})->json) == "OK");
  assertServing(*this);
}

BOOST_AUTO_TEST_CASE(deep_json_unknown_ops_and_missing_fields_are_bad_request) {
  auto c = client();
  BOOST_REQUIRE(c.sendRaw(std::string(30000, '[') + "\n").isOk());
  BOOST_TEST(errorCode(c.next(5000)->json) == "BAD_REQUEST");
  BOOST_REQUIRE(c.sendRaw("{\"op\":\"hello\",\"x\":" + std::string(20000, '{') + "\n").isOk());
  BOOST_TEST(errorCode(c.next(5000)->json) == "BAD_REQUEST");
  BOOST_TEST(errorCode(c.request({{"op", "no-such-op"}})->json) == "BAD_REQUEST");
  BOOST_TEST(errorCode(c.request({{"op", "register"}})->json) == "BAD_REQUEST");
  BOOST_TEST(errorCode(c.request({{"op", "connect"}, {"token", "t"}})->json) == "BAD_REQUEST");
  BOOST_TEST(errorCode(c.request({{"op", "register"}, {"name", "a.b.c.d"}, {"whitelist", "x"}})->json) ==
             "BAD_REQUEST");
  BOOST_TEST(errorCode(c.request({{"op", "resolve"}, {"name", "a.b.c.d.e"}, {"wait_ms", "soon"}})->json) ==
             "BAD_REQUEST");
  BOOST_REQUIRE(c.sendRaw("\n\n{\"op\":\"hello\",\"id\":9}\n").isOk());
  BOOST_TEST(errorCode(c.next(5000)->json) == "BAD_REQUEST");  // empty line
  BOOST_TEST(errorCode(c.next(5000)->json) == "BAD_REQUEST");
  auto ok = c.next(5000);
  BOOST_TEST(ok->json["id"] == 9);
  assertServing(*this);
}

BOOST_AUTO_TEST_CASE(half_closed_clients_get_their_answers_then_are_closed) {
  auto c = client();
  BOOST_REQUIRE(c.sendRaw("{\"id\":1,\"op\":\"hello\"}\n{\"id\":2,\"op\":\"status\"}\n").isOk());
  c.shutdownWrite();
  auto a = c.next(5000);
  auto b = c.next(5000);
  BOOST_REQUIRE(a.isOk());
  BOOST_REQUIRE(b.isOk());
  BOOST_TEST(a->json["id"] == 1);
  BOOST_TEST(b->json["id"] == 2);
  BOOST_TEST(!c.next(2000).isOk());  // then EOF
  // A half-closed client that sent half a line is simply closed.
  auto d = client();
  BOOST_REQUIRE(d.sendRaw("{\"op\":\"hel").isOk());
  d.shutdownWrite();
  BOOST_TEST(!d.next(2000).isOk());
  assertServing(*this);
}

BOOST_AUTO_TEST_CASE(a_thousand_clients_connecting_and_vanishing_leave_it_serving) {
  for (int i = 0; i < 1000; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, daemon.apiSocket().c_str(), sizeof sa.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && i % 3 == 0) {
      const char* part = "{\"op\":\"register\",\"name\":\"dev.x.y";
      (void)!send(fd, part, std::strlen(part), MSG_NOSIGNAL);
    }
    if (i % 5 == 0) {
      linger lg{1, 0};  // RST instead of FIN
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(fd);
  }
  assertServing(*this);
  auto s = client().request({{"op", "status"}});
  BOOST_TEST(s->json["connections"].get<int>() < 50);  // the vanished ones were reaped
}

BOOST_AUTO_TEST_CASE(a_client_that_never_reads_does_not_wedge_others) {
  auto hog = client();
  // Pipeline many requests and never read a reply.
  std::string burst;
  for (int i = 0; i < 20000; ++i) burst += "{\"op\":\"status\"}\n";
  int fl = fcntl(hog.fd(), F_GETFL);
  fcntl(hog.fd(), F_SETFL, fl | O_NONBLOCK);
  size_t off = 0;
  for (int tries = 0; tries < 200 && off < burst.size(); ++tries) {
    ssize_t n = send(hog.fd(), burst.data() + off, burst.size() - off, MSG_NOSIGNAL);
    if (n > 0) off += static_cast<size_t>(n);
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto t0 = std::chrono::steady_clock::now();
  assertServing(*this);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(ms < 2000);
}

BOOST_AUTO_TEST_SUITE_END()
