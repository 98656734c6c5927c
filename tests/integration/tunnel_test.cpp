// connect between machines: real daemons brokering streams over mutual-TLS
// links (docs/TUNNELS.md), with real kithcat, openssl and namespaces.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <vector>

#include "../helpers/echo_server.h"
#include "kith/common/json.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/tunnel/peer_link.h"
#include "kith/daemon/tunnel/tunnel_broker.h"
#include "kith/identity/ca_dir.h"
#include "../helpers/shell_process.h"
#include "mesh.h"

using namespace kith::test;
using nlohmann::json;

namespace {

// A kithcat listener on machine `m` as `name` (4 labels) serving `cmd`.
std::unique_ptr<ShellProcess> serve(Mesh& mesh, const std::string& m, const std::string& name,
                                    const std::string& cmd, bool keep = false) {
  return std::make_unique<ShellProcess>(mesh.kithcat(m) + " -l " + name + " --allow 'dev.*.*.*.*'" +
                                            (keep ? " -k" : "") + " -e '" + cmd + "'",
                                        mesh.dir.path() + "/serve-" + name + ".out");
}

// Reads exactly n bytes (or until EOF/error/deadline); returns what came.
std::string readN(int fd, size_t n, int timeoutMs = 10000) {
  std::string out;
  char buf[65536];
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (out.size() < n && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// True once `fd` reports EOF or an error (the stream was closed under it).
bool closesWithin(int fd, int timeoutMs) {
  return waitFor(
      [&] {
        char b[4096];
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        ssize_t r = ::recv(fd, b, sizeof b, MSG_DONTWAIT);
        return r == 0 || (r < 0 && errno != EAGAIN);
      },
      timeoutMs);
}

json reg(TestClient& c, json fields) {
  fields["op"] = "register";
  auto r = c.request(fields);
  BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message());
  BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", kith::dumpJson(r->json));
  return r->json;
}

size_t tunnelStreams(Mesh& mesh, const std::string& m) {
  size_t n = 0;
  json all = mesh.streams(m);  // (a temporary's member would dangle in the loop)
  for (auto& s : all["streams"]) n += s.contains("link");
  return n;
}

// A TCP port free on 127.0.0.1 right now.
int freePort() {
  EchoServer probe;
  return probe.port();
}

std::string sha256OfFile(const std::string& path) {
  std::string out;
  runCommand("sha256sum " + path + " | cut -c1-64", &out);
  return out.substr(0, 64);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tunnels)

BOOST_AUTO_TEST_CASE(hundred_megabytes_each_way_through_kithcat_keep_their_sha256) {
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  std::string data = mesh.dir.path() + "/data.bin";
  std::string out;
  BOOST_REQUIRE(runCommand("head -c 100000000 /dev/urandom > " + data, &out) == 0);
  std::string want = sha256OfFile(data);
  // a -> b: the server hashes what it receives and answers with the hash.
  auto sink = serve(mesh, "b", "dev.sink.s1.default", "sha256sum | cut -c1-64");
  BOOST_REQUIRE(mesh.knows("a", "dev.sink.s1.default.b"));
  out.clear();
  BOOST_REQUIRE(runCommand(mesh.kithcat("a") + " --as dev.up.u1.default dev.sink.s1.default.b < " + data, &out) == 0);
  BOOST_TEST(out.substr(0, 64) == want);
  // b -> a: the client sends nothing (EOF at once: a half close) and hashes
  // what the server sends back.
  auto source = serve(mesh, "b", "dev.source.s2.default", "cat " + data);
  BOOST_REQUIRE(mesh.knows("a", "dev.source.s2.default.b"));
  out.clear();
  BOOST_REQUIRE(runCommand(mesh.kithcat("a") + " --as dev.down.d1.default dev.source.s2.default.b < /dev/null"
                                               " | sha256sum | cut -c1-64",
                           &out) == 0);
  BOOST_TEST(out.substr(0, 64) == want);
  // One link carried both, TLS 1.3.
  auto links = mesh.streams("a")["links"];
  BOOST_REQUIRE_EQUAL(links.size(), 1u);
  BOOST_TEST(links[0]["tls"] == "TLSv1.3");
  BOOST_TEST(links[0]["bytes_out"].get<uint64_t>() >= 100000000u);
  BOOST_TEST(links[0]["bytes_in"].get<uint64_t>() >= 100000000u);
}

BOOST_AUTO_TEST_CASE(a_thousand_concurrent_streams_share_one_link) {
  BOOST_REQUIRE(raiseFdLimit(8192));
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  EchoServer echo;
  auto cb = mesh.api("b");
  reg(cb, {{"name", "dev.echo.e1.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(echo.port())},
           {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE(mesh.knows("a", "dev.echo.e1.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.cli.many.default"}})["token"];
  constexpr int kStreams = 1000;
  std::vector<kith::UniqueFd> fds;
  for (int i = 0; i < kStreams; ++i) {
    auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.echo.e1.default.b"}});
    BOOST_REQUIRE(r.isOk());
    BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", i << ": " << kith::dumpJson(r->json));
    if (i == 0) {
      // A remote connect answers what a local one does, plus where it went.
      BOOST_TEST(r->json["destination"] == "dev.echo.e1.default.b");
      BOOST_TEST(r->json["spiffe_id"] == "spiffe://" + mesh.td + "/dev/echo/e1/default/b");
      BOOST_TEST(r->json["machine"] == "b");
      BOOST_TEST(r->json["stream"].is_number_unsigned());
      BOOST_TEST(r->json["link"].is_number_unsigned());
    }
    fds.push_back(std::move(r->fd));
  }
  // All open at once, through one link each way.
  BOOST_TEST(tunnelStreams(mesh, "a") == static_cast<size_t>(kStreams));
  BOOST_TEST(waitFor([&] { return echo.open() == static_cast<size_t>(kStreams); }, 10000));
  BOOST_TEST(mesh.streams("a")["links"].size() == 1u);
  BOOST_TEST(mesh.streams("b")["links"].size() == 1u);
  for (int i = 0; i < kStreams; ++i) {
    std::string msg = "stream " + std::to_string(i) + "\n";
    BOOST_REQUIRE(::send(fds[i].get(), msg.data(), msg.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(msg.size()));
  }
  size_t good = 0;
  for (int i = 0; i < kStreams; ++i) {
    std::string msg = "stream " + std::to_string(i) + "\n";
    good += readN(fds[i].get(), msg.size()) == msg;
  }
  BOOST_TEST(good == static_cast<size_t>(kStreams));
  fds.clear();
  BOOST_TEST(waitFor([&] { return tunnelStreams(mesh, "a") == 0 && echo.open() == 0; }, 15000));
}

BOOST_AUTO_TEST_CASE(a_slow_reader_holds_the_daemons_memory_bounded) {
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  constexpr size_t kTotal = 200u * 1000 * 1000;
  auto hose = serve(mesh, "b", "dev.hose.h1.default", "head -c " + std::to_string(kTotal) + " /dev/zero");
  BOOST_REQUIRE(mesh.knows("a", "dev.hose.h1.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.slow.r1.default"}})["token"];
  size_t rssA = rssKiB(mesh.daemons["a"]->pid()), rssB = rssKiB(mesh.daemons["b"]->pid());
  auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.hose.h1.default.b"}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  int fd = r->fd.get();
  // Read a little, then stop reading while the server has ~200 MB to send.
  BOOST_REQUIRE_EQUAL(readN(fd, 1000).size(), 1000u);
  // The buffers fill until the writer is held back: wait for a's buffered
  // bytes and b's backlog to stop moving (two equal samples in a row).
  size_t lastBuffered = 0, lastBacklog = 0;
  bool settled = waitFor([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    json la = mesh.streams("a")["links"], lb = mesh.streams("b")["links"];
    if (la.size() != 1 || lb.size() != 1) return false;
    size_t buffered = la[0]["buffered"].get<size_t>(), backlog = lb[0]["backlog"].get<size_t>();
    bool same = buffered > 0 && buffered == lastBuffered && backlog == lastBacklog;
    lastBuffered = buffered;
    lastBacklog = backlog;
    return same;
  }, 15000);
  BOOST_REQUIRE_MESSAGE(settled, "the buffers never stopped growing");
  auto links = mesh.streams("a")["links"];
  BOOST_REQUIRE_EQUAL(links.size(), 1u);
  // a holds at most one stream window (512 KiB) for the stream.
  BOOST_TEST(links[0]["buffered"].get<size_t>() <= 512u * 1024, kith::dumpJson(links));
  auto linksB = mesh.streams("b")["links"];
  BOOST_TEST(linksB[0]["backlog"].get<size_t>() <= 4u * 1024 * 1024 + 128 * 1024, kith::dumpJson(linksB));
  // Neither daemon grew by more than a few MiB while 200 MB waited.
  BOOST_TEST(rssKiB(mesh.daemons["a"]->pid()) < rssA + 16 * 1024);
  BOOST_TEST(rssKiB(mesh.daemons["b"]->pid()) < rssB + 16 * 1024);
  // The writer was held back, not buffered: the rest still arrives in full.
  std::string rest = readN(fd, kTotal, 120000);
  BOOST_TEST(rest.size() + 1000 == kTotal, mesh.daemons["a"]->log() << mesh.daemons["b"]->log());
}

BOOST_AUTO_TEST_CASE(every_error_of_connect_across_machines_for_its_reason) {
  TunnelMesh mesh;
  writeFile(mesh.dir.path() + "/policy-a.toml",
            "[[deny]]\nfrom = \"dev.cli.*.*.*\"\nto = \"dev.srcdenied.*.*.*\"\n");
  writeFile(mesh.dir.path() + "/policy-b.toml",
            "[[deny]]\nfrom = \"dev.cli.*.*.*\"\nto = \"dev.dstdenied.*.*.*\"\n");
  mesh.start("a", Mesh::spec("[policy]\nfile = \"" + mesh.dir.path() + "/policy-a.toml\"\n"));
  mesh.start("b", Mesh::spec("[policy]\nfile = \"" + mesh.dir.path() + "/policy-b.toml\"\n"));
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  EchoServer echo;
  auto cb = mesh.api("b");
  std::string target = "tcp:127.0.0.1:" + std::to_string(echo.port());
  reg(cb, {{"name", "dev.srcdenied.x.default"}, {"target", target}, {"whitelist", {"dev.*.*.*.*"}}});
  reg(cb, {{"name", "dev.dstdenied.x.default"}, {"target", target}, {"whitelist", {"dev.*.*.*.*"}}});
  reg(cb, {{"name", "dev.private.x.default"}, {"target", target}, {"whitelist", {"dev.friends.*.*.*"}}});
  // A target nobody listens on: bind a port and close it.
  EchoServer* none = new EchoServer();
  std::string deadTarget = "tcp:127.0.0.1:" + std::to_string(none->port());
  delete none;
  reg(cb, {{"name", "dev.dead.x.default"}, {"target", deadTarget}, {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE(mesh.knows("a", "dev.dead.x.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.cli.c1.default"}})["token"];
  auto connect = [&](const std::string& dst, const std::string& tok) {
    return ca.request({{"op", "connect"}, {"token", tok}, {"destination", dst}, {"timeout_ms", 3000}})->json;
  };
  auto j = connect("dev.nothing.x.default.b", token);
  BOOST_TEST(errorCode(j) == "DESTINATION_NOT_FOUND");
  j = connect("dev.dead.x.default.b", token);
  BOOST_TEST(errorCode(j) == "CANNOT_CONNECT", kith::dumpJson(j));
  BOOST_TEST(j["error"]["message"].get<std::string>().find("refused") != std::string::npos, kith::dumpJson(j));
  // This daemon's own policy, and the destination daemon's, each decide.
  j = connect("dev.srcdenied.x.default.b", token);
  BOOST_TEST(errorCode(j) == "UNAUTHORIZED", kith::dumpJson(j));
  BOOST_TEST(j["error"]["message"].get<std::string>().find("policy-a.toml") != std::string::npos, kith::dumpJson(j));
  j = connect("dev.dstdenied.x.default.b", token);
  BOOST_TEST(errorCode(j) == "UNAUTHORIZED", kith::dumpJson(j));
  BOOST_TEST(j["error"]["message"].get<std::string>().find("policy-b.toml") != std::string::npos, kith::dumpJson(j));
  BOOST_TEST(mesh.status("b")["tunnels"]["refused"].get<int>() >= 1);
  // The destination's whitelist travels in its record and is checked here.
  j = connect("dev.private.x.default.b", token);
  BOOST_TEST(errorCode(j) == "UNAUTHORIZED", kith::dumpJson(j));
  j = connect("dev.dstdenied.x.default.b", std::string(64, '0'));
  BOOST_TEST(errorCode(j) == "INVALID_SOURCE", kith::dumpJson(j));
  // An expired session.
  WorkloadProcess w;
  BOOST_REQUIRE(w.start({mesh.daemons["a"]->apiSocket(),
                         {{"op", "register"}, {"name", "dev.cli.short.default"}, {"ttl_ms", 1000}}, 0, true})
                    .isOk());
  BOOST_TEST(waitFor([&] { return errorCode(mesh.resolve("a", w.address())) != "OK"; }, 5000));
  j = connect("dev.dead.x.default.b", w.token());
  BOOST_TEST(errorCode(j) == "TIMEOUT", kith::dumpJson(j));
  // The peer daemon is gone: unreachable, then fast while it stays away.
  mesh.daemons["b"]->kill9();
  j = connect("dev.dead.x.default.b", token);
  BOOST_TEST(errorCode(j) == "DESTINATION_UNREACHABLE", kith::dumpJson(j));
  auto t0 = std::chrono::steady_clock::now();
  j = connect("dev.dead.x.default.b", token);
  BOOST_TEST(errorCode(j) == "DESTINATION_UNREACHABLE", kith::dumpJson(j));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(ms < 1000);
  BOOST_TEST(mesh.status("a")["tunnels"]["unreachable"].get<int>() >= 2);
}

BOOST_AUTO_TEST_CASE(losing_the_link_mid_stream_closes_the_stream_and_a_restart_is_redialled) {
  TunnelMesh mesh;
  mesh.start("a", Mesh::spec("[health]\ninterval_ms = 200\n"));
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  EchoServer echo;
  std::string target = "tcp:127.0.0.1:" + std::to_string(echo.port());
  {
    auto cb = mesh.api("b");
    reg(cb, {{"name", "dev.echo.e1.default"}, {"target", target}, {"whitelist", {"dev.*.*.*.*"}}, {"ttl_ms", 600000}});
  }
  BOOST_REQUIRE(mesh.knows("a", "dev.echo.e1.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.cli.c1.default"}})["token"];
  auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.echo.e1.default.b"}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  BOOST_REQUIRE(::send(r->fd.get(), "ping\n", 5, MSG_NOSIGNAL) == 5);
  BOOST_TEST(readN(r->fd.get(), 5) == "ping\n");
  // The operator sees the stream and its bytes in the metrics.
  std::string metrics;
  BOOST_REQUIRE(runCommand(mesh.kithctl("a") + " metrics", &metrics) == 0);
  BOOST_TEST(metrics.find("kith_tunnel_streams_open 1") != std::string::npos, metrics);
  BOOST_TEST(metrics.find("kith_tunnel_links 1") != std::string::npos, metrics);
  mesh.daemons["b"]->kill9();
  BOOST_TEST(closesWithin(r->fd.get(), 5000));
  // While b is away, a is working on it (redialling), and says so.
  BOOST_TEST(waitFor(
      [&] {
        json st = mesh.status("a");
        for (auto& w : st["health"]["working_on_it"]) {
          if (w.value("id", "") == "tunnel:b") return true;
        }
        return false;
      },
      10000),
      kith::dumpJson(mesh.status("a")["health"]));
  // It keeps redialling with backoff while b stays away (200, 400, 800 ms...),
  // and keeps saying so between the attempts.
  auto dials = [&] { return mesh.status("a")["tunnels"].value("dials", uint64_t{0}); };
  uint64_t dialsAtLoss = dials();
  BOOST_TEST(waitFor([&] { return dials() >= dialsAtLoss + 2; }, 15000), kith::dumpJson(mesh.status("a")["tunnels"]));
  json health = mesh.status("a")["health"];
  bool stillWorking = false;
  for (auto& w : health["working_on_it"]) stillWorking |= w.value("id", "") == "tunnel:b";
  BOOST_TEST(stillWorking, kith::dumpJson(health));
  BOOST_TEST(waitFor([&] { return tunnelStreams(mesh, "a") == 0; }, 5000));
  // b comes back on another port (its new infra record says where); its
  // registration is restored from its store, and a reaches it again.
  mesh.restart("b");
  BOOST_TEST(waitFor(
      [&] {
        auto c = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.echo.e1.default.b"},
                             {"timeout_ms", 2000}});
        if (!c.isOk() || errorCode(c->json) != "OK") return false;
        return ::send(c->fd.get(), "again\n", 6, MSG_NOSIGNAL) == 6 && readN(c->fd.get(), 6) == "again\n";
      },
      30000));
  // Back to healthy: the working-on-it condition clears.
  BOOST_TEST(waitFor(
      [&] {
        json st = mesh.status("a");
        for (auto& w : st["health"]["working_on_it"]) {
          if (w.value("id", "") == "tunnel:b") return false;
        }
        return true;
      },
      10000));
}

BOOST_AUTO_TEST_CASE(udp_datagrams_keep_their_boundaries_idle_flows_end_and_so_do_lost_peers) {
  TunnelMesh mesh;
  mesh.start("a", Mesh::spec("", "udp_idle_ms = 1500\n"));
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  auto cb = mesh.api("b");
  std::string stok = reg(cb, {{"name", "dev.dns.u1.default"}, {"protocols", {"udp"}}, {"whitelist", {"dev.*.*.*.*"}}})["token"];
  BOOST_REQUIRE_EQUAL(errorCode(cb.request({{"op", "listen"}, {"token", stok}})->json), "OK");
  BOOST_REQUIRE(mesh.knows("a", "dev.dns.u1.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.cli.u2.default"}, {"protocols", {"udp"}}})["token"];
  auto flow = [&] {
    auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.dns.u1.default.b"}, {"proto", "udp"}});
    BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", kith::dumpJson(r->json));
    auto ev = cb.nextEvent(5000);
    BOOST_REQUIRE(ev.isOk());
    BOOST_TEST(ev->json["event"] == "incoming");
    BOOST_TEST(ev->json["proto"] == "udp");
    BOOST_TEST(ev->json["source"] == "dev.cli.u2.default.a");
    return std::make_pair(std::move(r->fd), std::move(ev->fd));
  };
  auto [fd, sfd] = flow();
  const std::vector<std::string> out = {std::string(1, 'x'), std::string(1000, 'y'), std::string(60000, 'z')};
  for (const auto& d : out) BOOST_REQUIRE(::send(fd.get(), d.data(), d.size(), 0) == static_cast<ssize_t>(d.size()));
  std::vector<char> buf(70000);
  for (const auto& d : out) {
    pollfd p{sfd.get(), POLLIN, 0};
    BOOST_REQUIRE(::poll(&p, 1, 5000) == 1);
    ssize_t n = ::recv(sfd.get(), buf.data(), buf.size(), 0);
    BOOST_TEST(n == static_cast<ssize_t>(d.size()));
    BOOST_TEST(std::string(buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))) == d);
  }
  const std::vector<std::string> back = {"pong", std::string(30000, 'q')};
  for (const auto& d : back) BOOST_REQUIRE(::send(sfd.get(), d.data(), d.size(), 0) == static_cast<ssize_t>(d.size()));
  for (const auto& d : back) {
    pollfd p{fd.get(), POLLIN, 0};
    BOOST_REQUIRE(::poll(&p, 1, 5000) == 1);
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    BOOST_TEST(std::string(buf.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))) == d);
  }
  // Quiet for longer than a's udp_idle_ms: the flow ends on both sides.
  BOOST_TEST(closesWithin(fd.get(), 10000));
  BOOST_TEST(closesWithin(sfd.get(), 10000));
  // A flow whose peer daemon dies ends too.
  auto [fd2, sfd2] = flow();
  BOOST_REQUIRE(::send(fd2.get(), "q", 1, 0) == 1);
  BOOST_TEST(readN(sfd2.get(), 1) == "q");
  mesh.daemons["b"]->kill9();
  BOOST_TEST(closesWithin(fd2.get(), 5000));
}

BOOST_AUTO_TEST_CASE(a_group_fails_over_to_a_healthy_instance_on_another_machine) {
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  mesh.start("c");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 20000));
  // b's instance refuses (its target is closed); c's answers.
  auto* closed = new EchoServer();
  std::string deadTarget = "tcp:127.0.0.1:" + std::to_string(closed->port());
  delete closed;
  EchoServer echo;
  auto cb = mesh.api("b");
  reg(cb, {{"name", "dev.db.d1.default"}, {"target", deadTarget}, {"whitelist", {"dev.*.*.*.*"}}});
  auto cc = mesh.api("c");
  reg(cc, {{"name", "dev.db.d2.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(echo.port())},
           {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE(mesh.knows("a", "dev.db.d1.default.b") && mesh.knows("a", "dev.db.d2.default.c"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.app.x1.default"}})["token"];
  for (int i = 0; i < 6; ++i) {
    auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.db.*.default.*"}});
    BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", kith::dumpJson(r->json));
    BOOST_TEST(r->json["destination"] == "dev.db.d2.default.c");
  }
  // c's daemon dies: its instance is unreachable; a healthy one on b takes over.
  mesh.daemons["c"]->kill9();
  reg(cb, {{"name", "dev.db.d3.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(echo.port())},
           {"whitelist", {"dev.*.*.*.*"}}});
  BOOST_REQUIRE(mesh.knows("a", "dev.db.d3.default.b"));
  for (int i = 0; i < 6; ++i) {
    auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", "dev.db.*.default.*"}, {"timeout_ms", 3000}});
    BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", kith::dumpJson(r->json));
    BOOST_TEST(r->json["destination"] == "dev.db.d3.default.b");
  }
}

BOOST_AUTO_TEST_CASE(the_wire_between_daemons_is_mutual_tls13) {
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  std::string ep = mesh.status("b")["tunnels"]["endpoint"];
  std::string node = mesh.home("a") + "/node/";
  std::string out;
  // A real OpenSSL client with a's node certificate: TLS 1.3, verified both ways.
  int rc = runCommand("timeout 10 openssl s_client -connect " + ep + " -cert " + node + "node.crt -key " + node +
                          "node.key -CAfile " + mesh.ca + "/root.crt -verify_return_error -brief < /dev/null",
                      &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out.find("Protocol version: TLSv1.3") != std::string::npos, out);
  BOOST_TEST(out.find("Verification: OK") != std::string::npos, out);
  // A certified peer that sends garbage loses its link; the daemon goes on.
  out.clear();
  runCommand("(printf 'GARBAGE-NOT-A-FRAME'; sleep 1) | timeout 10 openssl s_client -connect " + ep + " -cert " +
                 node + "node.crt -key " + node + "node.key -CAfile " + mesh.ca + "/root.crt -quiet",
             &out);
  BOOST_TEST(waitFor([&] { return mesh.daemons["b"]->log().find("peer broke the protocol") != std::string::npos; },
                     5000));
  BOOST_TEST(errorCode(mesh.status("b")) == "OK");
  // Without a client certificate the daemon refuses the handshake.
  out.clear();
  // (TLS 1.3 sends the client's certificate after the server's Finished, so
  // the refusal is an alert read after the handshake: keep stdin open.)
  runCommand("sleep 2 | timeout 10 openssl s_client -connect " + ep + " -CAfile " + mesh.ca + "/root.crt -brief",
             &out);
  BOOST_TEST(out.find("alert") != std::string::npos, out);
  BOOST_TEST(waitFor([&] { return mesh.daemons["b"]->log().find("did not return a certificate") != std::string::npos; },
                     5000));
  // A node may not vouch for another: a certificate for node b signed with
  // a's node CA (which chains to the root) is refused.
  std::string fake = mesh.dir.path() + "/fake";
  writeFile(fake + ".ext", "subjectAltName = URI:spiffe://mesh.kith/node/b\nbasicConstraints = CA:FALSE\n");
  out.clear();
  BOOST_REQUIRE_MESSAGE(
      runCommand("openssl genpkey -algorithm ed25519 -out " + fake + ".key && openssl req -new -key " + fake +
                     ".key -subj /CN=b -out " + fake + ".csr && openssl x509 -req -in " + fake + ".csr -CA " + node +
                     "node-ca.crt -CAkey " + node + "node.key -CAcreateserial -days 1 -extfile " + fake +
                     ".ext -out " + fake + ".crt && cat " + fake + ".crt " + node + "node-ca.crt > " + fake +
                     ".chain",
                 &out) == 0,
      out);
  out.clear();
  runCommand("(sleep 1; echo hello) | timeout 10 openssl s_client -connect " + ep + " -cert " + fake +
                 ".chain -key " + fake + ".key -CAfile " + mesh.ca + "/root.crt -brief",
             &out);
  // wolfSSL refuses the chain, or our own check does; never is it "b".
  BOOST_TEST(waitFor(
                 [&] {
                   std::string log = mesh.daemons["b"]->log();
                   return log.find("not signed by the root directly") != std::string::npos ||
                          log.find("certificate verify failed") != std::string::npos;
                 },
                 5000),
             mesh.daemons["b"]->log());
  BOOST_TEST(mesh.daemons["b"]->log().find("\"peer\":\"b\"") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(policy_reloads_and_deregistrations_close_tunnel_streams) {
  TunnelMesh mesh;
  mesh.start("a");
  std::string policy = mesh.dir.path() + "/policy-b.toml";
  writeFile(policy, "# nothing yet\n");
  mesh.start("b", Mesh::spec("[policy]\nfile = \"" + policy + "\"\n"));
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  EchoServer echo;
  std::string target = "tcp:127.0.0.1:" + std::to_string(echo.port());
  auto cb = mesh.api("b");
  reg(cb, {{"name", "dev.web.w1.default"}, {"target", target}, {"whitelist", {"dev.*.*.*.*"}}});
  std::string t2 = reg(cb, {{"name", "dev.api.p1.default"}, {"target", target}, {"whitelist", {"dev.*.*.*.*"}}})["token"];
  BOOST_REQUIRE(mesh.knows("a", "dev.web.w1.default.b") && mesh.knows("a", "dev.api.p1.default.b"));
  auto ca = mesh.api("a");
  std::string token = reg(ca, {{"name", "dev.cli.c1.default"}})["token"];
  auto open = [&](const std::string& dst) {
    auto r = ca.request({{"op", "connect"}, {"token", token}, {"destination", dst}});
    BOOST_REQUIRE_MESSAGE(errorCode(r->json) == "OK", kith::dumpJson(r->json));
    BOOST_REQUIRE(::send(r->fd.get(), "hi", 2, MSG_NOSIGNAL) == 2);
    BOOST_REQUIRE(readN(r->fd.get(), 2) == "hi");
    return std::move(r->fd);
  };
  auto web = open("dev.web.w1.default.b");
  auto api = open("dev.api.p1.default.b");
  // b's operator forbids web: the open stream to it closes, the other stays.
  writeFile(policy, "[[deny]]\nfrom = \"dev.cli.*.*.*\"\nto = \"dev.web.*.*.*\"\n");
  std::string out;
  BOOST_REQUIRE_MESSAGE(runCommand(mesh.kithctl("b") + " policy reload", &out) == 0, out);
  BOOST_TEST(closesWithin(web.get(), 5000));
  BOOST_TEST(::send(api.get(), "ok", 2, MSG_NOSIGNAL) == 2);
  BOOST_TEST(readN(api.get(), 2) == "ok");
  // The destination deregisters: its stream closes on a too.
  BOOST_REQUIRE_EQUAL(errorCode(cb.request({{"op", "deregister"}, {"token", t2}})->json), "OK");
  BOOST_TEST(closesWithin(api.get(), 5000));
  BOOST_TEST(waitFor([&] { return tunnelStreams(mesh, "a") == 0 && tunnelStreams(mesh, "b") == 0; }, 5000));
}

namespace {

// A link owner for a test that plays a peer daemon itself.
struct TestOwner : kith::daemon::PeerLink::Owner {
  kith::daemon::Loop& loop;
  bool up = false, down = false;
  std::string downWhy;
  explicit TestOwner(kith::daemon::Loop& l) : loop(l) {}
  void linkUp(kith::daemon::PeerLink&) override {
    up = true;
    loop.stop();
  }
  void linkDown(kith::daemon::PeerLink&, const kith::Status& why) override {
    down = true;
    downWhy = why.message();
    loop.stop();
  }
  void openRequested(kith::daemon::PeerLink& l, uint32_t stream, kith::daemon::OpenPayload) override {
    l.refuse(stream, kith::Status(kith::Code::kUnauthorized, "test peer takes no streams"));
  }
  void streamEnded(kith::daemon::PeerLink&, uint32_t, const std::string&) override {}
};

}  // namespace

// The receiving daemon checks every OPEN against the link's certificate: a
// valid node (c, certified by the same root) may open streams for its own
// workloads, never for another machine's.
BOOST_AUTO_TEST_CASE(a_certified_peer_cannot_open_streams_for_another_machines_workloads) {
  namespace kd = kith::daemon;
  TunnelMesh mesh;
  mesh.start("a");
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  std::string out;
  BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node c --ca " + mesh.ca + " --out " +
                                       mesh.dir.path() + "/c/node", &out) == 0, out);
  EchoServer echo;
  auto cb = mesh.api("b");
  reg(cb, {{"name", "dev.echo.e1.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(echo.port())},
           {"whitelist", {"dev.*.*.*.*"}}});
  auto node = kith::identity::NodeIdentity::load(mesh.dir.path() + "/c/node");
  BOOST_REQUIRE(node.isOk());
  auto tls = kd::TlsContext::create({node->certPem, node->key.toPkcs8Pem(), node->rootPem, "mesh.kith"});
  BOOST_REQUIRE(tls.isOk());
  auto ep = kd::parseEndpoint(mesh.status("b")["tunnels"]["endpoint"].get<std::string>());
  BOOST_REQUIRE(ep.isOk());
  kith::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ep->first), ep->second);
  {
    kd::Loop loop;
    kd::Timer deadline(loop);
    deadline.start(15000, 0, [&] { loop.stop(); });
    TestOwner owner(loop);
    auto link = std::make_unique<kd::PeerLink>(loop, 1, *tls, std::move(fd), true, std::string("b"), owner,
                                               kd::PeerLink::Options{});
    link->start();
    loop.run();
    BOOST_REQUIRE_MESSAGE(owner.up, owner.downWhy);
    BOOST_TEST(link->peer().machine == "b");
    kith::Status refused, accepted = kith::Status::internal("no answer");
    link->open({"dev.cli.x1.default.a", "dev.echo.e1.default.b", "tcp", "spiffe://mesh.kith/dev/cli/x1/default/a", 0},
               [&](kith::Status st) {
                 refused = st;
                 loop.stop();
               });
    loop.run();
    BOOST_TEST(static_cast<int>(refused.code()) == static_cast<int>(kith::Code::kUnauthorized), refused.message());
    BOOST_TEST(refused.message().find("does not belong to machine c") != std::string::npos, refused.message());
    // Its own workloads' streams are taken (b's policy: same scope, whitelist).
    uint32_t sid = link->open({"dev.cli.x1.default.c", "dev.echo.e1.default.b", "tcp",
                               "spiffe://mesh.kith/dev/cli/x1/default/c", 0},
                              [&](kith::Status st) {
                                accepted = st;
                                loop.stop();
                              });
    loop.run();
    BOOST_REQUIRE_MESSAGE(accepted.isOk(), accepted.message());
    int sv[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    kith::UniqueFd mine(sv[0]);
    int flags = ::fcntl(sv[1], F_GETFL);
    ::fcntl(sv[1], F_SETFL, flags | O_NONBLOCK);
    BOOST_REQUIRE(link->attach(sid, kith::UniqueFd(sv[1])));
    BOOST_REQUIRE(::send(mine.get(), "via c\n", 6, 0) == 6);
    std::string got;
    kd::Poll poll(loop, mine.get());
    (void)poll.start(UV_READABLE, [&](int, int) {
      char b[64];
      ssize_t n = ::recv(mine.get(), b, sizeof b, MSG_DONTWAIT);
      if (n > 0) got.append(b, static_cast<size_t>(n));
      if (got.size() >= 6 || n == 0) loop.stop();
    });
    loop.run();
    poll.stop();
    BOOST_TEST(got == "via c\n");
    link->close(kith::Status::ok());
    link.reset();
    deadline.stop();
  }
  BOOST_TEST(errorCode(mesh.status("b")) == "OK");
}

// The README's walk-through: curl on machine a reaches an unmodified nginx on
// machine b, through `kithctl forward` and through an [[upstream]].
BOOST_AUTO_TEST_CASE(unmodified_curl_reaches_nginx_on_another_machine_through_forward_and_upstream) {
  TunnelMesh mesh;
  int upPort = freePort();
  mesh.start("a", Mesh::spec("[[upstream]]\nname = \"dev.curl.up1.default\"\nlisten = \"127.0.0.1:" +
                             std::to_string(upPort) + "\"\ndestination = \"dev.nginx.*.default.*\"\n"));
  mesh.start("b");
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
  int nginxPort = freePort();
  std::string prefix = mesh.dir.path() + "/nginx";
  std::string out;
  BOOST_REQUIRE(runCommand("mkdir -p " + prefix, &out) == 0);
  writeFile(prefix + "/nginx.conf",
            "daemon off;\npid " + prefix + "/nginx.pid;\nerror_log " + prefix + "/error.log;\n"
            "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
            "  client_body_temp_path " + prefix + "/body;\n  proxy_temp_path " + prefix + "/proxy;\n"
            "  fastcgi_temp_path " + prefix + "/fastcgi;\n"
            "  server { listen 127.0.0.1:" + std::to_string(nginxPort) +
            "; location / { return 200 \"hello from nginx on b\\n\"; } }\n}\n");
  ShellProcess nginx("nginx -c " + prefix + "/nginx.conf -p " + prefix + "/", prefix + "/stdout");
  BOOST_REQUIRE(waitFor([&] { return runCommand("curl -sf http://127.0.0.1:" + std::to_string(nginxPort) + "/", &out) == 0; }, 10000));
  // nginx knows nothing of kith: kithcat holds its registration with a target.
  ShellProcess reg(mesh.kithcat("b") + " -l dev.nginx.web1.default --allow 'dev.curl.*.*.*' -t tcp:127.0.0.1:" +
                       std::to_string(nginxPort),
                   mesh.dir.path() + "/reg.out");
  BOOST_REQUIRE(mesh.knows("a", "dev.nginx.web1.default.b"));
  // kithctl forward: a local port on a for curl.
  int fwdPort = freePort();
  ShellProcess fwd(mesh.kithctl("a") + " forward " + std::to_string(fwdPort) +
                       " dev.nginx.web1.default.b --as dev.curl.c1.default",
                   mesh.dir.path() + "/fwd.out");
  out.clear();
  BOOST_TEST(waitFor(
                 [&] {
                   out.clear();
                   return runCommand("curl -sf http://127.0.0.1:" + std::to_string(fwdPort) + "/", &out) == 0;
                 },
                 10000),
             out << fwd.output());
  BOOST_TEST(out == "hello from nginx on b\n");
  BOOST_TEST(fwd.output().find("forwarding 127.0.0.1:" + std::to_string(fwdPort)) != std::string::npos, fwd.output());
  // [[upstream]] in a's config: the same without any process on a.
  out.clear();
  BOOST_TEST(waitFor(
      [&] {
        out.clear();
        return runCommand("curl -sf http://127.0.0.1:" + std::to_string(upPort) + "/", &out) == 0;
      },
      10000));
  BOOST_TEST(out == "hello from nginx on b\n");
  // The upstream is a registered workload on a; policy applies to it: nginx
  // only admits dev.curl.*, so a forward as another group is refused.
  BOOST_TEST(errorCode(mesh.resolve("a", "dev.curl.up1.default.a")) == "OK");
  int badPort = freePort();
  ShellProcess bad(mesh.kithctl("a") + " forward " + std::to_string(badPort) +
                       " dev.nginx.web1.default.b --as dev.wget.w1.default",
                   mesh.dir.path() + "/bad.out");
  BOOST_REQUIRE(waitFor([&] { return bad.output().find("forwarding") != std::string::npos; }, 10000));
  out.clear();
  BOOST_TEST(runCommand("curl -s --max-time 5 http://127.0.0.1:" + std::to_string(badPort) + "/", &out) != 0);
  BOOST_TEST(waitFor([&] { return bad.output().find("UNAUTHORIZED") != std::string::npos; }, 5000), bad.output());
}

// Two machines in their own network namespaces joined by a veth pair: the
// daemons reach each other only over that wire.
BOOST_AUTO_TEST_CASE(daemons_in_separate_network_namespaces_broker_over_veth) {
  std::string suffix = std::to_string(::getpid() % 100000);
  std::string nsA = "kitha" + suffix, nsB = "kithb" + suffix;
  std::string out;
  auto sh = [&](const std::string& cmd) {
    out.clear();
    return runCommand(cmd, &out) == 0;
  };
  if (!sh("ip netns add " + nsA + " && ip netns add " + nsB)) {
    BOOST_TEST_MESSAGE("no network namespaces here: " << out);
    BOOST_FAIL("ip netns unavailable (root and iproute2 are required): " + out);
  }
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      std::string o;
      runCommand("ip netns del " + a + "; ip netns del " + b, &o);
    }
  } cleanup{nsA, nsB};
  BOOST_REQUIRE_MESSAGE(sh("ip link add va" + suffix + " netns " + nsA + " type veth peer name vb" + suffix +
                           " netns " + nsB + " && ip -n " + nsA + " addr add 10.213.0.1/24 dev va" + suffix +
                           " && ip -n " + nsB + " addr add 10.213.0.2/24 dev vb" + suffix + " && ip -n " + nsA +
                           " link set va" + suffix + " up && ip -n " + nsB + " link set vb" + suffix +
                           " up && ip -n " + nsA + " link set lo up && ip -n " + nsB + " link set lo up"),
                        out);
  TunnelMesh mesh;
  Mesh::Machine a, b;
  a.host = "10.213.0.1";
  a.netns = nsA;
  b.host = "10.213.0.2";
  b.netns = nsB;
  mesh.start("a", a);
  mesh.start("b", b);
  BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 20000));
  auto sink = serve(mesh, "b", "dev.sink.s1.default", "sha256sum | cut -c1-64");
  BOOST_REQUIRE(mesh.knows("a", "dev.sink.s1.default.b"));
  std::string data = mesh.dir.path() + "/data.bin";
  BOOST_REQUIRE(sh("head -c 10000000 /dev/urandom > " + data));
  std::string want = sha256OfFile(data);
  BOOST_REQUIRE(sh(mesh.kithcat("a") + " --as dev.up.u1.default dev.sink.s1.default.b < " + data));
  BOOST_TEST(out.substr(0, 64) == want);
  auto links = mesh.streams("a")["links"];
  BOOST_REQUIRE_EQUAL(links.size(), 1u);
  BOOST_TEST(links[0]["machine"] == "b");
  BOOST_TEST(mesh.status("b")["tunnels"]["endpoint"].get<std::string>().rfind("10.213.0.2:", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
