// The `svid` op against a real kithd: X.509-SVIDs checked with real openssl,
// refusals, rotation pushed to a watching connection, kithcat --svid.
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "fixture.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

// Writes the SVID reply's parts as files and returns openssl verify's verdict.
std::string verifyWithOpenssl(const TempDir& dir, const json& svid, std::string* text = nullptr) {
  writeFile(dir.path() + "/leaf.pem", svid["certificate"].get<std::string>());
  writeFile(dir.path() + "/chain.pem", svid["chain"].get<std::string>());
  writeFile(dir.path() + "/bundle.pem", svid["bundle"].get<std::string>());
  std::string out;
  runCommand("openssl verify -CAfile " + dir.path() + "/bundle.pem -untrusted " + dir.path() + "/chain.pem " +
                 dir.path() + "/leaf.pem",
             &out);
  if (text) runCommand("openssl x509 -noout -text -in " + dir.path() + "/leaf.pem", text);
  return out;
}

// A --dev daemon whose SVIDs live `ttl` seconds.
struct ShortSvidDaemon {
  TempDir dir;
  DaemonProcess daemon{dir.path() + "/home"};
  explicit ShortSvidDaemon(int ttl) {
    writeFile(dir.path() + "/kithd.toml", "[identity]\nsvid_ttl_s = " + std::to_string(ttl) + "\n");
    kith::Status st = daemon.start({"--config", dir.path() + "/kithd.toml"});
    BOOST_REQUIRE_MESSAGE(st.isOk(), st.message());
  }
  TestClient client() { return DaemonFixture::connectTo(daemon.apiSocket()); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(svid, DaemonFixture)

BOOST_AUTO_TEST_CASE(svid_chains_to_the_bundle_under_openssl_and_names_the_workload) {
  auto c = client();
  json reg = this->reg(c, {{"name", "dev.web.w1.default"}});
  BOOST_REQUIRE_EQUAL(errorCode(reg), "OK");
  auto r = c.request({{"op", "svid"}, {"token", reg["token"]}});
  BOOST_REQUIRE(r.isOk());
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  const json& s = r->json;
  BOOST_TEST(s["spiffe_id"] == reg["spiffe_id"]);
  TempDir files;
  std::string text;
  std::string verdict = verifyWithOpenssl(files, s, &text);
  BOOST_TEST(verdict.find("leaf.pem: OK") != std::string::npos, verdict);
  BOOST_TEST(text.find("URI:" + reg["spiffe_id"].get<std::string>()) != std::string::npos, text);
  BOOST_TEST(text.find("CA:FALSE") != std::string::npos, text);
  // Without the node CA in between, the leaf does not chain to the root:
  // the bundle alone is not enough, so the chain matters.
  std::string out;
  runCommand("openssl verify -CAfile " + files.path() + "/bundle.pem " + files.path() + "/leaf.pem", &out);
  BOOST_TEST(out.find("leaf.pem: OK") == std::string::npos, out);
  // The key is the certificate's key.
  writeFile(files.path() + "/leaf.key", s["key"].get<std::string>());
  std::string fromKey, fromCert;
  BOOST_REQUIRE(runCommand("openssl pkey -pubout -in " + files.path() + "/leaf.key", &fromKey) == 0);
  BOOST_REQUIRE(runCommand("openssl x509 -noout -pubkey -in " + files.path() + "/leaf.pem", &fromCert) == 0);
  BOOST_TEST(fromKey == fromCert);
  // About an hour by default, rotated at half life.
  int64_t now = static_cast<int64_t>(::time(nullptr));
  BOOST_TEST(s["expires_at"].get<int64_t>() > now + 3500);
  BOOST_TEST(s["expires_at"].get<int64_t>() <= now + 3600 + 5);
  BOOST_TEST(s["rotate_at"].get<int64_t>() == s["expires_at"].get<int64_t>() - 1800);
  // Every call makes a new key pair.
  auto again = c.request({{"op", "svid"}, {"token", reg["token"]}});
  BOOST_TEST(again->json["key"] != s["key"]);
  BOOST_TEST(again->json["serial"] != s["serial"]);
}

BOOST_AUTO_TEST_CASE(svid_without_a_live_registration_is_refused) {
  auto c = client();
  auto none = c.request({{"op", "svid"}, {"token", std::string(64, 'a')}});
  BOOST_TEST(errorCode(none->json) == "INVALID_SOURCE");
  auto missing = c.request({{"op", "svid"}});
  BOOST_TEST(errorCode(missing->json) == "BAD_REQUEST");
  auto badWatch = c.request({{"op", "svid"}, {"token", std::string(64, 'a')}, {"watch", "yes"}});
  BOOST_TEST(errorCode(badWatch->json) == "BAD_REQUEST");
  json reg = this->reg(c, {{"name", "dev.web.w2.default"}});
  BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "deregister"}, {"token", reg["token"]}})->json), "OK");
  auto ended = c.request({{"op", "svid"}, {"token", reg["token"]}});
  BOOST_TEST(errorCode(ended->json) == "INVALID_SOURCE");
  BOOST_TEST(!ended->json.contains("key"));
}

BOOST_AUTO_TEST_CASE(svid_is_on_api_sock_for_workloads_and_kithcat_writes_it_to_files) {
  TempDir out;
  std::string dir = out.path() + "/svid", log;
  int rc = runCommand("KITH_HOME=" + daemon.home() + " " + binDir() + "/kithcat --as dev.tls.t1.default --svid " + dir,
                      &log);
  BOOST_REQUIRE_MESSAGE(rc == 0, log);
  BOOST_TEST(log.find("spiffe://") != std::string::npos, log);
  struct stat st{};
  BOOST_REQUIRE(::stat((dir + "/svid.key").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  std::string verdict;
  runCommand("openssl verify -CAfile " + dir + "/bundle.pem -untrusted " + dir + "/svid.pem " + dir + "/svid.pem",
             &verdict);
  BOOST_TEST(verdict.find("svid.pem: OK") != std::string::npos, verdict);
  std::string text;
  runCommand("openssl x509 -noout -text -in " + dir + "/svid.pem", &text);
  BOOST_TEST(text.find("URI:spiffe://") != std::string::npos, text);
  BOOST_TEST(text.find("/dev/tls/t1/default/" + machine) != std::string::npos, text);
  // Usage: --svid needs --as, and excludes a destination.
  BOOST_TEST(runCommand(binDir() + "/kithcat --svid " + dir, &log) == 2);
  BOOST_TEST(runCommand(binDir() + "/kithcat --as a.b.c.d --svid " + dir + " a.b.c.d.e", &log) == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(svid_rotation)

BOOST_AUTO_TEST_CASE(a_watching_connection_gets_a_new_svid_at_half_life) {
  ShortSvidDaemon d(4);
  auto c = d.client();
  auto reg = c.request({{"op", "register"}, {"name", "dev.rot.r1.default"}});
  BOOST_REQUIRE_EQUAL(errorCode(reg->json), "OK");
  auto first = c.request({{"op", "svid"}, {"token", reg->json["token"]}, {"watch", true}});
  BOOST_REQUIRE_EQUAL(errorCode(first->json), "OK");
  BOOST_TEST(first->json["rotate_at"].get<int64_t>() == first->json["expires_at"].get<int64_t>() - 2);
  // Another connection's plain `watch` never sees SVIDs (they carry keys).
  auto other = d.client();
  BOOST_REQUIRE(other.request({{"op", "watch"}}).isOk());
  // The half life is 2 s; allow a loaded machine plenty.
  std::string lastSerial = first->json["serial"];
  for (int i = 0; i < 2; ++i) {
    auto ev = c.nextEvent(20000);
    BOOST_REQUIRE_MESSAGE(ev.isOk(), "no rotation pushed: " << ev.status().message());
    BOOST_TEST(ev->json["event"] == "svid");
    BOOST_TEST(ev->json["address"] == reg->json["address"]);
    BOOST_TEST(ev->json["serial"] != lastSerial);
    lastSerial = ev->json["serial"];
    TempDir files;
    std::string verdict = verifyWithOpenssl(files, ev->json);
    BOOST_TEST(verdict.find("leaf.pem: OK") != std::string::npos, verdict);
  }
  for (int i = 0; i < 16; ++i) {
    auto leak = other.nextEvent(200);
    if (!leak.isOk()) break;
    BOOST_TEST(leak->json["event"] != "svid");
  }
  // Once the registration ends, no more SVIDs.
  BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "deregister"}, {"token", reg->json["token"]}})->json), "OK");
  auto after = c.nextEvent(5000);
  BOOST_TEST(!after.isOk(), "an SVID after deregister: " << (after.isOk() ? kith::dumpJson(after->json) : ""));
  BOOST_TEST(d.daemon.stop() == 0);
}

BOOST_AUTO_TEST_CASE(svid_lifetime_outside_the_allowed_range_is_a_config_error) {
  TempDir dir;
  writeFile(dir.path() + "/kithd.toml", "[identity]\nsvid_ttl_s = 1\n");
  std::string out;
  int rc = runCommand(binDir() + "/kithd --dev --home " + dir.path() + "/h --config " + dir.path() + "/kithd.toml",
                      &out);
  BOOST_TEST(rc == 1);
  BOOST_TEST(out.find("svid_ttl_s") != std::string::npos, out);
}

BOOST_AUTO_TEST_SUITE_END()
