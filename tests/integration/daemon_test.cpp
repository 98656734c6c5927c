// kithd as a process: command line, config errors, sockets, signals.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

#include "fixture.h"

using namespace kith::test;

namespace {
int exitCodeOf(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }
}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_process)

BOOST_AUTO_TEST_CASE(version_help_and_usage_errors) {
  std::string out;
  BOOST_TEST(runCommand(binDir() + "/kithd --version", &out) == 0);
  BOOST_TEST(out.rfind("kithd ", 0) == 0u);
  out.clear();
  BOOST_TEST(runCommand(binDir() + "/kithd --help", &out) == 0);
  BOOST_TEST(out.find("--dev") != std::string::npos);
  BOOST_TEST(runCommand(binDir() + "/kithd", &out) == 2);
  BOOST_TEST(runCommand(binDir() + "/kithd --log-format xml --dev", &out) == 2);
}

BOOST_AUTO_TEST_CASE(a_bad_config_is_rejected_at_start_with_file_and_line) {
  TempDir dir;
  std::string cfg = dir.path() + "/kithd.toml";
  struct Case {
    std::string text, expect;
  };
  std::vector<Case> cases = {
      {"machine = \"n1\"\ntrust_domain = \"t.kith\"\n[lease]\ndefualt_ttl_ms = 5\n", "kithd.toml:4"},
      {"machine = \"n1\"\ntrust_domain = \"t.kith\"\n[api]\nmax_connections = \"many\"\n", "kithd.toml:4"},
      {"machine = \"bad name\"\ntrust_domain = \"t.kith\"\n", "kithd.toml:1"},
      {"machine = \"n1\"\ntrust_domain = \"t.kith\"\n[log\n", "kithd.toml:3"},
  };
  for (const auto& c : cases) {
    writeFile(cfg, c.text);
    DaemonProcess d(dir.path() + "/home");
    BOOST_REQUIRE(d.spawn({"--config", cfg, "--home", dir.path() + "/home"}).isOk());
    int st = d.waitExit(10000);
    BOOST_TEST(exitCodeOf(st) == 1);
    BOOST_TEST(d.log().find(c.expect) != std::string::npos, "expected " << c.expect << " in: " << d.log());
    std::filesystem::remove(d.logPath());
  }
}

BOOST_AUTO_TEST_CASE(sockets_have_their_modes_and_a_second_daemon_is_refused) {
  TempDir dir;
  DaemonProcess d(dir.path() + "/home");
  BOOST_REQUIRE(d.start().isOk());
  struct stat st{};
  BOOST_REQUIRE(stat(d.apiSocket().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0666u);
  BOOST_REQUIRE(stat(d.adminSocket().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  // Another daemon on the same home must not steal the live sockets.
  DaemonProcess second(dir.path() + "/home");
  BOOST_REQUIRE(second.spawn({"--dev", "--home", dir.path() + "/home"}).isOk());
  int rc = second.waitExit(10000);
  BOOST_TEST(exitCodeOf(rc) == 1);
  BOOST_TEST(d.log().find("another daemon is serving") != std::string::npos);
  auto c = TestClient::connect(d.apiSocket());
  BOOST_REQUIRE(c.isOk());
  BOOST_TEST(errorCode(c->request({{"op", "hello"}})->json) == "OK");
  BOOST_TEST(exitCodeOf(d.stop()) == 0);
}

BOOST_AUTO_TEST_CASE(admin_group_opens_admin_sock_to_its_members_only) {
  BOOST_REQUIRE(getuid() == 0);
  group* g = getgrnam("nogroup");
  BOOST_REQUIRE(g != nullptr);
  TempDir dir;
  std::string cfg = dir.path() + "/kithd.toml";
  writeFile(cfg, "[api]\nadmin_group = \"nogroup\"\n");
  DaemonProcess d(dir.path() + "/home");
  BOOST_REQUIRE(d.start({"--config", cfg}).isOk());
  struct stat st{};
  BOOST_REQUIRE(stat(d.adminSocket().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0660u);
  BOOST_TEST(st.st_gid == g->gr_gid);
  // nobody in nogroup reaches admin.sock; nobody without it is refused by the kernel.
  auto tryAdmin = [&](gid_t gid) {
    pid_t p = fork();
    if (p == 0) {
      if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(65534) != 0) _exit(3);
      auto c = TestClient::connect(d.adminSocket());
      if (!c.isOk()) _exit(1);
      auto r = c->request({{"op", "workloads"}});
      _exit(r.isOk() && errorCode(r->json) == "OK" ? 0 : 2);
    }
    int s;
    waitpid(p, &s, 0);
    return exitCodeOf(s);
  };
  gid_t outsider = g->gr_gid == 1 ? 2 : 1;  // any group that is not nogroup
  BOOST_TEST(tryAdmin(g->gr_gid) == 0);
  BOOST_TEST(tryAdmin(outsider) == 1);
  BOOST_TEST(exitCodeOf(d.stop()) == 0);
}

BOOST_AUTO_TEST_CASE(sigterm_drains_with_clients_attached_and_exits_zero) {
  TempDir dir;
  DaemonProcess d(dir.path() + "/home");
  BOOST_REQUIRE(d.start().isOk());
  std::vector<TestClient> clients;
  for (int i = 0; i < 20; ++i) {
    auto c = TestClient::connect(d.apiSocket());
    BOOST_REQUIRE(c.isOk());
    clients.push_back(std::move(c).value());
  }
  BOOST_REQUIRE(clients[0].request({{"op", "watch"}}).isOk());
  auto t0 = std::chrono::steady_clock::now();
  int st = d.stop();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(exitCodeOf(st) == 0);
  BOOST_TEST(ms < 5000);
  BOOST_TEST(d.log().find("\"draining\"") != std::string::npos);
  // Clients see the end of their connection.
  BOOST_TEST(!clients[1].next(2000).isOk());
  // The sockets are gone, so a restarted daemon binds without a fight.
  struct stat s{};
  BOOST_TEST(stat(d.apiSocket().c_str(), &s) != 0);
}

BOOST_AUTO_TEST_SUITE_END()
