// FOKS virtual hosts across machines: the vhost listener on daemon a, the
// backend workloads registered on daemon b, the stream through the tunnel
// between them (docs/ARCHITECTURE.md "FOKS virtual hosts", docs/TUNNELS.md).
// Real daemons, real TLS clients (curl, openssl s_client), real backends that
// parse the PROXY v2 header.
#include <boost/test/unit_test.hpp>

#include "kith/common/encoding.h"
#include "kith/common/json.h"
#include "kith/identity/keys.h"
#include "../helpers/shell_process.h"
#include "mesh.h"
#include "vhost_backend.h"

using namespace kith;
using namespace kith::test;
using nlohmann::json;

namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The listener's workload on a (its default name) may reach prod backends on
// both daemons, except what `extra` denies.
std::string policyFile(const std::string& extra) {
  return "[[allow]]\nname = \"vhost-to-prod\"\nfrom = \"vhost.kithd.listener.default.*\"\nto = \"prod.*.*.*.*\"\n"
         "cross_scope = true\n" + extra;
}

// Two daemons with tunnels: a has the vhost listener, b the backends.
struct VhostMesh {
  TunnelMesh mesh;
  uint16_t port = 0;
  std::vector<TestClient> registrations;

  explicit VhostMesh(const std::string& denyOnA = "", const std::string& denyOnB = "") {
    writeFile(mesh.dir.path() + "/policy-a.toml", policyFile(denyOnA));
    writeFile(mesh.dir.path() + "/policy-b.toml", policyFile(denyOnB));
    mesh.start("a", Mesh::spec("[vhost]\nlisten = \"127.0.0.1:0\"\n[policy]\nfile = \"" + mesh.dir.path() +
                               "/policy-a.toml\"\n"));
    mesh.start("b", Mesh::spec("[policy]\nfile = \"" + mesh.dir.path() + "/policy-b.toml\"\n"));
    BOOST_REQUIRE(waitFor([&] { return mesh.meshUp(); }, 15000));
    std::string listen = admin("a", {{"op", "host.list"}})["listen"];
    port = static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
  }
  json admin(const std::string& m, json req) {
    auto r = mesh.admin(m).request(req);
    BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message());
    BOOST_REQUIRE_MESSAGE(r->json.value("ok", false), dumpJson(req) << " -> " << dumpJson(r->json));
    return r->json;
  }
  std::string hostInit(const std::string& name, const std::string& backend) {
    return admin("a", {{"op", "host.init"}, {"name", name}, {"backend", backend}})["host_id"];
  }
  // A workload on machine `m` whose target is `b`, registered with
  // proxy_protocol so that a second header would show; a learns of it.
  void serve(const std::string& m, const std::string& name4, const Backend& b) {
    TestClient c = mesh.api(m);
    auto r = c.request({{"op", "register"},
                        {"name", name4},
                        {"target", "tcp:127.0.0.1:" + std::to_string(b.port())},
                        {"proxy_protocol", true}});
    BOOST_REQUIRE(r.isOk());
    BOOST_REQUIRE_MESSAGE(r->json.value("ok", false), dumpJson(r->json));
    registrations.push_back(std::move(c));
    BOOST_REQUIRE(mesh.knows("a", name4 + "." + m));
  }
  // openssl s_client to a's vhost port sending `input`; what it printed.
  std::string sclient(const std::string& args, const std::string& input) {
    std::string in = mesh.dir.path() + "/in-" + std::to_string(++n_);
    writeFile(in, input);
    std::string out;
    runCommand("timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -quiet -ign_eof " +
                   args + " < " + in,
               &out);
    return out;
  }
  // A client certificate for `user` of `host` from the admin op
  // host.issue-client; returns the prefix of its .crt and .key files.
  std::string clientCert(const std::string& host, const std::string& user, std::string* identity) {
    identity::SigningKey key = identity::SigningKey::generate();
    json r = admin("a", {{"op", "host.issue-client"},
                         {"name", host},
                         {"user", user},
                         {"public_key", toHex(key.publicKey().data(), key.publicKey().size())}});
    std::string prefix = mesh.dir.path() + "/" + user + "-" + std::to_string(++n_);
    writeFile(prefix + ".crt", r["certificate"].get<std::string>());
    BOOST_REQUIRE(key.saveKeyFile(prefix + ".key").isOk());
    *identity = r["identity"];
    return prefix;
  }
  std::string logs() { return mesh.daemons["a"]->log() + mesh.daemons["b"]->log(); }
  int n_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(vhost_mesh)

BOOST_AUTO_TEST_CASE(a_client_of_a_reaches_a_backend_on_b_with_the_proxy_tlvs_exactly_once) {
  VhostMesh vm;
  Backend b("web-on-b");
  std::string hostId = vm.hostInit("a.example.test", "prod.web.*.*.*");
  vm.serve("b", "prod.web.s1.default", b);
  // curl, with SNI from --resolve.
  std::string out;
  int rc = runCommand("timeout 20 curl -sS --cacert " + vm.mesh.home("a") + "/hosts/a.example.test/tls-ca.crt" +
                          " --resolve a.example.test:" + std::to_string(vm.port) + ":127.0.0.1 https://a.example.test:" +
                          std::to_string(vm.port) + "/",
                      &out);
  BOOST_TEST(rc == 0, out << vm.logs());
  BOOST_TEST(contains(out, "backend=web-on-b"), out);
  // openssl with a client certificate: its identity travels in TLV 0xE1.
  std::string identity;
  std::string cert = vm.clientCert("a.example.test", "alice", &identity);
  out = vm.sclient("-servername a.example.test -cert " + cert + ".crt -key " + cert + ".key", "hello\n");
  BOOST_TEST(contains(out, "backend=web-on-b"), out << vm.logs());
  auto seen = b.seen();
  BOOST_REQUIRE_EQUAL(seen.size(), 2u);
  for (const auto& s : seen) {
    BOOST_TEST((s.header.tlv(api::kTlvAuthority) == std::optional<std::string>("a.example.test")));
    BOOST_TEST((s.header.tlv(api::kTlvKithHostId) == std::optional<std::string>(hostId)));
    // The listener's header, not b's (0xE0 = the mesh source address).
    BOOST_TEST(!s.header.tlv(api::kTlvKithAddress).has_value());
  }
  BOOST_TEST(contains(seen[0].payload, "GET / HTTP/1.1"), seen[0].payload);
  BOOST_TEST(!seen[0].header.tlv(api::kTlvKithSpiffeId).has_value());
  BOOST_TEST((seen[1].header.tlv(api::kTlvKithSpiffeId) == std::optional<std::string>(identity)));
  BOOST_TEST(contains(identity, "foks://" + hostId + "/"), identity);
  // Right after the header come the client's bytes: b wrote no header of its own.
  BOOST_TEST(seen[1].payload == "hello\n");
  // The streams went through the tunnel, opened by the listener's workload.
  json st = vm.mesh.status("a")["tunnels"];
  BOOST_TEST(st["opened"].get<int>() >= 2, dumpJson(st));
}

BOOST_AUTO_TEST_CASE(policy_on_either_daemon_refuses_and_the_backend_sees_nothing) {
  VhostMesh vm("[[deny]]\nname = \"no-dena\"\nfrom = \"*.*.*.*.*\"\nto = \"prod.dena.*.*.*\"\n",
               "[[deny]]\nname = \"no-denb\"\nfrom = \"*.*.*.*.*\"\nto = \"prod.denb.*.*.*\"\n");
  Backend ba("dena"), bb("denb"), ok("ok");
  vm.hostInit("da.example.test", "prod.dena.*.*.*");
  vm.hostInit("db.example.test", "prod.denb.*.*.*");
  vm.hostInit("ok.example.test", "prod.ok.*.*.*");
  vm.serve("b", "prod.dena.s1.default", ba);
  vm.serve("b", "prod.denb.s1.default", bb);
  vm.serve("b", "prod.ok.s1.default", ok);
  // Denied by a's policy: no OPEN is sent.
  std::string out = vm.sclient("-servername da.example.test", "hi\n");
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED no backend for da.example.test: not allowed by policy"), out);
  BOOST_TEST(!contains(out, "no-dena"), out);  // the explanation is the operator's: logged, not sent
  BOOST_TEST(waitFor([&] { return contains(vm.mesh.daemons["a"]->log(), "no-dena"); }, 5000));
  BOOST_TEST(vm.mesh.status("b")["tunnels"]["refused"].get<int>() == 0);  // no OPEN was sent
  // Denied by b's policy: the OPEN is refused there, before the backend is dialled.
  out = vm.sclient("-servername db.example.test", "hi\n");
  BOOST_TEST(contains(out, "ERR UNAUTHORIZED no backend for db.example.test: not allowed by policy"), out);
  BOOST_TEST(!contains(out, "no-denb"), out);
  BOOST_TEST(waitFor([&] { return contains(vm.mesh.daemons["b"]->log(), "no-denb"); }, 5000));
  BOOST_TEST(vm.mesh.status("b")["tunnels"]["refused"].get<int>() >= 1);
  // The same mesh serves what both allow.
  out = vm.sclient("-servername ok.example.test", "hi\n");
  BOOST_TEST(contains(out, "backend=ok"), out << vm.logs());
  BOOST_TEST(ba.connections() == 0u);
  BOOST_TEST(bb.connections() == 0u);
  BOOST_TEST(ok.connections() == 1u);
}

BOOST_AUTO_TEST_CASE(the_backends_daemon_down_is_a_clear_error_and_a_group_fails_over_to_a_local_backend) {
  VhostMesh vm;
  Backend remoteOnly("only-b"), groupB("group-b"), groupA("group-a");
  vm.hostInit("remote.example.test", "prod.only.*.*.*");
  vm.hostInit("group.example.test", "prod.group.*.*.*");
  vm.serve("b", "prod.only.s1.default", remoteOnly);
  vm.serve("b", "prod.group.s1.default", groupB);
  vm.serve("a", "prod.group.s1.default", groupA);
  // Both instances serve while both daemons run (round robin).
  for (int i = 0; i < 4; ++i) {
    std::string out = vm.sclient("-servername group.example.test", "hi\n");
    BOOST_TEST(contains(out, "backend=group-"), out);
  }
  BOOST_TEST(groupA.connections() >= 1u);
  BOOST_TEST(groupB.connections() >= 1u);
  size_t seenOnB = groupB.connections();
  vm.mesh.daemons["b"]->kill9();
  std::string out = vm.sclient("-servername remote.example.test", "hi\n");
  BOOST_TEST(contains(out, "ERR DESTINATION_UNREACHABLE no backend for remote.example.test"), out);
  // The group passes over b's instance for the local one, every time.
  for (int i = 0; i < 4; ++i) {
    out = vm.sclient("-servername group.example.test", "hi\n");
    BOOST_TEST(contains(out, "backend=group-a"), out);
  }
  BOOST_TEST(groupB.connections() == seenOnB);
  BOOST_TEST(remoteOnly.connections() == 0u);
}

BOOST_AUTO_TEST_CASE(a_policy_reload_on_the_backends_daemon_closes_an_open_vhost_stream) {
  VhostMesh vm;
  vm.hostInit("hold.example.test", "prod.hold.*.*.*");
  holdOpenThenEnd(vm.port, "hold.example.test",
                  [&](uint16_t backendPort) {
                    TestClient c = vm.mesh.api("b");
                    auto r = c.request({{"op", "register"}, {"name", "prod.hold.h1.default"},
                                        {"target", "tcp:127.0.0.1:" + std::to_string(backendPort)}});
                    BOOST_REQUIRE(r.isOk() && r->json.value("ok", false));
                    vm.registrations.push_back(std::move(c));
                    BOOST_REQUIRE(vm.mesh.knows("a", "prod.hold.h1.default.b"));
                  },
                  [&] {
                    // Only b's policy changes: b re-decides its tunnel streams
                    // and resets this one; a closes the client's end.
                    writeFile(vm.mesh.dir.path() + "/policy-b.toml",
                              policyFile("[[deny]]\nfrom = \"*.*.*.*.*\"\nto = \"prod.hold.*.*.*\"\n"));
                    vm.admin("b", {{"op", "policy.reload"}});
                  });
}

BOOST_AUTO_TEST_CASE(a_listening_backend_on_b_gets_the_stream_with_the_header_first) {
  VhostMesh vm;
  vm.hostInit("l.example.test", "prod.listen.*.*.*");
  // kithcat -l: the stream arrives in an `incoming` event; it echoes the
  // first 16 bytes (the PROXY v2 signature and version) back as hex.
  ShellProcess cat(vm.mesh.kithcat("b") + " -l prod.listen.k1.default -k -e 'head -c 16 | od -An -tx1'");
  BOOST_REQUIRE(vm.mesh.knows("a", "prod.listen.k1.default.b"));
  std::string out = vm.sclient("-servername l.example.test", "hi\n");
  BOOST_TEST(contains(out, "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21"), out << vm.logs());
}

BOOST_AUTO_TEST_SUITE_END()
