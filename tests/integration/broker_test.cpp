// Local brokering: connect between workloads on one machine, against a real kithd.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <set>
#include <sys/wait.h>

#include "fixture.h"
#include "kith/common/json.h"
#include "kith/socket-api/proxy_header.h"

using namespace kith::test;
using nlohmann::json;
namespace api = kith::api;

namespace {

std::string readSome(int fd, size_t want, int timeoutMs = 3000) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (out.size() < want && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, std::min(sizeof buf, want - out.size()), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

kith::UniqueFd unixListener(const std::string& path) {
  kith::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  BOOST_REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  BOOST_REQUIRE(listen(fd.get(), 8) == 0);
  return fd;
}

kith::UniqueFd tcpListener(uint16_t* port) {
  kith::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  socklen_t len = sizeof sa;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  BOOST_REQUIRE(listen(fd.get(), 8) == 0);
  return fd;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(local_broker, DaemonFixture)

BOOST_AUTO_TEST_CASE(connect_to_a_listener_links_both_ends_and_names_the_caller) {
  auto srv = client();
  auto s = reg(srv, {{"name", "dev.echo.e1.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_TEST(errorCode(srv.request({{"op", "listen"}, {"token", s["token"]}})->json) == "OK");
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.echo.e1.default")}});
  BOOST_REQUIRE(r.isOk());
  BOOST_TEST(errorCode(r->json) == "OK");
  BOOST_TEST(r->json["destination"] == addr("dev.echo.e1.default"));
  BOOST_REQUIRE(r->fd.valid());
  auto in = srv.nextEvent(2000);
  BOOST_REQUIRE(in.isOk());
  BOOST_TEST(in->json["event"] == "incoming");
  BOOST_TEST(in->json["source"] == addr("dev.cli.c1.default"));
  BOOST_TEST(in->json["spiffe_id"] == c["spiffe_id"]);
  BOOST_REQUIRE(in->fd.valid());
  BOOST_REQUIRE(send(r->fd.get(), "ping", 4, 0) == 4);
  BOOST_TEST(readSome(in->fd.get(), 4) == "ping");
  BOOST_REQUIRE(send(in->fd.get(), "pong", 4, 0) == 4);
  BOOST_TEST(readSome(r->fd.get(), 4) == "pong");
  // Half-close travels: the server sees EOF after the client shuts its write side.
  shutdown(r->fd.get(), SHUT_WR);
  char b;
  BOOST_TEST(recv(in->fd.get(), &b, 1, 0) == 0);
}

BOOST_AUTO_TEST_CASE(each_connect_error_happens_for_its_reason) {
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  std::string token = c["token"];
  auto connect = [&](const std::string& tok, const std::string& dst) {
    return errorCode(cli.request({{"op", "connect"}, {"token", tok}, {"destination", dst}})->json);
  };
  // INVALID_SOURCE: a token that names no registration.
  BOOST_TEST(connect(std::string(64, '0'), "dev.x.y.z.w") == "INVALID_SOURCE");
  // DESTINATION_NOT_FOUND: nobody matches.
  BOOST_TEST(connect(token, addr("dev.nobody.n.default")) == "DESTINATION_NOT_FOUND");
  BOOST_TEST(connect(token, "dev.nobody.*.*.*") == "DESTINATION_NOT_FOUND");
  // CANNOT_CONNECT: registered, allowed, but not listening.
  auto srv = client();
  reg(srv, {{"name", "dev.quiet.q1.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_TEST(connect(token, addr("dev.quiet.q1.default")) == "CANNOT_CONNECT");
  // CANNOT_CONNECT: a target that refuses (nothing listens on that path).
  reg(srv, {{"name", "dev.gone.g1.default"}, {"whitelist", {"dev.*.*.*.*"}},
            {"target", "unix:" + dir.path() + "/nothing.sock"}});
  BOOST_TEST(connect(token, addr("dev.gone.g1.default")) == "CANNOT_CONNECT");
  // UNAUTHORIZED: not in the whitelist, and across scopes; the message explains.
  reg(srv, {{"name", "dev.private.p1.default"}, {"whitelist", {"dev.web.*.*.*"}}});
  auto denied = cli.request({{"op", "connect"}, {"token", token}, {"destination", addr("dev.private.p1.default")}});
  BOOST_TEST(errorCode(denied->json) == "UNAUTHORIZED");
  BOOST_TEST(denied->json["error"]["message"].get<std::string>().find("whitelist") != std::string::npos);
  reg(srv, {{"name", "prod.db.d1.default"}, {"whitelist", {"*.*.*.*.*"}}});
  auto cross = cli.request({{"op", "connect"}, {"token", token}, {"destination", addr("prod.db.d1.default")}});
  BOOST_TEST(errorCode(cross->json) == "UNAUTHORIZED");
  BOOST_TEST(cross->json["error"]["message"].get<std::string>().find("scopes differ") != std::string::npos);
  // BAD_REQUEST: malformed destination, unknown mode.
  BOOST_TEST(connect(token, "not an address") == "BAD_REQUEST");
  BOOST_TEST(errorCode(cli.request({{"op", "connect"}, {"token", token}, {"destination", "dev.*.*.*.*"},
                                    {"mode", "carrier-pigeon"}})->json) == "BAD_REQUEST");
}

// Most loopback targets have finished their handshake when connect(2)
// returns; one whose accept queue is full has not (the kernel drops the SYN),
// and the daemon waits for it only as long as the connect's timeout.
BOOST_AUTO_TEST_CASE(a_target_that_never_completes_the_handshake_is_cannot_connect_after_the_timeout) {
  uint16_t port = 0;
  auto lfd = tcpListener(&port);
  BOOST_REQUIRE(listen(lfd.get(), 0) == 0);  // room for one waiting connection
  kith::UniqueFd filler(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  BOOST_REQUIRE(::connect(filler.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  auto srv = client();
  reg(srv, {{"name", "dev.full.f1.default"}, {"whitelist", {"dev.*.*.*.*"}},
            {"target", "tcp:127.0.0.1:" + std::to_string(port)}});
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.full.f1.default")},
                        {"timeout_ms", 400}});
  BOOST_REQUIRE(r.isOk());
  BOOST_TEST(errorCode(r->json) == "CANNOT_CONNECT", kith::dumpJson(r->json));
  BOOST_TEST(r->json["error"]["message"].get<std::string>().find("within the timeout") != std::string::npos,
             kith::dumpJson(r->json));
  // Once the queue has room the same target is reached.
  kith::UniqueFd first(accept(lfd.get(), nullptr, nullptr));
  BOOST_REQUIRE(first.valid());
  BOOST_REQUIRE(listen(lfd.get(), 8) == 0);
  auto ok = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.full.f1.default")}});
  BOOST_TEST(errorCode(ok->json) == "OK", kith::dumpJson(ok->json));
}

BOOST_AUTO_TEST_CASE(connect_with_an_expired_session_is_timeout) {
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(),
                         {{"op", "register"}, {"name", "dev.cli.short.default"}, {"ttl_ms", 1000}},
                         0, true})
                    .isOk());
  auto c = client();
  BOOST_TEST(waitFor([&] { return workload(w.address()).is_null(); }, 3000));
  auto r = c.request({{"op", "connect"}, {"token", w.token()}, {"destination", "dev.*.*.*.*"}});
  BOOST_TEST(errorCode(r->json) == "TIMEOUT");
}

BOOST_AUTO_TEST_CASE(unix_target_gets_a_proxy_v2_header_naming_the_caller) {
  std::string path = dir.path() + "/app.sock";
  auto lfd = unixListener(path);
  auto srv = client();
  reg(srv, {{"name", "dev.app.a1.default"}, {"whitelist", {"dev.cli.*.*.*"}},
            {"target", "unix:" + path}, {"proxy_protocol", true}});
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.app.a1.default")}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  kith::UniqueFd s(accept(lfd.get(), nullptr, nullptr));
  BOOST_REQUIRE(s.valid());
  BOOST_REQUIRE(send(r->fd.get(), "GET", 3, 0) == 3);
  std::string got = readSome(s.get(), 16);
  // Read the whole header, then the payload.
  size_t used = 0;
  kith::Result<api::ProxyHeader> h = api::parseProxyHeader(got, &used);
  while (!h.isOk() && h.status().code() == kith::Code::kNotFound) {
    got += readSome(s.get(), 1);
    h = api::parseProxyHeader(got, &used);
  }
  BOOST_REQUIRE_MESSAGE(h.isOk(), h.status().message());
  BOOST_TEST((h->family == api::ProxyHeader::Family::kUnix));
  BOOST_TEST(h->dstAddr == path);
  BOOST_TEST(*h->tlv(api::kTlvKithAddress) == addr("dev.cli.c1.default"));
  BOOST_TEST(*h->tlv(api::kTlvKithSpiffeId) == c["spiffe_id"].get<std::string>());
  std::string payload = got.substr(used);
  payload += readSome(s.get(), 3 - payload.size());
  BOOST_TEST(payload == "GET");
}

BOOST_AUTO_TEST_CASE(tcp_target_is_dialled_and_the_stream_flows_both_ways) {
  uint16_t port = 0;
  auto lfd = tcpListener(&port);
  auto srv = client();
  reg(srv, {{"name", "dev.http.h1.default"}, {"whitelist", {"dev.*.*.*.*"}},
            {"target", "tcp:127.0.0.1:" + std::to_string(port)}});
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", "dev.http.*.*.*"}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  kith::UniqueFd s(accept(lfd.get(), nullptr, nullptr));
  BOOST_REQUIRE(send(r->fd.get(), "abc", 3, 0) == 3);
  BOOST_TEST(readSome(s.get(), 3) == "abc");  // no header unless asked for
  BOOST_REQUIRE(send(s.get(), "xyz", 3, 0) == 3);
  BOOST_TEST(readSome(r->fd.get(), 3) == "xyz");
}

BOOST_AUTO_TEST_CASE(path_mode_gives_a_one_shot_socket_owned_by_the_caller) {
  BOOST_REQUIRE(getuid() == 0);
  auto srv = client();
  auto s = reg(srv, {{"name", "dev.echo.e1.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE_EQUAL(errorCode(srv.request({{"op", "listen"}, {"token", s["token"]}})->json), "OK");
  // The caller is `nobody`: the path must belong to it, not to root.
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(), {{"op", "register"}, {"name", "dev.cli.nb.default"}}, 65534}).isOk());
  auto cli = client();
  // root may present nobody's token? No: that is UNAUTHORIZED. So ask from a
  // child running as nobody and report the path back through the exit code.
  int pfd[2];
  BOOST_REQUIRE(pipe(pfd) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(pfd[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    auto cc = TestClient::connect(daemon.apiSocket());
    if (!cc.isOk()) _exit(4);
    auto r = cc->request({{"op", "connect"}, {"token", w.token()}, {"destination", addr("dev.echo.e1.default")},
                          {"mode", "path"}});
    if (!r.isOk() || errorCode(r->json) != "OK") _exit(5);
    std::string path = r->json["path"];
    struct stat st{};
    if (stat(path.c_str(), &st) != 0 || st.st_uid != 65534 || (st.st_mode & 0777) != 0600) _exit(6);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) _exit(7);
    if (send(fd, "via-path", 8, 0) != 8) _exit(8);
    std::string back = readSome(fd, 4);
    if (back != "back") _exit(9);
    // One shot: the path is gone once used.
    if (stat(path.c_str(), &st) == 0) _exit(10);
    _exit(0);
  }
  close(pfd[1]);
  auto in = srv.nextEvent(5000);
  BOOST_REQUIRE(in.isOk());
  BOOST_TEST(in->json["source"] == w.address());
  BOOST_TEST(readSome(in->fd.get(), 8) == "via-path");
  BOOST_REQUIRE(send(in->fd.get(), "back", 4, 0) == 4);
  int st = 0;
  BOOST_REQUIRE(waitpid(child, &st, 0) == child);
  BOOST_TEST(WIFEXITED(st));
  BOOST_TEST(WEXITSTATUS(st) == 0);
}

BOOST_AUTO_TEST_CASE(a_pattern_spreads_over_instances_and_fails_over) {
  auto s1 = client(), s2 = client();
  auto r1 = reg(s1, {{"name", "dev.pool.p1.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  auto r2 = reg(s2, {{"name", "dev.pool.p2.default"}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE_EQUAL(errorCode(s1.request({{"op", "listen"}, {"token", r1["token"]}})->json), "OK");
  BOOST_REQUIRE_EQUAL(errorCode(s2.request({{"op", "listen"}, {"token", r2["token"]}})->json), "OK");
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  std::set<std::string> seen;
  std::vector<kith::UniqueFd> keep;
  for (int i = 0; i < 4; ++i) {
    auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", "dev.pool.*.default.*"}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    seen.insert(r->json["destination"].get<std::string>());
    keep.push_back(std::move(r->fd));
  }
  BOOST_TEST(seen.size() == 2u);  // round robin reached both
  // p1 stops listening (its connection closes): every connect now lands on p2.
  { TestClient gone = std::move(s1); }
  BOOST_TEST(waitFor([&] {
    auto w = workload(addr("dev.pool.p1.default"));
    return !w.is_null() && w["listening"] == false;
  }, 2000));
  for (int i = 0; i < 4; ++i) {
    auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", "dev.pool.*.default.*"}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    BOOST_TEST(r->json["destination"] == addr("dev.pool.p2.default"));
  }
}

BOOST_AUTO_TEST_CASE(udp_between_local_workloads_keeps_message_boundaries) {
  auto srv = client();
  auto s = reg(srv, {{"name", "dev.dns.d1.default"}, {"whitelist", {"dev.*.*.*.*"}}, {"protocols", {"udp"}}});
  BOOST_REQUIRE_EQUAL(errorCode(srv.request({{"op", "listen"}, {"token", s["token"]}})->json), "OK");
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto tcp = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.dns.d1.default")}});
  BOOST_TEST(errorCode(tcp->json) == "CANNOT_CONNECT");  // speaks udp only
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.dns.d1.default")},
                        {"proto", "udp"}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  auto in = srv.nextEvent(2000);
  BOOST_REQUIRE(in.isOk());
  BOOST_TEST(in->json["proto"] == "udp");
  BOOST_REQUIRE(send(r->fd.get(), "one", 3, 0) == 3);
  BOOST_REQUIRE(send(r->fd.get(), "second", 6, 0) == 6);
  char buf[64];
  BOOST_TEST(recv(in->fd.get(), buf, sizeof buf, 0) == 3);
  BOOST_TEST(recv(in->fd.get(), buf, sizeof buf, 0) == 6);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(target_ownership, DaemonFixture)

// A workload may not turn the daemon into a way to reach a socket it could not
// open itself: a unix target must be served by the registering uid.
BOOST_AUTO_TEST_CASE(a_unix_target_served_by_another_uid_is_refused) {
  BOOST_REQUIRE(getuid() == 0);
  // nobody registers root's admin.sock as its target and tries to reach it.
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({daemon.apiSocket(),
                         {{"op", "register"}, {"name", "dev.evil.e1.default"}, {"whitelist", {"dev.*.*.*.*"}},
                          {"target", "unix:" + daemon.adminSocket()}},
                         65534})
                    .isOk());
  BOOST_REQUIRE_EQUAL(errorCode(w.reply()), "OK");
  auto cli = client();
  auto c = reg(cli, {{"name", "dev.cli.c1.default"}});
  auto r = cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", w.address()}});
  BOOST_TEST(errorCode(r->json) == "CANNOT_CONNECT");
  BOOST_TEST(r->json["error"]["message"].get<std::string>().find("served by uid 0") != std::string::npos);
  // A target that its own uid serves works (root's registrations may name any socket).
  std::string path = dir.path() + "/mine.sock";
  auto lfd = unixListener(path);
  reg(cli, {{"name", "dev.ok.o1.default"}, {"whitelist", {"dev.*.*.*.*"}}, {"target", "unix:" + path}});
  BOOST_TEST(errorCode(cli.request({{"op", "connect"}, {"token", c["token"]}, {"destination", addr("dev.ok.o1.default")}})->json) == "OK");
}

BOOST_AUTO_TEST_CASE(udp_cannot_be_registered_with_a_target) {
  auto c = client();
  BOOST_TEST(errorCode(reg(c, {{"name", "dev.dns.d1.default"}, {"protocols", {"udp"}},
                               {"target", "tcp:127.0.0.1:53"}})) == "BAD_REQUEST");
}

BOOST_AUTO_TEST_SUITE_END()
