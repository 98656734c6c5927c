// FOKS virtual hosts end to end: a real kithd with its vhost and probe
// listeners, real TLS clients (openssl s_client, curl --resolve, kithctl host
// probe), real backends (a TCP server in the test parsing the PROXY v2 header,
// and HAProxy from Debian accepting it).
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
// clang-format on

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "fixture.h"
#include "vhost_backend.h"
#include "kith/common/json.h"
#include "kith/identity/cert.h"
#include "kith/identity/host_cert.h"
#include "kith/identity/host_id.h"
#include "kith/identity/keys.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::test {
namespace {

namespace id = kith::identity;
using nlohmann::json;

struct VhostFixture {
  TempDir dir;
  DaemonProcess daemon{dir.path() + "/home"};
  std::string config = dir.path() + "/kithd.toml";
  uint16_t port = 0, probePort = 0;
  std::vector<TestClient> registrations;

  std::string policy = dir.path() + "/policy.toml";

  VhostFixture() {
    // Vhost streams are connects from the listener's workload: the
    // default-deny policy must let it reach the `prod` backends.
    writeFile(policy, kVhostPolicy);
    writeFile(config, "[vhost]\nlisten = \"127.0.0.1:0\"\nprobe_listen = \"127.0.0.1:0\"\n[policy]\nfile = \"" +
                          policy + "\"\n");
    start();
  }
  static constexpr const char* kVhostPolicy =
      "[[allow]]\nname = \"vhost-to-prod\"\nfrom = \"vhost.kithd.listener.default.*\"\nto = \"prod.*.*.*.*\"\n"
      "cross_scope = true\n";
  ~VhostFixture() {
    registrations.clear();
    if (daemon.running()) {
      int st = daemon.stop();
      if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) BOOST_ERROR("kithd did not exit cleanly: " << daemon.log());
    }
  }
  void start() {
    Status st = daemon.start({"--config", config});
    if (!st.isOk()) BOOST_FAIL("kithd did not start: " << st.message());
    json l = admin({{"op", "host.list"}});
    auto portOf = [](const json& v) {
      std::string s = v.get<std::string>();
      return static_cast<uint16_t>(std::stoi(s.substr(s.rfind(':') + 1)));
    };
    port = portOf(l["listen"]);
    probePort = portOf(l["probe_listen"]);
  }
  json admin(json req) {
    auto c = TestClient::connect(daemon.adminSocket());
    BOOST_REQUIRE(c.isOk());
    auto r = c->request(std::move(req));
    BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message());
    return r->json;
  }
  json ok(json req) {
    json r = admin(req);
    BOOST_REQUIRE_MESSAGE(r.value("ok", false), kith::dumpJson(req) << " -> " << kith::dumpJson(r));
    return r;
  }
  std::string hostId(const std::string& name) { return ok({{"op", "host.show"}, {"name", name}})["host_id"]; }
  // A workload whose target is `b`, held registered for the test.
  void serve(const std::string& name4, const Backend& b, json extra = json::object()) {
    auto c = TestClient::connect(daemon.apiSocket());
    BOOST_REQUIRE(c.isOk());
    json req = {{"op", "register"}, {"name", name4}, {"target", "tcp:127.0.0.1:" + std::to_string(b.port())}};
    req.update(extra);
    auto r = c->request(req);
    BOOST_REQUIRE(r.isOk());
    BOOST_REQUIRE_MESSAGE(r->json.value("ok", false), kith::dumpJson(r->json));
    registrations.push_back(std::move(*c));
  }
  // Primaries a and b and a's vhost v1, each with its backend serving.
  void twoPrimariesAndAVhost(const Backend& ba, const Backend& bv, const Backend& bb) {
    ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
    ok({{"op", "host.init"}, {"name", "b.example.test"}, {"backend", "prod.b.*.*.*"}});
    ok({{"op", "vhost.add"}, {"name", "v1.example.test"}, {"primary", "a.example.test"}, {"backend", "prod.v1.*.*.*"}});
    serve("prod.a.s1.default", ba);
    serve("prod.v1.s1.default", bv);
    serve("prod.b.s1.default", bb);
  }
  int kithctl(const std::string& args, std::string* out) {
    return runCommand(binDir() + "/kithctl --socket " + daemon.apiSocket() + " " + args, out);
  }
  std::string hostsDir() const { return daemon.home() + "/hosts"; }
  // openssl s_client sending `input`; returns what it printed (stdout+stderr).
  int sclient(const std::string& args, const std::string& input, std::string* out) {
    std::string in = dir.path() + "/in-" + std::to_string(++n_);
    writeFile(in, input);
    return runCommand("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " -quiet -ign_eof " + args + " < " + in,
                      out);
  }
  int curl(const std::string& host, std::string* out) {
    return runCommand("timeout 20 curl -sS --cacert " + hostsDir() + "/" + primaryOf(host) + "/tls-ca.crt --resolve " +
                          host + ":" + std::to_string(port) + ":127.0.0.1 https://" + host + ":" +
                          std::to_string(port) + "/",
                      out);
  }
  std::string primaryOf(const std::string& host) {
    json h = ok({{"op", "host.show"}, {"name", host}});
    return h["primary"].is_null() ? host : h["primary"].get<std::string>();
  }
  // A client certificate for `user` of host `host`, issued by the TLS CA in
  // `caHost`'s directory; writes cert and key files and returns their prefix.
  std::string clientCert(const std::string& caHost, const std::string& host, const std::string& user) {
    auto key = id::SigningKey::loadKeyFile(hostsDir() + "/" + caHost + "/tls-ca.key");
    BOOST_REQUIRE_MESSAGE(key.isOk(), key.status().message());
    std::ifstream f(hostsDir() + "/" + caHost + "/tls-ca.crt");
    std::string caPem((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto hid = id::HostId::parse(hostId(host));
    BOOST_REQUIRE(hid.isOk());
    id::SigningKey leaf = id::SigningKey::generate();
    auto cert = id::issueHostClientCertificate(*key, caPem, leaf.publicKey(), *hid, user);
    BOOST_REQUIRE(cert.isOk());
    std::string prefix = dir.path() + "/" + user + "-" + std::to_string(++n_);
    writeFile(prefix + ".crt", *cert);
    BOOST_REQUIRE(leaf.saveKeyFile(prefix + ".key").isOk());
    return prefix;
  }
  int n_ = 0;
};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(vhost)

BOOST_FIXTURE_TEST_CASE(three_hosts_on_one_port_are_picked_by_sni_with_curl, VhostFixture) {
  Backend ba("a"), bb("b"), bc("c");
  for (const char* h : {"a", "b", "c"}) {
    ok({{"op", "host.init"}, {"name", std::string(h) + ".example.test"}, {"backend", std::string("prod.") + h + ".*.*.*"}});
  }
  serve("prod.a.s1.default", ba);
  serve("prod.b.s1.default", bb);
  serve("prod.c.s1.default", bc);
  for (const char* h : {"a", "b", "c"}) {
    std::string out;
    // curl verifies the server certificate against the host's TLS CA and name.
    int rc = curl(std::string(h) + ".example.test", &out);
    BOOST_TEST(rc == 0, out);
    BOOST_TEST(out == "backend=" + std::string(h) + "\n", out);
  }
  BOOST_TEST(ba.connections() == 1u);
  BOOST_TEST(bb.connections() == 1u);
  BOOST_TEST(bc.connections() == 1u);
  auto seen = bb.seen();
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST((seen[0].header.tlv(api::kTlvAuthority) == std::optional<std::string>("b.example.test")));
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithHostId) == std::optional<std::string>(hostId("b.example.test"))));
  BOOST_TEST(!seen[0].header.tlv(api::kTlvKithSpiffeId).has_value());  // no client certificate
  BOOST_TEST(contains(seen[0].payload, "Host: b.example.test"));
}

BOOST_FIXTURE_TEST_CASE(backend_receives_a_correct_proxy_v2_header, VhostFixture) {
  Backend b("a");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  serve("prod.a.s1.default", b);
  std::string out;
  int rc = sclient("-servername a.example.test", "hello over tls\n", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(contains(out, "backend=a"), out);
  auto seen = b.seen();
  BOOST_REQUIRE(seen.size() == 1u);
  const auto& h = seen[0].header;
  BOOST_TEST(!h.local);
  BOOST_TEST((h.family == api::ProxyHeader::Family::kInet));
  BOOST_TEST(h.srcAddr == std::string("\x7f\x00\x00\x01", 4));
  BOOST_TEST(h.dstPort == port);  // the listener's port
  BOOST_TEST(h.srcPort != 0);
  BOOST_TEST((h.tlv(api::kTlvAuthority) == std::optional<std::string>("a.example.test")));
  BOOST_TEST((h.tlv(api::kTlvKithHostId) == std::optional<std::string>(hostId("a.example.test"))));
  BOOST_TEST(seen[0].payload == "hello over tls\n");
}

BOOST_FIXTURE_TEST_CASE(unknown_sni_gets_a_tls_alert_and_no_backend_is_dialled, VhostFixture) {
  Backend b("a");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  serve("prod.a.s1.default", b);
  std::string out;
  int rc = sclient("-servername nobody.example.test", "x\n", &out);
  BOOST_TEST(rc != 0);
  BOOST_TEST(contains(out, "unrecognized name"), out);
  BOOST_TEST(b.connections() == 0u);
}

BOOST_FIXTURE_TEST_CASE(client_certificate_routes_without_sni_and_names_the_client, VhostFixture) {
  Backend ba("a"), bv("v1");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  ok({{"op", "vhost.add"}, {"name", "v1.example.test"}, {"primary", "a.example.test"}, {"backend", "prod.v1.*.*.*"}});
  serve("prod.a.s1.default", ba);
  serve("prod.v1.s1.default", bv);
  // The vhost's users hold certificates from its primary's TLS CA (Alias).
  std::string cert = clientCert("a.example.test", "v1.example.test", "alice");
  std::string out;
  int rc = sclient("-noservername -cert " + cert + ".crt -key " + cert + ".key", "hi\n", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(contains(out, "backend=v1"), out);
  BOOST_TEST(ba.connections() == 0u);
  auto seen = bv.seen();
  BOOST_REQUIRE(seen.size() == 1u);
  std::string v1 = hostId("v1.example.test");
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithSpiffeId) == std::optional<std::string>("foks://" + v1 + "/user/alice")));
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithHostId) == std::optional<std::string>(v1)));
  BOOST_TEST((seen[0].header.tlv(api::kTlvAuthority) == std::optional<std::string>("v1.example.test")));
  // With SNI naming the same host it routes too.
  out.clear();
  rc = sclient("-servername v1.example.test -cert " + cert + ".crt -key " + cert + ".key", "hi\n", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(contains(out, "backend=v1"), out);
}

BOOST_FIXTURE_TEST_CASE(client_certificate_that_disagrees_with_sni_is_refused_and_backend_sees_nothing,
                        VhostFixture) {
  Backend ba("a"), bv("v1"), bb("b");
  twoPrimariesAndAVhost(ba, bv, bb);
  std::string cert = clientCert("a.example.test", "v1.example.test", "alice");
  // Same CA (v1 aliases a) but SNI names a: the identity says v1.
  std::string out;
  sclient("-servername a.example.test -cert " + cert + ".crt -key " + cert + ".key", "hi\n", &out);
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED client certificate is for host v1.example.test"), out);
  // Another host's CA: b's context does not accept a's certificates at all.
  out.clear();
  sclient("-servername b.example.test -cert " + cert + ".crt -key " + cert + ".key", "hi\n", &out);
  BOOST_TEST(!contains(out, "backend="), out);
  // A certificate naming b but issued by a's CA, without SNI: the no-SNI
  // context trusts both CAs, the listener checks the CA of the host named.
  std::string forged = clientCert("a.example.test", "b.example.test", "mallory");
  out.clear();
  sclient("-noservername -cert " + forged + ".crt -key " + forged + ".key", "hi\n", &out);
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED client certificate is not from b.example.test's CA"), out);
  BOOST_TEST(ba.connections() == 0u);
  BOOST_TEST(bv.connections() == 0u);
  BOOST_TEST(bb.connections() == 0u);
}

BOOST_FIXTURE_TEST_CASE(select_vhost_preamble_picks_a_vhost_of_the_sni_primary, VhostFixture) {
  Backend ba("a"), bv("v1"), bb("b");
  twoPrimariesAndAVhost(ba, bv, bb);
  std::string v1 = hostId("v1.example.test");
  std::string out;
  int rc = sclient("-servername a.example.test", "SELECT-VHOST " + v1 + "\nafter select\n", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(contains(out, "backend=v1"), out);
  auto seen = bv.seen();
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST(seen[0].payload == "after select\n");  // the preamble is not forwarded
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithHostId) == std::optional<std::string>(v1)));
  // Without SNI any host may be selected.
  out.clear();
  rc = sclient("-noservername", "SELECT-VHOST " + hostId("b.example.test") + "\nx\n", &out);
  BOOST_TEST(contains(out, "backend=b"), out);
  // With SNI a, selecting b (not a's vhost) is refused.
  out.clear();
  sclient("-servername a.example.test", "SELECT-VHOST " + hostId("b.example.test") + "\nx\n", &out);
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED SELECT-VHOST names b.example.test"), out);
  out.clear();
  sclient("-servername a.example.test", "SELECT-VHOST notanid\nx\n", &out);
  BOOST_TEST(contains(out, "ERR BAD_REQUEST SELECT-VHOST"), out);
  out.clear();
  sclient("-noservername", "plain data without a host\n", &out);
  BOOST_TEST(contains(out, "ERR BAD_REQUEST no host selected"), out);
  BOOST_TEST(bb.connections() == 1u);
  BOOST_TEST(ba.connections() == 0u);
}

BOOST_FIXTURE_TEST_CASE(host_without_a_backend_gets_a_one_line_error, VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.nobody.*.*.*"}});
  std::string out;
  sclient("-servername a.example.test", "hi\n", &out);
  BOOST_TEST(contains(out, "ERR DESTINATION_NOT_FOUND no backend for a.example.test: none is registered"), out);
  BOOST_TEST(!contains(out, "prod.nobody"), out);
}

BOOST_FIXTURE_TEST_CASE(a_backend_the_policy_does_not_allow_sees_nothing_until_a_rule_allows_it, VhostFixture) {
  Backend b("s");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "staging.a.*.*.*"}});
  serve("staging.a.s1.default", b);
  std::string out;
  sclient("-servername a.example.test", "hi\n", &out);
  // The listener's workload is the source the policy decides for.
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED no backend for a.example.test: not allowed by policy"), out);
  BOOST_TEST(!contains(out, "vhost.kithd.listener.default."), out);  // mesh addresses stay inside
  // The log says who was refused and by which rule.
  BOOST_TEST(waitFor([&] { return contains(daemon.log(), "not allowed by policy: vhost.kithd.listener.default."); },
                     5000));
  BOOST_TEST(b.connections() == 0u);
  writeFile(policy, std::string(kVhostPolicy) +
                        "[[allow]]\nfrom = \"vhost.kithd.listener.default.*\"\nto = \"staging.a.*.*.*\"\n"
                        "cross_scope = true\n");
  ok({{"op", "policy.reload"}});
  out.clear();
  sclient("-servername a.example.test", "hi\n", &out);
  BOOST_TEST(contains(out, "backend=s"), out);
  BOOST_TEST(b.connections() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_backend_that_asked_for_proxy_headers_gets_the_listeners_header_exactly_once,
                        VhostFixture) {
  Backend b("a");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  serve("prod.a.s1.default", b, {{"proxy_protocol", true}});
  std::string out;
  sclient("-servername a.example.test", "hello\n", &out);
  BOOST_TEST(contains(out, "backend=a"), out);
  auto seen = b.seen();
  BOOST_REQUIRE_EQUAL(seen.size(), 1u);
  // The listener's header (host TLVs), not the registration's (0xE0 address),
  // and right after it the client's bytes: no second header.
  BOOST_TEST((seen[0].header.tlv(api::kTlvAuthority) == std::optional<std::string>("a.example.test")));
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithHostId) == std::optional<std::string>(hostId("a.example.test"))));
  BOOST_TEST(!seen[0].header.tlv(api::kTlvKithAddress).has_value());
  BOOST_TEST(seen[0].payload == "hello\n");
}

BOOST_FIXTURE_TEST_CASE(haproxy_accepts_the_proxy_v2_header, VhostFixture) {
  if (runCommand("command -v haproxy", nullptr) != 0) {
    BOOST_FAIL("haproxy is not installed (scripts/deps.sh installs it)");
  }
  // A free port for HAProxy (it cannot bind port 0 and tell us).
  uint16_t hp;
  {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    hp = ntohs(sa.sin_port);
  }
  std::string cfg = dir.path() + "/haproxy.cfg";
  writeFile(cfg,
            "global\n  log stderr format raw local0\n"
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n"
            "frontend fe\n  bind 127.0.0.1:" + std::to_string(hp) + " accept-proxy\n"
            "  http-request return status 200 content-type text/plain lf-string "
            "\"authority=%[fc_pp_authority] src=%[src] host=%[req.hdr(host)]\\n\"\n");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("haproxy", "haproxy", "-db", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  BOOST_REQUIRE(pid > 0);
  struct Reap {
    pid_t p;
    ~Reap() {
      ::kill(p, SIGTERM);
      ::waitpid(p, nullptr, 0);
    }
  } reap{pid};
  BOOST_REQUIRE(waitFor([&] { return runCommand("timeout 2 bash -c '</dev/tcp/127.0.0.1/" + std::to_string(hp) + "'", nullptr) == 0; }, 20000));
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.haproxy.*.*.*"}});
  auto c = TestClient::connect(daemon.apiSocket());
  BOOST_REQUIRE(c.isOk());
  auto r = c->request({{"op", "register"}, {"name", "prod.haproxy.h1.default"}, {"target", "tcp:127.0.0.1:" + std::to_string(hp)}});
  BOOST_REQUIRE(r.isOk() && r->json.value("ok", false));
  std::string out;
  int rc = curl("a.example.test", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "authority=a.example.test src=127.0.0.1 host=a.example.test:" + std::to_string(port) + "\n", out);
}

BOOST_FIXTURE_TEST_CASE(short_host_ids_are_unique_and_hosts_survive_a_restart, VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  // Many vhost.add in flight at once on one admin connection: one group commit.
  auto c = TestClient::connect(daemon.adminSocket());
  BOOST_REQUIRE(c.isOk());
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(c->sendRaw(kith::dumpJson(json({{"id", i}, {"op", "vhost.add"}, {"name", "v" + std::to_string(i) + ".example.test"},
                                   {"primary", "a.example.test"}})) + "\n").isOk());
  }
  std::set<int64_t> ids;
  for (int i = 0; i < 20; ++i) {
    auto m = c->next();
    BOOST_REQUIRE(m.isOk());
    BOOST_REQUIRE_MESSAGE(m->json.value("ok", false), kith::dumpJson(m->json));
    ids.insert(m->json["short_id"].get<int64_t>());
  }
  BOOST_TEST(ids.size() == 20u);
  BOOST_TEST(*ids.begin() == 2);
  json dup = admin({{"op", "vhost.add"}, {"name", "v3.example.test"}, {"primary", "a.example.test"}});
  BOOST_TEST(dup["error"]["code"] == "ALREADY_REGISTERED");
  json bad = admin({{"op", "vhost.add"}, {"name", "v99.example.test"}, {"primary", "nobody.example.test"}});
  BOOST_TEST(bad["error"]["code"] == "DESTINATION_NOT_FOUND");
  json badName = admin({{"op", "host.init"}, {"name", "Bad_Name"}, {"backend", "prod.a.*.*.*"}});
  BOOST_TEST(badName["error"]["code"] == "BAD_REQUEST");
  ok({{"op", "vhost.remove"}, {"name", "v5.example.test"}});
  BOOST_TEST(!std::filesystem::exists(hostsDir() + "/v5.example.test"));
  json removePrimary = admin({{"op", "vhost.remove"}, {"name", "a.example.test"}});
  BOOST_TEST(removePrimary["error"]["code"] == "BAD_REQUEST");
  std::string v7 = hostId("v7.example.test");
  // Keys are 0600, directories 0700.
  struct stat st {};
  BOOST_REQUIRE(::stat((hostsDir() + "/a.example.test/host.key").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_REQUIRE(::stat((hostsDir() + "/v7.example.test").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);

  BOOST_REQUIRE(daemon.stop() == 0);
  start();
  json list = ok({{"op", "vhost.list"}});
  BOOST_TEST(list["vhosts"].size() == 19u);
  BOOST_TEST(hostId("v7.example.test") == v7);
  json v6 = ok({{"op", "vhost.add"}, {"name", "v5.example.test"}, {"primary", "a.example.test"}});
  BOOST_TEST(ids.count(v6["short_id"].get<int64_t>()) == 0u);  // a new, unused ShortHostID
  // The reloaded hosts are served.
  Backend b("a");
  serve("prod.a.s1.default", b);
  std::string out;
  int rc = curl("v7.example.test", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(out == "backend=a\n", out);
}

BOOST_FIXTURE_TEST_CASE(kithctl_host_init_show_rotate_and_json_chain, VhostFixture) {
  std::string out;
  BOOST_TEST(kithctl("host init a.example.test --backend 'prod.a.*.*.*'", &out) == 0, out);
  BOOST_TEST(contains(out, "short id  1"), out);
  out.clear();
  BOOST_TEST(kithctl("host rotate a.example.test merkle", &out) == 0, out);
  BOOST_TEST(contains(out, "hostchain at link 2"), out);
  out.clear();
  BOOST_TEST(kithctl("host rotate a.example.test nonsense", &out) == 1, out);
  BOOST_TEST(contains(out, "BAD_REQUEST"), out);
  out.clear();
  BOOST_TEST(kithctl("host show a.example.test --json", &out) == 0, out);
  json j = kith::parseJson(out);
  BOOST_TEST(j["chain"].size() == 2u);
  BOOST_TEST(j["chain"][1]["changes"][0]["op"] == "add");
  BOOST_TEST(j["chain"][1]["changes"][1]["op"] == "revoke");
  out.clear();
  BOOST_TEST(kithctl("vhost add v.example.test --primary a.example.test", &out) == 0, out);
  out.clear();
  BOOST_TEST(kithctl("host show v.example.test --json", &out) == 0, out);
  j = kith::parseJson(out);
  BOOST_TEST(j["chain"][0]["changes"].back()["op"] == "alias");
  BOOST_TEST(j["chain"][0]["changes"].back()["primary"] == hostId("a.example.test"));
  out.clear();
  BOOST_TEST(kithctl("vhost list", &out) == 0, out);
  BOOST_TEST(contains(out, "v.example.test"), out);
  out.clear();
  BOOST_TEST(kithctl("vhost remove v.example.test", &out) == 0, out);
  out.clear();
  BOOST_TEST(kithctl("vhost remove v.example.test", &out) == 1, out);
  BOOST_TEST(contains(out, "DESTINATION_NOT_FOUND"), out);
}

BOOST_FIXTURE_TEST_CASE(probe_by_name_by_id_and_by_both, VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  ok({{"op", "host.init"}, {"name", "b.example.test"}, {"backend", "prod.b.*.*.*"}});
  ok({{"op", "vhost.add"}, {"name", "v1.example.test"}, {"primary", "a.example.test"}});
  std::string pins = " --pins " + dir.path() + "/pins.json";
  std::string a = hostId("a.example.test"), b = hostId("b.example.test");
  std::string out;
  BOOST_TEST(kithctl("host probe a.example.test" + pins, &out) == 0, out);
  BOOST_TEST(contains(out, "host id   " + a), out);
  BOOST_TEST(contains(out, "server certificate"), out);
  BOOST_TEST(contains(out, "probe     a.example.test:" + std::to_string(probePort)), out);
  out.clear();
  BOOST_TEST(kithctl("host probe --host-id " + b + pins, &out) == 0, out);
  BOOST_TEST(contains(out, "host      b.example.test"), out);
  out.clear();
  BOOST_TEST(kithctl("host probe a.example.test --host-id " + a + pins, &out) == 0, out);
  out.clear();
  BOOST_TEST(kithctl("host probe a.example.test --host-id " + b + pins, &out) == 1, out);
  BOOST_TEST(contains(out, "UNAUTHORIZED"), out);
  BOOST_TEST(contains(out, "is host " + a), out);
  out.clear();
  BOOST_TEST(kithctl("host probe nobody.example.test --no-pin --at 127.0.0.1:" + std::to_string(probePort), &out) == 1, out);
  BOOST_TEST(contains(out, "nobody.example.test"), out);
  out.clear();
  BOOST_TEST(kithctl("host probe v1.example.test --json" + pins, &out) == 0, out);
  json j = kith::parseJson(out);
  BOOST_TEST(j["primary"]["host_id"] == a);
  out.clear();
  BOOST_TEST(kithctl("host beacon " + hostId("v1.example.test"), &out) == 0, out);
  BOOST_TEST(out == "v1.example.test:" + std::to_string(port) + "\n", out);
  out.clear();
  BOOST_TEST(kithctl("host beacon " + id::HostId::fromHostKey(id::SigningKey::generate().publicKey()).toString(), &out) == 1, out);
  BOOST_TEST(contains(out, "DESTINATION_NOT_FOUND"), out);
}

BOOST_FIXTURE_TEST_CASE(reprobe_refuses_rollback_and_fork_and_a_pinned_name_changing_host_id, VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  std::string pins = " --pins " + dir.path() + "/pins.json";
  std::string out;
  BOOST_TEST(kithctl("host probe a.example.test" + pins, &out) == 0, out);
  // Keep the host as it is at link 1.
  std::string saved = dir.path() + "/a-at-1";
  std::filesystem::copy(hostsDir() + "/a.example.test", saved, std::filesystem::copy_options::recursive);
  ok({{"op", "host.rotate"}, {"name", "a.example.test"}, {"key", "merkle"}});
  out.clear();
  BOOST_TEST(kithctl("host probe a.example.test" + pins, &out) == 0, out);  // extends: accepted
  BOOST_TEST(contains(out, "seqno     2"), out);

  // Roll the daemon's host back to link 1.
  BOOST_REQUIRE(daemon.stop() == 0);
  std::filesystem::remove_all(hostsDir() + "/a.example.test");
  std::filesystem::copy(saved, hostsDir() + "/a.example.test", std::filesystem::copy_options::recursive);
  start();
  out.clear();
  BOOST_TEST(kithctl("host probe a.example.test" + pins, &out) == 1, out);
  BOOST_TEST(contains(out, "rollback:"), out);
  // A different link 2: a fork of the chain the client holds.
  ok({{"op", "host.rotate"}, {"name", "a.example.test"}, {"key", "metadata"}});
  out.clear();
  BOOST_TEST(kithctl("host probe a.example.test" + pins, &out) == 1, out);
  BOOST_TEST(contains(out, "fork:"), out);

  // A pinned name whose HostID changes.
  ok({{"op", "vhost.add"}, {"name", "v.example.test"}, {"primary", "a.example.test"}});
  out.clear();
  BOOST_TEST(kithctl("host probe v.example.test" + pins, &out) == 0, out);
  ok({{"op", "vhost.remove"}, {"name", "v.example.test"}});
  ok({{"op", "vhost.add"}, {"name", "v.example.test"}, {"primary", "a.example.test"}});
  out.clear();
  BOOST_TEST(kithctl("host probe v.example.test" + pins, &out) == 1, out);
  BOOST_TEST(contains(out, "pin: v.example.test is pinned to host"), out);
}

BOOST_FIXTURE_TEST_CASE(kithctl_issue_client_certificate_is_accepted_by_the_listener, VhostFixture) {
  Backend bv("v1");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  ok({{"op", "vhost.add"}, {"name", "v1.example.test"}, {"primary", "a.example.test"}, {"backend", "prod.v1.*.*.*"}});
  serve("prod.v1.s1.default", bv);
  std::string out, certDir = dir.path() + "/bob";
  BOOST_TEST(kithctl("host issue-client v1.example.test --user bob --out " + certDir, &out) == 0, out);
  std::string v1 = hostId("v1.example.test");
  BOOST_TEST(contains(out, "foks://" + v1 + "/user/bob"), out);
  struct stat st {};
  BOOST_REQUIRE(::stat((certDir + "/client.key").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  out.clear();
  int rc = sclient("-noservername -cert " + certDir + "/client.crt -key " + certDir + "/client.key", "hi\n", &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(contains(out, "backend=v1"), out);
  auto seen = bv.seen();
  BOOST_REQUIRE(seen.size() == 1u);
  BOOST_TEST((seen[0].header.tlv(api::kTlvKithSpiffeId) == std::optional<std::string>("foks://" + v1 + "/user/bob")));
  json bad = admin({{"op", "host.issue-client"}, {"name", "v1.example.test"}, {"user", "eve"}, {"public_key", "zz"}});
  BOOST_TEST(bad["error"]["code"] == "BAD_REQUEST");
  json badUser = admin({{"op", "host.issue-client"}, {"name", "v1.example.test"}, {"user", "a/b"},
                        {"public_key", std::string(64, '1')}});
  BOOST_TEST(badUser["error"]["code"] == "BAD_REQUEST");
}

// An HTTP backend that echoes a POSTed body followed by `extra` bytes: megabytes
// both ways through the relay (backpressure, partial writes, close_notify).
BOOST_FIXTURE_TEST_CASE(megabytes_cross_the_relay_intact_both_ways, VhostFixture) {
  const size_t kUp = 3u << 20, kExtra = 5u << 20;
  uint16_t backendPort = 0;
  UniqueFd lfd = listenOnLoopback(&backendPort, 4);
  auto pattern = [](size_t i) { return static_cast<char>((i * 7 + i / 251) & 0xff); };
  std::atomic<bool> served{false};
  std::thread server([&] {
    UniqueFd c(::accept(lfd.get(), nullptr, nullptr));
    if (!c) return;
    timeval tv{30, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string in;
    char buf[65536];
    size_t used = 0, bodyStart = std::string::npos, length = 0;
    for (;;) {
      ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (used == 0) {
        auto h = api::parseProxyHeader(in, &used);
        if (!h.isOk()) {
          if (h.status().code() == Code::kNotFound) continue;
          return;
        }
        in.erase(0, used);
      }
      if (bodyStart == std::string::npos) {
        size_t e = in.find("\r\n\r\n");
        if (e == std::string::npos) continue;
        bodyStart = e + 4;
        size_t cl = in.find("Content-Length: ");
        if (cl == std::string::npos) return;
        length = std::stoul(in.substr(cl + 16));
      }
      if (in.size() >= bodyStart + length) break;
    }
    std::string body = in.substr(bodyStart, length);
    for (size_t i = 0; i < kExtra; ++i) body.push_back(pattern(i));
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    std::string out = head + body;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::send(c.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
    served = true;
  });
  struct Join {
    std::thread& t;
    ~Join() { t.join(); }
  } join{server};
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.big.*.*.*"}});
  auto c = TestClient::connect(daemon.apiSocket());
  BOOST_REQUIRE(c.isOk());
  auto r = c->request({{"op", "register"}, {"name", "prod.big.b1.default"},
                       {"target", "tcp:127.0.0.1:" + std::to_string(backendPort)}});
  BOOST_REQUIRE(r.isOk() && r->json.value("ok", false));
  std::string up(kUp, '\0');
  for (size_t i = 0; i < kUp; ++i) up[i] = pattern(i * 3 + 1);
  writeFile(dir.path() + "/up.bin", up);
  std::string expected = up;
  for (size_t i = 0; i < kExtra; ++i) expected.push_back(pattern(i));
  writeFile(dir.path() + "/expected.bin", expected);
  std::string out;
  int rc = runCommand("timeout 60 curl -sS --cacert " + hostsDir() + "/a.example.test/tls-ca.crt --resolve a.example.test:" +
                          std::to_string(port) + ":127.0.0.1 -H 'Expect:' --data-binary @" + dir.path() + "/up.bin -o " +
                          dir.path() + "/down.bin https://a.example.test:" + std::to_string(port) + "/ && cmp " +
                          dir.path() + "/expected.bin " + dir.path() + "/down.bin",
                      &out);
  BOOST_TEST(rc == 0, out);
  BOOST_TEST(served.load());
}

// A backend registered as `name4` (on the fixture's daemon) that holds its one
// stream open; see holdOpenThenEnd.
static void streamEndsWhen(VhostFixture& f, const std::string& sni, const std::string& name4,
                           const std::function<void()>& end) {
  holdOpenThenEnd(f.port, sni, [&](uint16_t backendPort) {
    auto reg = TestClient::connect(f.daemon.apiSocket());
    BOOST_REQUIRE(reg.isOk());
    auto r = reg->request({{"op", "register"}, {"name", name4}, {"target", "tcp:127.0.0.1:" + std::to_string(backendPort)}});
    BOOST_REQUIRE(r.isOk() && r->json.value("ok", false));
    f.registrations.push_back(std::move(*reg));
  }, end);
}

BOOST_FIXTURE_TEST_CASE(removing_a_vhost_closes_its_open_streams, VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  ok({{"op", "vhost.add"}, {"name", "v.example.test"}, {"primary", "a.example.test"}, {"backend", "prod.hold.*.*.*"}});
  streamEndsWhen(*this, "v.example.test", "prod.hold.h1.default", [&] {
    json rm = ok({{"op", "vhost.remove"}, {"name", "v.example.test"}});
    BOOST_TEST(rm["closed_streams"] == 1);
  });
}

BOOST_FIXTURE_TEST_CASE(a_policy_reload_that_no_longer_allows_the_backend_closes_open_vhost_streams,
                        VhostFixture) {
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.hold.*.*.*"}});
  streamEndsWhen(*this, "a.example.test", "prod.hold.h1.default", [&] {
    writeFile(policy, std::string(kVhostPolicy) +
                          "[[deny]]\nname = \"no-hold\"\nfrom = \"*.*.*.*.*\"\nto = \"prod.hold.*.*.*\"\n");
    ok({{"op", "policy.reload"}});
  });
}

BOOST_FIXTURE_TEST_CASE(garbage_on_the_listeners_never_hurts_the_daemon, VhostFixture) {
  Backend b("a");
  ok({{"op", "host.init"}, {"name", "a.example.test"}, {"backend", "prod.a.*.*.*"}});
  serve("prod.a.s1.default", b);
  auto sendRaw = [](uint16_t p, const std::string& bytes) {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return;
    (void)::send(s.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(s.get(), SHUT_WR);
    char buf[256];
    timeval tv{5, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (::recv(s.get(), buf, sizeof buf, 0) > 0) {
    }
  };
  for (uint16_t p : {port, probePort}) {
    sendRaw(p, "GET / HTTP/1.0\r\n\r\n");                           // not TLS
    sendRaw(p, std::string("\x16\x03\x01\xff\xff", 5));             // an oversized record
    sendRaw(p, std::string("\x16\x03\x01\x00\x10", 5) + "truncated");  // a truncated hello
    sendRaw(p, std::string("\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9));  // an empty hello
    std::string junk(5000, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131) & 0xff);
    junk[0] = 0x16;
    sendRaw(p, junk);
  }
  std::string out;
  sclient("-servername a.example.test", "SELECT-VHOST " + std::string(400, 'a') + "\n", &out);
  BOOST_TEST(contains(out, "ERR BAD_REQUEST"), out);
  out.clear();
  runCommand("echo 'not json' | timeout 20 openssl s_client -quiet -ign_eof -connect 127.0.0.1:" +
                 std::to_string(probePort) + " -servername a.example.test",
             &out);
  BOOST_TEST(contains(out, "\"code\":\"BAD_REQUEST\""), out);
  BOOST_TEST(b.connections() == 0u);
  // Still serving.
  out.clear();
  BOOST_TEST(sclient("-servername a.example.test", "still there\n", &out) == 0, out);
  BOOST_TEST(contains(out, "backend=a"), out);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace kith::test
