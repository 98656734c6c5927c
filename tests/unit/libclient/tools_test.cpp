// kithcat and kithctl as users run them, against the scripted fake daemon:
// the requests they send, what they print, and their exit statuses.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "fake_daemon.h"
#include "run_tool.h"
#include "kith/common/json.h"

using kith::UniqueFd;
using kith::testing::FakeConn;
using kith::testing::FakeDaemon;
using kith::testing::Json;
using kith::testing::runTool;

namespace {

void serveRegister(FakeConn& s, const std::string& address) {
  if (auto r = s.read()) {
    s.ok(*r, {{"address", address},
              {"spiffe_id", "spiffe://dev.kith/" + address},
              {"identity_hash", std::string(64, '0')},
              {"token", std::string(64, '1')},
              {"ttl_ms", 30000}});
  }
}

// Reads everything until EOF (bounded), i.e. until the tool shut its side down.
std::string readToEof(int fd) {
  std::string got;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return got + "<timeout>";
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

void checkNoProblems(const FakeDaemon& d) {
  for (const auto& p : d.problems()) BOOST_ERROR("fake daemon: " << p);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(libclient_tools)

BOOST_AUTO_TEST_CASE(kithcat_usage_errors_exit_2_and_help_and_version_exit_0) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"-l", "a.b.c.d", "--as", "e.f.g.h", "x"},
      {"--as", "a.b.c.d"},
      {"-e", "cat"},
      {"-k", "--as", "a.b.c.d", "x"},
      {"--as", "a.b.c.d", "--mode", "bogus", "x"},
      {"--no-such-flag"},
  };
  for (const auto& args : bad) {
    auto r = runTool("kithcat", args);
    BOOST_TEST(r.status == 2, "args " << args.size() << ": " << r.err);
  }
  auto help = runTool("kithcat", {"--help"});
  BOOST_TEST(help.status == 0);
  BOOST_TEST(help.out.find("--allow") != std::string::npos);
  auto version = runTool("kithcat", {"--version"});
  BOOST_TEST(version.status == 0);
  BOOST_TEST(version.out == "kithcat " KITH_VERSION "\n");
}

BOOST_AUTO_TEST_CASE(kithcat_connect_sends_stdin_half_closes_and_prints_the_reply) {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::string received;
  FakeDaemon d([&](FakeConn& s) {
    serveRegister(s, "dev.cli.c1.default.n1");
    auto r = s.read();
    if (!r) return;
    s.ok(*r, {{"fd", true}, {"destination", "dev.echo.e1.default.n1"}, {"spiffe_id", "x"}},
         theirs.get());
    theirs.reset();
    // The peer's side: everything until kithcat's half-close, then answer.
    received = readToEof(mine.get());
    std::string answer = "got:" + received;
    if (write(mine.get(), answer.data(), answer.size()) < 0) s.problem("write failed");
    mine.reset();
    s.clientClosedCleanly();
  });
  auto r = runTool("kithcat", {"--socket", d.path(), "--as", "dev.cli.c1.default",
                               "dev.echo.e1.default.n1"},
                   "hello kith\n");
  d.join();
  checkNoProblems(d);
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(received == "hello kith\n");
  BOOST_TEST(r.out == "got:hello kith\n");
  BOOST_REQUIRE_EQUAL(d.requests().size(), 2u);
  BOOST_TEST(d.requests()[0]["op"] == "register");
  BOOST_TEST(d.requests()[0]["name"] == "dev.cli.c1.default");
  BOOST_TEST(d.requests()[1]["op"] == "connect");
  BOOST_TEST(d.requests()[1]["destination"] == "dev.echo.e1.default.n1");
  BOOST_TEST(d.requests()[1]["mode"] == "fd");
  BOOST_TEST(d.requests()[1]["proto"] == "tcp");
  BOOST_TEST(d.requests()[1]["token"] == std::string(64, '1'));
}

BOOST_AUTO_TEST_CASE(kithcat_refusal_prints_the_code_and_exits_1) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s, "dev.cli.c1.default.n1");
    if (auto r = s.read()) s.error(*r, "UNAUTHORIZED", "not in its whitelist");
  });
  auto r = runTool("kithcat", {"--socket", d.path(), "--as", "dev.cli.c1.default",
                               "dev.db.x.default.n1"});
  d.join();
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.err == "kithcat: UNAUTHORIZED: not in its whitelist\n");
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(kithcat_without_a_daemon_exits_1_naming_the_socket) {
  auto r = runTool("kithcat", {"--socket", "/nonexistent/kith/api.sock", "--as",
                               "dev.cli.c1.default", "dev.db.x.default.n1"});
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.err.find("kithcat: IO: cannot connect to /nonexistent/kith/api.sock") == 0u);
}

BOOST_AUTO_TEST_CASE(kithcat_udp_asks_for_udp_and_reports_a_refusal) {
  FakeDaemon d([](FakeConn& s) {
    serveRegister(s, "dev.cli.c1.default.n1");
    if (auto r = s.read()) s.error(*r, "BAD_REQUEST", "udp is not supported yet");
  });
  auto r = runTool("kithcat", {"-u", "--socket", d.path(), "--as", "dev.cli.c1.default",
                               "dev.dns.x.default.n1"});
  d.join();
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.err == "kithcat: BAD_REQUEST: udp is not supported yet\n");
  BOOST_REQUIRE_EQUAL(d.requests().size(), 2u);
  BOOST_TEST(d.requests()[0]["protocols"] == Json::array({"udp"}));
  BOOST_TEST(d.requests()[1]["proto"] == "udp");
}

BOOST_AUTO_TEST_CASE(kithcat_path_mode_connects_to_the_returned_socket) {
  // A one-shot socket like the daemon's, in a directory of its own.
  std::string dir;
  {
    char tmpl[] = "/tmp/kith-path-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  std::string streamPath = dir + "/stream.sock";
  UniqueFd lsock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, streamPath.c_str(), streamPath.size());
  BOOST_REQUIRE(bind(lsock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(listen(lsock.get(), 1) == 0);
  std::string received;
  FakeDaemon d([&](FakeConn& s) {
    serveRegister(s, "dev.cli.c1.default.n1");
    auto r = s.read();
    if (!r) return;
    s.ok(*r, {{"path", streamPath}, {"destination", "dev.echo.e1.default.n1"}, {"spiffe_id", "x"}});
    pollfd p{lsock.get(), POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) {
      s.problem("kithcat never connected to the path");
      return;
    }
    UniqueFd conn(accept(lsock.get(), nullptr, nullptr));
    received = readToEof(conn.get());
    if (write(conn.get(), "pong", 4) != 4) s.problem("write failed");
    conn.reset();
    s.clientClosedCleanly();
  });
  auto r = runTool("kithcat", {"--socket", d.path(), "--mode", "path", "--as",
                               "dev.cli.c1.default", "dev.echo.e1.default.n1"},
                   "ping");
  d.join();
  std::filesystem::remove_all(dir);
  checkNoProblems(d);
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(received == "ping");
  BOOST_TEST(r.out == "pong");
  BOOST_TEST(d.requests().at(1)["mode"] == "path");
}

BOOST_AUTO_TEST_CASE(kithcat_listen_runs_the_command_on_the_stream_and_reports_the_caller) {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::string output;
  FakeDaemon d([&](FakeConn& s) {
    serveRegister(s, "dev.up.u1.default.n1");
    auto listen = s.read();
    if (!listen) return;
    s.ok(*listen);
    s.send(Json{{"event", "incoming"},
                {"fd", true},
                {"stream", 3},
                {"source", "dev.cli.c9.default.n1"},
                {"spiffe_id", "spiffe://dev.kith/dev/cli/c9/default/n1"},
                {"proto", "tcp"}},
           theirs.get());
    theirs.reset();
    if (write(mine.get(), "shout\n", 6) != 6) s.problem("write failed");
    shutdown(mine.get(), SHUT_WR);
    output = readToEof(mine.get());
    s.clientClosedCleanly();  // without -k, kithcat exits after one stream
  });
  auto r = runTool("kithcat", {"-v", "--socket", d.path(), "-l", "dev.up.u1.default", "--allow",
                               "dev.cli.*.*.*", "--allow", "dev.ops.*.*.*", "-e",
                               "tr a-z A-Z"});
  d.join();
  checkNoProblems(d);
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(output == "SHOUT\n");
  BOOST_TEST(r.err.find("from dev.cli.c9.default.n1") != std::string::npos, r.err);
  BOOST_REQUIRE_EQUAL(d.requests().size(), 2u);
  BOOST_TEST(d.requests()[0]["whitelist"] == Json::array({"dev.cli.*.*.*", "dev.ops.*.*.*"}));
  BOOST_TEST(d.requests()[1]["op"] == "listen");
  BOOST_TEST(d.requests()[1]["token"] == std::string(64, '1'));
}

BOOST_AUTO_TEST_CASE(kithctl_status_falls_back_to_api_sock_and_json_is_the_raw_reply) {
  const Json status = {{"daemon", "kithd 0.1.0"}, {"machine", "fake-node"},
                       {"trust_domain", "dev.kith"}, {"uptime_ms", 192000},
                       {"workloads", 2}, {"connections", 3}, {"pid", 77}, {"version", 1}};
  std::string raw;
  FakeDaemon d([&](FakeConn& s) {
    if (auto r = s.read()) s.ok(*r, status);
  });
  // Only api.sock exists in the fake's directory: admin.sock is missing.
  auto r = runTool("kithctl", {"status", "--socket", d.path()});
  d.join();
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.out.find("fake-node") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("uptime") != std::string::npos);
  BOOST_TEST(r.out.find("3m12s") != std::string::npos);
  BOOST_TEST(r.out.find(d.path()) != std::string::npos);
  BOOST_TEST(d.requests().at(0)["op"] == "status");

  FakeDaemon d2([&](FakeConn& s) {
    if (auto req = s.read()) {
      Json reply = kith::api::okReply(req->value("id", Json()));
      for (auto& [k, v] : status.items()) reply[k] = v;
      raw = kith::api::toLine(reply);
      s.send(raw);
    }
  });
  auto j = runTool("kithctl", {"--json", "status", "--socket", d2.path()});
  d2.join();
  BOOST_TEST(j.status == 0, j.err);
  BOOST_TEST(j.out == raw);
}

BOOST_AUTO_TEST_CASE(kithctl_workloads_prints_a_table_from_admin_sock) {
  FakeDaemon d(
      [](FakeConn& s) {
        if (auto r = s.read()) {
          s.ok(*r, {{"workloads",
                     {{{"address", "dev.echo.e1.default.n1"},
                       {"pid", 4242},
                       {"uid", 1000},
                       {"exe", "/usr/bin/kithcat"},
                       {"registered_at", 1},
                       {"target", ""},
                       {"listening", true}},
                      {{"address", "dev.web.w1.default.n1"},
                       {"pid", 99},
                       {"uid", 33},
                       {"exe", "/usr/sbin/nginx"},
                       {"registered_at", 1},
                       {"target", "tcp:127.0.0.1:8080"},
                       {"proxy_protocol", true},
                       {"listening", false}}}}});
        }
      },
      "admin.sock");
  auto r = runTool("kithctl", {"workloads", "--socket", d.dir() + "/api.sock"});
  d.join();
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(d.requests().at(0)["op"] == "workloads");
  std::istringstream lines(r.out);
  std::string header, row1, row2;
  std::getline(lines, header);
  std::getline(lines, row1);
  std::getline(lines, row2);
  BOOST_TEST(header.find("ADDRESS") == 0u);
  for (const char* col : {"PID", "UID", "EXE", "AGE", "SERVES"}) {
    BOOST_TEST(header.find(col) != std::string::npos, col);
  }
  BOOST_TEST(row1.find("dev.echo.e1.default.n1") == 0u);
  BOOST_TEST(row1.find("4242") != std::string::npos);
  BOOST_TEST(row1.find("/usr/bin/kithcat") != std::string::npos);
  BOOST_TEST(row1.find("listening") != std::string::npos);
  BOOST_TEST(row2.find("tcp:127.0.0.1:8080 (proxy)") != std::string::npos, row2);
}

BOOST_AUTO_TEST_CASE(kithctl_admin_refusal_exits_1_and_usage_exits_2) {
  FakeDaemon d([](FakeConn& s) {
    if (auto r = s.read()) s.error(*r, "UNAUTHORIZED", "admin op on api.sock");
  }, "admin.sock");
  auto r = runTool("kithctl", {"workloads", "--socket", d.path()});
  d.join();
  BOOST_TEST(r.status == 1);
  BOOST_TEST(r.err == "kithctl: UNAUTHORIZED: admin op on api.sock\n");
  BOOST_TEST(runTool("kithctl", {}).status == 2);
  BOOST_TEST(runTool("kithctl", {"nosuchcommand"}).status == 2);
  BOOST_TEST(runTool("kithctl", {"events", "--since", "yesterday-ish"}).status == 2);
  auto v = runTool("kithctl", {"--version"});
  BOOST_TEST(v.status == 0);
  BOOST_TEST(v.out == "kithctl " KITH_VERSION "\n");
  // workloads needs admin.sock: no fallback to api.sock.
  auto none = runTool("kithctl", {"workloads", "--socket", "/nonexistent/kith/api.sock"});
  BOOST_TEST(none.status == 1);
  BOOST_TEST(none.err.find("/nonexistent/kith/admin.sock") != std::string::npos, none.err);
}

BOOST_AUTO_TEST_CASE(kithctl_events_prints_records_readably_or_as_json_and_follows) {
  const Json rec1 = {{"ts", 1700000000000000}, {"level", "info"}, {"mod", "registry"},
                     {"msg", "registered"}, {"address", "dev.a.b.default.n1"}};
  const Json rec2 = {{"ts", 1700000000500000}, {"level", "warn"}, {"mod", "broker"},
                     {"msg", "refused"}, {"code", "UNAUTHORIZED"}};
  FakeDaemon d(
      [&](FakeConn& s) {
        if (auto r = s.read()) s.ok(*r, {{"events", {rec1}}});
      },
      "admin.sock");
  auto r = runTool("kithctl", {"events", "--since", "1699999999000000", "--socket", d.path()});
  d.join();
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.out ==
             "2023-11-14T22:13:20.000000Z INFO registry registered address=dev.a.b.default.n1\n");
  BOOST_TEST(d.requests().at(0)["since"] == 1699999999000000);
  BOOST_TEST(d.requests().at(0)["follow"] == false);

  // --follow --json: the window, then each pushed record, one JSON line each;
  // the daemon closing the stream ends kithctl with status 1.
  FakeDaemon d2(
      [&](FakeConn& s) {
        if (auto r = s.read()) {
          s.ok(*r, {{"events", {rec1}}});
          s.send(Json{{"event", "log"}, {"record", rec2}});
        }
      },
      "admin.sock");
  auto f = runTool("kithctl", {"events", "--follow", "--json", "--socket", d2.path()});
  d2.join();
  BOOST_TEST(d2.requests().at(0)["follow"] == true);
  BOOST_TEST(f.status == 1);
  BOOST_TEST(f.out == kith::dumpJson(rec1) + "\n" + kith::dumpJson(rec2) + "\n");
  BOOST_TEST(f.err.find("closed") != std::string::npos, f.err);
}

BOOST_AUTO_TEST_SUITE_END()
