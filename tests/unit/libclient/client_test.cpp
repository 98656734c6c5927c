// libkith's C API against a scripted fake daemon: what goes on the wire, how
// replies, errors, descriptors and unsolicited messages come back.
#include "kith.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "fake_daemon.h"
#include "kith/common/json.h"

using kith::testing::FakeConn;
using kith::testing::FakeDaemon;
using kith::testing::Json;

namespace {

const std::string kToken(64, 'a');

// A client connected to `d`, closed at scope exit.
struct Client {
  explicit Client(const FakeDaemon& d) {
    char err[256] = {0};
    BOOST_REQUIRE_MESSAGE(kith_open_ex(d.path().c_str(), &c, err, sizeof err) == KITH_OK, err);
  }
  ~Client() { kith_close(c); }
  void close() {
    kith_close(c);
    c = nullptr;
  }
  kith_client* c = nullptr;
};

// Registers with a canned reply so the client holds kToken.
void serveRegister(FakeConn& s) {
  if (auto req = s.read()) {
    s.ok(*req, {{"address", "dev.a.b.default.node1"},
                {"spiffe_id", "spiffe://dev.kith/dev/a/b/default/node1"},
                {"identity_hash", std::string(64, 'f')},
                {"token", kToken},
                {"ttl_ms", 30000}});
  }
}

void registerClient(kith_client* c) {
  kith_register_options o{};
  o.name = "dev.a.b.default";
  BOOST_REQUIRE_EQUAL(kith_register(c, &o, nullptr), KITH_OK);
}

void checkNoProblems(const FakeDaemon& d) {
  for (const auto& p : d.problems()) BOOST_ERROR("fake daemon: " << p);
}

struct SocketPair {
  SocketPair() { BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0); }
  ~SocketPair() {
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(libclient_c_api)

BOOST_AUTO_TEST_CASE(register_sends_one_well_formed_line_with_every_option) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s);
    if (!s.clientClosedCleanly()) s.problem("client left bytes after its last request");
  });
  {
    Client cl(d);
    const char* wl[] = {"dev.web.*.*.*", "dev.cli.c1.default.node1"};
    const char* protos[] = {"tcp", "udp"};
    kith_register_options o{};
    o.name = "dev.echo.e1.default";
    o.whitelist = wl;
    o.whitelist_len = 2;
    o.target = "tcp:127.0.0.1:8080";
    o.proxy_protocol = 1;
    o.protocols = protos;
    o.protocols_len = 2;
    o.ttl_ms = 5000;
    o.app = "echo";
    kith_registration r{};
    BOOST_REQUIRE_EQUAL(kith_register(cl.c, &o, &r), KITH_OK);
    BOOST_TEST(std::string(r.address) == "dev.a.b.default.node1");
    BOOST_TEST(std::string(r.spiffe_id) == "spiffe://dev.kith/dev/a/b/default/node1");
    BOOST_TEST(std::string(r.identity_hash) == std::string(64, 'f'));
    BOOST_TEST(std::string(r.token) == kToken);
    BOOST_TEST(r.ttl_ms == 30000);
    BOOST_TEST(std::string(kith_token(cl.c)) == kToken);
    BOOST_TEST(std::string(kith_error_code(cl.c)) == "OK");
  }
  d.join();
  checkNoProblems(d);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 1u);
  const Json& req = d.requests()[0];
  BOOST_TEST(req["op"] == "register");
  BOOST_TEST(req["id"].is_number_integer());
  BOOST_TEST(req["name"] == "dev.echo.e1.default");
  BOOST_TEST(req["whitelist"] == Json::array({"dev.web.*.*.*", "dev.cli.c1.default.node1"}));
  BOOST_TEST(req["target"] == "tcp:127.0.0.1:8080");
  BOOST_TEST(req["proxy_protocol"] == true);
  BOOST_TEST(req["protocols"] == Json::array({"tcp", "udp"}));
  BOOST_TEST(req["ttl_ms"] == 5000);
  BOOST_TEST(req["app"] == "echo");
  // One object per line, nothing else on it.
  BOOST_TEST(d.rawLines()[0].find('\n') == std::string::npos);
  BOOST_TEST(kith::parseJson(d.rawLines()[0]) == req);
}

BOOST_AUTO_TEST_CASE(token_ops_carry_the_registered_token_and_ids_increase) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s);
    if (auto r = s.read()) s.ok(*r, {{"ttl_ms", 12000}});  // heartbeat
    if (auto r = s.read()) s.ok(*r);                       // listen
    if (auto r = s.read()) s.ok(*r);                       // deregister
  });
  Client cl(d);
  registerClient(cl.c);
  int ttl = 0;
  BOOST_TEST(kith_heartbeat(cl.c, &ttl) == KITH_OK);
  BOOST_TEST(ttl == 12000);
  BOOST_TEST(kith_listen(cl.c) == KITH_OK);
  BOOST_TEST(kith_deregister(cl.c) == KITH_OK);
  BOOST_TEST(kith_token(cl.c) == nullptr);
  // Without a token, token ops fail locally and send nothing.
  BOOST_TEST(kith_heartbeat(cl.c, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("no token") != std::string::npos);
  cl.close();
  d.join();
  checkNoProblems(d);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 4u);
  const char* ops[] = {"register", "heartbeat", "listen", "deregister"};
  for (size_t i = 0; i < 4; ++i) {
    BOOST_TEST(d.requests()[i]["op"] == ops[i]);
    if (i > 0) {
      BOOST_TEST(d.requests()[i]["token"] == kToken);
      BOOST_TEST(d.requests()[i]["id"].get<int64_t>() > d.requests()[i - 1]["id"].get<int64_t>());
    }
  }
}

BOOST_AUTO_TEST_CASE(set_token_acts_for_a_registration_made_elsewhere) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r);
  });
  Client cl(d);
  kith_set_token(cl.c, "cafe");
  BOOST_TEST(kith_heartbeat(cl.c, nullptr) == KITH_OK);
  cl.close();
  d.join();
  BOOST_REQUIRE_EQUAL(d.requests().size(), 1u);
  BOOST_TEST(d.requests()[0]["token"] == "cafe");
}

BOOST_AUTO_TEST_CASE(every_error_code_maps_to_its_status_name_and_message) {
  const std::pair<const char*, kith_status> codes[] = {
      {"BAD_REQUEST", KITH_BAD_REQUEST},
      {"TIMEOUT", KITH_TIMEOUT},
      {"INVALID_SOURCE", KITH_INVALID_SOURCE},
      {"DESTINATION_NOT_FOUND", KITH_DESTINATION_NOT_FOUND},
      {"DESTINATION_UNREACHABLE", KITH_DESTINATION_UNREACHABLE},
      {"CANNOT_CONNECT", KITH_CANNOT_CONNECT},
      {"UNAUTHORIZED", KITH_UNAUTHORIZED},
      {"ALREADY_REGISTERED", KITH_ALREADY_REGISTERED},
      {"RATE_LIMITED", KITH_RATE_LIMITED},
      {"INTERNAL", KITH_INTERNAL},
  };
  FakeDaemon d([&codes](FakeConn& s) {
    for (const auto& [code, st] : codes) {
      if (auto r = s.read()) s.error(*r, code, std::string("because ") + code);
    }
    // A code this library does not know keeps its wire name.
    if (auto r = s.read()) s.error(*r, "SOMETHING_NEW", "from the future");
  });
  Client cl(d);
  for (const auto& [code, st] : codes) {
    const kith_workload* w = nullptr;
    size_t n = 99;
    BOOST_TEST(kith_resolve(cl.c, "dev.x.*.*.*", 0, &w, &n) == st);
    BOOST_TEST(std::string(kith_error_code(cl.c)) == code);
    BOOST_TEST(std::string(kith_status_name(st)) == code);
    BOOST_TEST(std::string(kith_error_message(cl.c)) == std::string("because ") + code);
    BOOST_TEST(n == 0u);
    BOOST_TEST(w == nullptr);
  }
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_INTERNAL);
  BOOST_TEST(std::string(kith_error_code(cl.c)) == "SOMETHING_NEW");
  BOOST_TEST(std::string(kith_error_message(cl.c)) == "from the future");
  d.join();
  checkNoProblems(d);
}

BOOST_AUTO_TEST_CASE(status_names_cover_the_local_statuses) {
  BOOST_TEST(std::string(kith_status_name(KITH_OK)) == "OK");
  BOOST_TEST(std::string(kith_status_name(KITH_IO)) == "IO");
  BOOST_TEST(std::string(kith_status_name(KITH_AGAIN)) == "AGAIN");
  BOOST_TEST(std::string(kith_status_name(static_cast<kith_status>(999))) == "UNKNOWN");
  BOOST_TEST(std::string(kith_version()) == KITH_VERSION);
}

BOOST_AUTO_TEST_CASE(resolve_sends_wait_ms_and_returns_every_workload) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) {
      s.ok(*r, {{"workloads",
                 {{{"address", "dev.db.a.default.n1"},
                   {"spiffe_id", "spiffe://dev.kith/dev/db/a/default/n1"},
                   {"machine", "n1"},
                   {"protocols", {"tcp", "udp"}}},
                  {{"address", "dev.db.b.default.n2"},
                   {"spiffe_id", "spiffe://dev.kith/dev/db/b/default/n2"},
                   {"machine", "n2"},
                   {"protocols", {"tcp"}}}}}});
    }
  });
  Client cl(d);
  const kith_workload* w = nullptr;
  size_t n = 0;
  BOOST_REQUIRE_EQUAL(kith_resolve(cl.c, "dev.db.*.default.*", 250, &w, &n), KITH_OK);
  BOOST_REQUIRE_EQUAL(n, 2u);
  BOOST_TEST(std::string(w[0].address) == "dev.db.a.default.n1");
  BOOST_TEST(std::string(w[0].protocols) == "tcp,udp");
  BOOST_TEST(std::string(w[1].machine) == "n2");
  BOOST_TEST(std::string(w[1].spiffe_id) == "spiffe://dev.kith/dev/db/b/default/n2");
  d.join();
  checkNoProblems(d);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 1u);
  BOOST_TEST(d.requests()[0]["op"] == "resolve");
  BOOST_TEST(d.requests()[0]["name"] == "dev.db.*.default.*");
  BOOST_TEST(d.requests()[0]["wait_ms"] == 250);
}

BOOST_AUTO_TEST_CASE(connect_fd_reply_hands_back_a_working_stream) {
  SocketPair pair;
  int daemonEnd = pair.fds[0];
  int clientEnd = pair.fds[1];
  FakeDaemon d([clientEnd](FakeConn& s) {
    serveRegister(s);
    if (auto r = s.read()) {
      s.ok(*r,
           {{"fd", true},
            {"destination", "dev.echo.e1.default.n1"},
            {"spiffe_id", "spiffe://dev.kith/dev/echo/e1/default/n1"}},
           clientEnd);
    }
  });
  Client cl(d);
  registerClient(cl.c);
  kith_connection conn{};
  BOOST_REQUIRE_EQUAL(kith_connect(cl.c, "dev.echo.*.default.*", nullptr, &conn), KITH_OK);
  d.join();
  close(pair.fds[1]);  // the client holds its own copy now
  pair.fds[1] = -1;
  BOOST_TEST(std::string(conn.destination) == "dev.echo.e1.default.n1");
  BOOST_TEST(std::string(conn.spiffe_id) == "spiffe://dev.kith/dev/echo/e1/default/n1");
  BOOST_TEST(conn.path == nullptr);
  BOOST_REQUIRE(conn.fd >= 0);
  BOOST_TEST((fcntl(conn.fd, F_GETFD) & FD_CLOEXEC) != 0);
  BOOST_REQUIRE(write(conn.fd, "ping", 4) == 4);
  BOOST_TEST(kith::testing::readExactly(daemonEnd, 4) == "ping");
  BOOST_REQUIRE(write(daemonEnd, "pong", 4) == 4);
  BOOST_TEST(kith::testing::readExactly(conn.fd, 4) == "pong");
  close(conn.fd);
  checkNoProblems(d);
  const Json& req = d.requests().at(1);
  BOOST_TEST(req["op"] == "connect");
  BOOST_TEST(req["token"] == kToken);
  BOOST_TEST(req["destination"] == "dev.echo.*.default.*");
  BOOST_TEST(req["proto"] == "tcp");
  BOOST_TEST(req["mode"] == "fd");
}

BOOST_AUTO_TEST_CASE(connect_path_mode_returns_the_path) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s);
    if (auto r = s.read()) {
      s.ok(*r, {{"path", "/run/kith/streams/x.sock"},
                {"destination", "dev.echo.e1.default.n1"},
                {"spiffe_id", "spiffe://dev.kith/dev/echo/e1/default/n1"}});
    }
  });
  Client cl(d);
  registerClient(cl.c);
  kith_connect_options o{};
  o.mode = KITH_CONNECT_PATH;
  o.proto = "udp";
  o.timeout_ms = 1500;
  kith_connection conn{};
  BOOST_REQUIRE_EQUAL(kith_connect(cl.c, "dev.echo.e1.default.n1", &o, &conn), KITH_OK);
  BOOST_TEST(conn.fd == -1);
  BOOST_TEST(std::string(conn.path) == "/run/kith/streams/x.sock");
  d.join();
  checkNoProblems(d);
  const Json& req = d.requests().at(1);
  BOOST_TEST(req["mode"] == "path");
  BOOST_TEST(req["proto"] == "udp");
  BOOST_TEST(req["timeout_ms"] == 1500);
}

BOOST_AUTO_TEST_CASE(connect_fd_reply_without_a_descriptor_is_an_io_error) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s);
    // Says "fd": true but attaches nothing.
    if (auto r = s.read()) s.ok(*r, {{"fd", true}, {"destination", "x"}});
  });
  Client cl(d);
  registerClient(cl.c);
  kith_connection conn{};
  BOOST_TEST(kith_connect(cl.c, "dev.echo.e1.default.n1", nullptr, &conn) == KITH_IO);
  BOOST_TEST(conn.fd == -1);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("no descriptor") != std::string::npos);
  // The connection is out of step with the daemon now: later calls fail too.
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_IO);
  d.join();
}

BOOST_AUTO_TEST_CASE(events_and_streams_arriving_before_a_reply_are_queued_in_order) {
  SocketPair s1, s2;
  int stream1 = s1.fds[1], stream2 = s2.fds[1];
  FakeDaemon d([stream1, stream2](FakeConn& s) {
    serveRegister(s);
    if (auto r = s.read()) s.ok(*r);  // watch
    if (auto r = s.read()) s.ok(*r);  // listen
    if (auto r = s.read()) {          // status: events and streams first
      s.send(Json{{"event", "register"},
                  {"address", "dev.x.y.default.n1"},
                  {"spiffe_id", "spiffe://dev.kith/dev/x/y/default/n1"},
                  {"ts", 1700000000000001}});
      s.send(Json{{"event", "incoming"},
                  {"fd", true},
                  {"stream", 7},
                  {"source", "dev.cli.c1.default.n1"},
                  {"spiffe_id", "spiffe://dev.kith/dev/cli/c1/default/n1"},
                  {"proto", "tcp"}},
             stream1);
      s.send(Json{{"event", "deregister"},
                  {"address", "dev.x.y.default.n1"},
                  {"reason", "exit"},
                  {"ts", 1700000000000002}});
      s.send(Json{{"event", "incoming"},
                  {"fd", true},
                  {"stream", 8},
                  {"source", "dev.cli.c2.default.n1"},
                  {"spiffe_id", "spiffe://dev.kith/dev/cli/c2/default/n1"}},
             stream2);
      s.ok(*r, {{"machine", "n1"}});
    }
  });
  Client cl(d);
  registerClient(cl.c);
  BOOST_REQUIRE_EQUAL(kith_watch(cl.c, "dev.*.*.*.*"), KITH_OK);
  BOOST_REQUIRE_EQUAL(kith_listen(cl.c), KITH_OK);
  const char* json = nullptr;
  BOOST_REQUIRE_EQUAL(kith_daemon_status(cl.c, &json), KITH_OK);
  BOOST_TEST(kith::parseJson(json)["machine"] == "n1");
  d.join();
  checkNoProblems(d);
  BOOST_TEST(d.requests().at(1)["pattern"] == "dev.*.*.*.*");

  kith_event ev{};
  BOOST_REQUIRE_EQUAL(kith_next_event(cl.c, 0, &ev), KITH_OK);
  BOOST_TEST(std::string(ev.type) == "register");
  BOOST_TEST(std::string(ev.address) == "dev.x.y.default.n1");
  BOOST_TEST(std::string(ev.spiffe_id) == "spiffe://dev.kith/dev/x/y/default/n1");
  BOOST_TEST(ev.ts == 1700000000000001);
  BOOST_TEST(kith::parseJson(ev.json)["event"] == "register");
  BOOST_REQUIRE_EQUAL(kith_next_event(cl.c, 0, &ev), KITH_OK);
  BOOST_TEST(std::string(ev.type) == "deregister");
  BOOST_TEST(std::string(ev.reason) == "exit");

  // Each stream comes with the descriptor that was sent with it.
  kith_incoming in{};
  BOOST_REQUIRE_EQUAL(kith_accept(cl.c, 0, &in), KITH_OK);
  BOOST_TEST(in.stream == 7u);
  BOOST_TEST(std::string(in.source) == "dev.cli.c1.default.n1");
  BOOST_TEST(std::string(in.spiffe_id) == "spiffe://dev.kith/dev/cli/c1/default/n1");
  BOOST_TEST(std::string(in.proto) == "tcp");
  BOOST_REQUIRE(write(in.fd, "1", 1) == 1);
  BOOST_TEST(kith::testing::readExactly(s1.fds[0], 1) == "1");
  close(in.fd);
  BOOST_REQUIRE_EQUAL(kith_accept(cl.c, 0, &in), KITH_OK);
  BOOST_TEST(in.stream == 8u);
  BOOST_TEST(std::string(in.proto) == "tcp");  // defaulted when absent
  BOOST_REQUIRE(write(in.fd, "2", 1) == 1);
  BOOST_TEST(kith::testing::readExactly(s2.fds[0], 1) == "2");
  close(in.fd);

  // Nothing left, and the fake daemon has closed: the connection says so.
  BOOST_TEST(kith_accept(cl.c, 0, &in) == KITH_IO);
  BOOST_TEST(in.fd == -1);
  BOOST_TEST(kith_next_event(cl.c, 0, &ev) == KITH_IO);
}

BOOST_AUTO_TEST_CASE(accept_and_next_event_time_out_with_again) {
  FakeDaemon d([](FakeConn& s) {
    // Hold the connection open, silent, until the client closes it.
    s.clientClosedCleanly(10000);
  });
  Client cl(d);
  auto t0 = std::chrono::steady_clock::now();
  kith_incoming in{};
  BOOST_TEST(kith_accept(cl.c, 100, &in) == KITH_AGAIN);
  BOOST_TEST(std::string(kith_error_code(cl.c)) == "AGAIN");
  kith_event ev{};
  BOOST_TEST(kith_next_event(cl.c, 0, &ev) == KITH_AGAIN);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  BOOST_TEST(ms >= 90);
  BOOST_TEST(ms < 3000);
  cl.close();
}

BOOST_AUTO_TEST_CASE(daemon_closing_is_io_but_streams_queued_before_are_delivered) {
  SocketPair pair;
  int stream = pair.fds[1];
  FakeDaemon d([stream](FakeConn& s) {
    serveRegister(s);
    if (auto r = s.read()) {
      s.ok(*r);  // listen
      s.send(Json{{"event", "incoming"},
                  {"fd", true},
                  {"stream", 1},
                  {"source", "dev.cli.c1.default.n1"},
                  {"spiffe_id", "s"}},
             stream);
    }
    // Returning closes the connection.
  });
  Client cl(d);
  registerClient(cl.c);
  BOOST_REQUIRE_EQUAL(kith_listen(cl.c), KITH_OK);
  d.join();
  kith_incoming in{};
  BOOST_REQUIRE_EQUAL(kith_accept(cl.c, 5000, &in), KITH_OK);
  BOOST_TEST(in.stream == 1u);
  close(in.fd);
  BOOST_TEST(kith_accept(cl.c, 5000, &in) == KITH_IO);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("closed") != std::string::npos);
  BOOST_TEST(kith_heartbeat(cl.c, nullptr) == KITH_IO);
}

BOOST_AUTO_TEST_CASE(long_replies_are_accepted_up_to_the_reply_limit) {
  // Replies may be longer than the 64 KiB request limit (a long workloads list).
  std::string pad(1 << 20, 'p');
  FakeDaemon d([&pad](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r, {{"pad", pad}});
  });
  Client cl(d);
  const char* json = nullptr;
  BOOST_REQUIRE_EQUAL(kith_hello(cl.c, &json), KITH_OK);
  BOOST_TEST(kith::parseJson(json)["pad"].get<std::string>().size() == pad.size());
  d.join();
}

BOOST_AUTO_TEST_CASE(oversize_reply_is_an_io_error_not_a_crash) {
  FakeDaemon d([](FakeConn& s) {
    // One line past the 64 MiB reply limit; the send ends when the client,
    // having given up, closes.
    if (s.read()) s.send(std::string((size_t{64} << 20) + 4096, 'x') + "\n");
  });
  Client cl(d);
  const char* json = nullptr;
  BOOST_TEST(kith_hello(cl.c, &json) == KITH_IO);
  BOOST_TEST(json == nullptr);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("exceeds 67108864") != std::string::npos,
             kith_error_message(cl.c));
  BOOST_TEST(kith_hello(cl.c, &json) == KITH_IO);  // stays broken: out of step
  cl.close();
  d.join();
}

BOOST_AUTO_TEST_CASE(garbage_replies_are_io_errors_not_crashes) {
  const std::string garbage[] = {
      "not json at all\n",
      "[1,2,3]\n",
      "\"a string\"\n",
      std::string(100, '[') + "\n",
      std::string(20000, '{') + "\n",
      "{\"id\":1,\"ok\":tru\n",
      std::string("\x00\xff\xfe{}\n", 6),
  };
  for (const auto& g : garbage) {
    FakeDaemon d([&g](FakeConn& s) {
      if (s.read()) s.send(g);
    });
    Client cl(d);
    BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_IO, "garbage " << g.substr(0, 20));
    BOOST_TEST(std::string(kith_error_message(cl.c)).find("protocol error") != std::string::npos);
    d.join();
  }
}

BOOST_AUTO_TEST_CASE(reply_with_another_id_is_a_protocol_error) {
  FakeDaemon d([](FakeConn& s) {
    if (s.read()) s.send(Json{{"id", 4242}, {"ok", true}});
  });
  Client cl(d);
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_IO);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("4242") != std::string::npos);
  d.join();
}

BOOST_AUTO_TEST_CASE(reply_timeout_is_io_and_breaks_the_client) {
  FakeDaemon d([](FakeConn& s) {
    s.read();                      // never answered
    s.clientClosedCleanly(10000);  // until the client gives up and closes
  });
  Client cl(d);
  kith_set_timeout(cl.c, 100);
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_IO);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  BOOST_TEST(ms >= 90);
  BOOST_TEST(ms < 3000);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("no reply") != std::string::npos);
  cl.close();
  d.join();
}

// kith_fileno's socket made non-blocking by the application (an event loop
// that registers it): without a deadline the client still waits for the
// reply in poll(), it neither fails nor spins.
BOOST_AUTO_TEST_CASE(a_socket_made_non_blocking_still_waits_for_its_reply_without_spinning) {
  FakeDaemon d([](FakeConn& s) {
    auto r = s.read();
    if (!r) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    s.ok(*r, {{"daemon", "fake"}});
  });
  Client cl(d);
  int fd = kith_fileno(cl.c);
  BOOST_REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  rusage before{}, after{};
  BOOST_REQUIRE(::getrusage(RUSAGE_THREAD, &before) == 0);
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_OK, kith_error_message(cl.c));
  BOOST_REQUIRE(::getrusage(RUSAGE_THREAD, &after) == 0);
  auto cpuMs = [](const rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
  };
  // A spinning wait would burn most of the 800 ms on a CPU.
  BOOST_TEST(cpuMs(after) - cpuMs(before) < 100.0);
  cl.close();
  d.join();
  checkNoProblems(d);
}

BOOST_AUTO_TEST_CASE(descriptors_not_handed_out_are_closed) {
  SocketPair forReply, forEvent;
  int replyFd = forReply.fds[1], eventFd = forEvent.fds[1];
  FakeDaemon d([replyFd, eventFd](FakeConn& s) {
    if (auto r = s.read()) {
      // An event other than "incoming" that carries a descriptor, then a reply
      // with one that the caller does not take.
      s.send(Json{{"event", "something"}, {"fd", true}}, eventFd);
      s.ok(*r, {{"fd", true}}, replyFd);
    }
    s.clientClosedCleanly(10000);
  });
  Client cl(d);
  char* reply = nullptr;
  BOOST_REQUIRE_EQUAL(kith_request(cl.c, "{\"op\":\"frob\"}", &reply, nullptr), KITH_OK);
  kith_free(reply);
  close(forReply.fds[1]);
  forReply.fds[1] = -1;
  close(forEvent.fds[1]);
  forEvent.fds[1] = -1;
  // The client closed its copies: the other ends see EOF.
  BOOST_TEST(kith::testing::seesEof(forReply.fds[0]));
  BOOST_TEST(kith::testing::seesEof(forEvent.fds[0]));
  kith_event ev{};
  BOOST_REQUIRE_EQUAL(kith_next_event(cl.c, 0, &ev), KITH_OK);
  BOOST_TEST(std::string(ev.type) == "something");
  cl.close();
  d.join();
}

BOOST_AUTO_TEST_CASE(request_passes_raw_json_and_returns_replies_ok_or_not) {
  SocketPair pair;
  int fd = pair.fds[1];
  FakeDaemon d([fd](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r, {{"workloads", Json::array()}});
    if (auto r = s.read()) s.error(*r, "UNAUTHORIZED", "admin op on api.sock");
    if (auto r = s.read()) s.ok(*r, {{"fd", true}}, fd);
  });
  Client cl(d);
  char* reply = nullptr;
  int got = -2;
  BOOST_REQUIRE_EQUAL(kith_request(cl.c, R"({"op":"workloads","extra":[1,2]})", &reply, &got),
                      KITH_OK);
  BOOST_REQUIRE(reply != nullptr);
  Json j = kith::parseJson(reply);
  kith_free(reply);
  BOOST_TEST(j["ok"] == true);
  BOOST_TEST(j["workloads"] == Json::array());
  BOOST_TEST(got == -1);

  BOOST_TEST(kith_request(cl.c, R"({"op":"peers","id":"mine"})", &reply, nullptr) ==
             KITH_UNAUTHORIZED);
  BOOST_REQUIRE(reply != nullptr);
  BOOST_TEST(kith::parseJson(reply)["error"]["code"] == "UNAUTHORIZED");
  BOOST_TEST(kith::parseJson(reply)["id"] == "mine");
  kith_free(reply);
  BOOST_TEST(std::string(kith_error_message(cl.c)) == "admin op on api.sock");

  BOOST_REQUIRE_EQUAL(kith_request(cl.c, R"({"op":"x"})", nullptr, &got), KITH_OK);
  BOOST_TEST(got >= 0);
  BOOST_REQUIRE(write(got, "z", 1) == 1);
  BOOST_TEST(kith::testing::readExactly(pair.fds[0], 1) == "z");
  close(got);
  d.join();
  checkNoProblems(d);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 3u);
  BOOST_TEST(d.requests()[0]["extra"] == Json::array({1, 2}));
  BOOST_TEST(d.requests()[0]["id"].is_number_integer());
  BOOST_TEST(d.requests()[1]["id"] == "mine");  // the caller's id is kept
}

BOOST_AUTO_TEST_CASE(bad_requests_fail_locally_and_send_nothing) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r);
  });
  Client cl(d);
  BOOST_TEST(kith_request(cl.c, "not json", nullptr, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_request(cl.c, "{\"no\":\"op\"}", nullptr, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(std::string(kith_error_message(cl.c)).find("op") != std::string::npos);
  std::string huge = "{\"op\":\"x\",\"pad\":\"" + std::string(70000, 'p') + "\"}";
  BOOST_TEST(kith_request(cl.c, huge.c_str(), nullptr, nullptr) == KITH_BAD_REQUEST);
  kith_register_options o{};
  BOOST_TEST(kith_register(cl.c, &o, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_connect(cl.c, "dev.a.b.c.d", nullptr, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_resolve(cl.c, "", 0, nullptr, nullptr) == KITH_BAD_REQUEST);
  // The connection is still fine: the first line the daemon sees is this one.
  BOOST_TEST(kith_hello(cl.c, nullptr) == KITH_OK);
  d.join();
  checkNoProblems(d);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 1u);
  BOOST_TEST(d.requests()[0]["op"] == "hello");
}

BOOST_AUTO_TEST_CASE(null_arguments_are_refused_not_dereferenced) {
  BOOST_TEST(kith_open(nullptr, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_hello(nullptr, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_accept(nullptr, 0, nullptr) == KITH_BAD_REQUEST);
  BOOST_TEST(kith_fileno(nullptr) == -1);
  BOOST_TEST(std::string(kith_error_code(nullptr)) == "BAD_REQUEST");
  kith_close(nullptr);
  kith_free(nullptr);
}

BOOST_AUTO_TEST_CASE(open_follows_the_lookup_order) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r, {{"machine", "fake"}});
  });
  const char* oldSocket = std::getenv("KITH_SOCKET");
  const char* oldHome = std::getenv("KITH_HOME");
  std::string savedSocket = oldSocket ? oldSocket : "", savedHome = oldHome ? oldHome : "";

  // $KITH_HOME/run/api.sock when KITH_SOCKET is unset: nothing there -> IO
  // naming that path.
  unsetenv("KITH_SOCKET");
  setenv("KITH_HOME", d.dir().c_str(), 1);
  kith_client* c = nullptr;
  char err[512] = {0};
  BOOST_TEST(kith_open_ex(nullptr, &c, err, sizeof err) == KITH_IO);
  BOOST_TEST(c == nullptr);
  BOOST_TEST(std::string(err).find(d.dir() + "/run/api.sock") != std::string::npos);
  // Admin: admin.sock beside the resolved api.sock.
  BOOST_TEST(kith_open_admin(nullptr, &c, err, sizeof err) == KITH_IO);
  BOOST_TEST(std::string(err).find(d.dir() + "/run/admin.sock") != std::string::npos);
  BOOST_TEST(kith_open_admin("/nonexistent/dir/api.sock", &c, err, sizeof err) == KITH_IO);
  BOOST_TEST(std::string(err).find("/nonexistent/dir/admin.sock") != std::string::npos);

  // $KITH_SOCKET wins over $KITH_HOME.
  setenv("KITH_SOCKET", d.path().c_str(), 1);
  BOOST_REQUIRE_EQUAL(kith_open(nullptr, &c), KITH_OK);
  const char* json = nullptr;
  BOOST_TEST(kith_hello(c, &json) == KITH_OK);
  BOOST_TEST(kith::parseJson(json)["machine"] == "fake");
  BOOST_TEST(kith_fileno(c) >= 0);
  kith_close(c);

  if (oldSocket) setenv("KITH_SOCKET", savedSocket.c_str(), 1);
  else unsetenv("KITH_SOCKET");
  if (oldHome) setenv("KITH_HOME", savedHome.c_str(), 1);
  else unsetenv("KITH_HOME");
  d.join();
}

BOOST_AUTO_TEST_CASE(list_returns_every_workload_and_watch_without_pattern_sends_none) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) {
      s.ok(*r, {{"workloads", {{{"address", "a.b.c.d.e"}, {"spiffe_id", "s"}, {"machine", "e"}}}}});
    }
    if (auto r = s.read()) s.ok(*r);
  });
  Client cl(d);
  const kith_workload* w = nullptr;
  size_t n = 0;
  BOOST_REQUIRE_EQUAL(kith_list(cl.c, &w, &n), KITH_OK);
  BOOST_REQUIRE_EQUAL(n, 1u);
  BOOST_TEST(std::string(w[0].address) == "a.b.c.d.e");
  BOOST_TEST(std::string(w[0].protocols) == "");
  BOOST_TEST(kith_watch(cl.c, nullptr) == KITH_OK);
  d.join();
  checkNoProblems(d);
  BOOST_TEST(d.requests().at(0)["op"] == "list");
  BOOST_TEST(d.requests().at(1)["op"] == "watch");
  BOOST_TEST(!d.requests().at(1).contains("pattern"));
}

BOOST_AUTO_TEST_SUITE_END()
