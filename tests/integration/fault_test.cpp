// Faults a real kithd survives: running out of file descriptors (accept backs
// off instead of spinning), a full disk under the state directory (clear
// errors, no corruption, recovery when space returns), a read-only state
// directory at start, and wall-clock jumps (leases run on the monotonic clock:
// nothing expires early or comes back). kill -9 under load is
// durability_test.cpp. Bounded in count and time; needs root for tmpfs mounts
// and prlimit on the daemon (skipped with a message otherwise).
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <vector>
#include <utility>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "../helpers/prometheus_text.h"
#include "fixture.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// utime + stime of a process, in clock ticks.
long cpuTicks(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  std::istringstream rest(s.substr(close + 2));
  std::string tok;
  long utime = 0, stime = 0;
  for (int field = 3; rest >> tok; ++field) {
    if (field == 14) utime = std::stol(tok);
    if (field == 15) {
      stime = std::stol(tok);
      break;
    }
  }
  return utime + stime;
}

size_t openFds(pid_t pid) {
  std::string out;
  runCommand("ls /proc/" + std::to_string(pid) + "/fd | wc -l", &out);
  return static_cast<size_t>(std::stoul(out));
}


struct Daemon {
  TempDir dir;
  std::string home = dir.path() + "/home";
  std::string configPath = dir.path() + "/kithd.toml";
  DaemonProcess daemon{home};

  ~Daemon() {
    if (daemon.running()) daemon.stop();
  }
  void start(const std::string& config = "[health]\ninterval_ms = 200\n") {
    writeFile(configPath, config);
    kith::Status st = daemon.start({"--config", configPath});
    if (!st.isOk()) BOOST_FAIL("kithd did not start: " << st.message() << "\n" << daemon.log());
  }
  TestClient client() { return DaemonFixture::connectTo(daemon.apiSocket()); }
  TestClient admin() { return DaemonFixture::connectTo(daemon.adminSocket()); }
  std::vector<json> healthEvents(TestClient& a) {
    std::vector<json> out;
    auto r = a.request({{"op", "events"}});
    if (!r.isOk()) return out;
    for (auto& e : r->json["events"]) {
      if (e.value("mod", "") == "health") out.push_back(e);
    }
    return out;
  }
  static bool has(const std::vector<json>& evs, const std::string& key, const std::string& id, bool null) {
    for (const auto& e : evs) {
      if (!e.contains(key)) continue;
      if (null ? (e[key].is_null() && e.value("id", "") == id) : (e[key].is_object() && e[key].value("id", "") == id)) {
        return true;
      }
    }
    return false;
  }
};

// A small tmpfs, unmounted (lazily) at the end.
struct Tmpfs {
  std::string path;
  bool ok = false;
  Tmpfs(const std::string& p, const std::string& size) : path(p) {
    std::string out;
    runCommand("mkdir -p " + p, &out);
    ok = ::mount("tmpfs", p.c_str(), "tmpfs", 0, ("size=" + size + ",mode=0755").c_str()) == 0;
  }
  ~Tmpfs() {
    if (ok) ::umount2(path.c_str(), MNT_DETACH);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(out_of_descriptors_accept_backs_off_without_spinning_and_recovers) {
  Daemon d;
  d.start();
  pid_t pid = d.daemon.pid();
  auto admin = d.admin();  // already accepted: keeps working while accept cannot
  rlimit old{};
  BOOST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) == 0);
  // Only the soft limit moves: raising a hard limit back needs CAP_SYS_RESOURCE.
  rlimit low = old;
  low.rlim_cur = openFds(pid) + 4;
  if (::prlimit(pid, RLIMIT_NOFILE, &low, nullptr) != 0) {
    BOOST_TEST_MESSAGE("skipped: prlimit on kithd: " << std::strerror(errno));
    return;
  }
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    int fd = connectUnix(d.daemon.apiSocket());  // the kernel's backlog takes them
    if (fd >= 0) fds.push_back(fd);
  }
  BOOST_REQUIRE(fds.size() >= 100u);
  // Over a 3 s window with 190+ connections waiting, a spinning accept loop
  // would burn ~3 s of CPU; the 100 ms back-off costs almost nothing.
  long t0 = cpuTicks(pid);
  auto w0 = std::chrono::steady_clock::now();
  BOOST_REQUIRE(waitFor([&] { return std::chrono::steady_clock::now() - w0 > std::chrono::seconds(3); }, 10000));
  long ticks = cpuTicks(pid) - t0;
  long hz = ::sysconf(_SC_CLK_TCK);
  double cpuSeconds = static_cast<double>(ticks) / static_cast<double>(hz);
  BOOST_TEST(cpuSeconds < 0.6, "kithd used " << cpuSeconds << " s of CPU in 3 s while out of descriptors");
  std::printf("fault: out of descriptors for 3 s with %zu clients waiting: kithd used %.2f s CPU\n", fds.size(),
              cpuSeconds);

  auto text = admin.request({{"op", "metrics"}})->json["text"].get<std::string>();
  BOOST_TEST(sampleValue(text, "kith_api_accept_pauses_total").value_or(0) >= 2.0, text);
  BOOST_REQUIRE(waitFor([&] { return Daemon::has(d.healthEvents(admin), "working-on-it", "accept", false); }, 20000));

  // Descriptors come back: every waiting client is accepted and served.
  BOOST_REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &old, nullptr) == 0);
  std::string hello = kith::dumpJson(json{{"id", 1}, {"op", "hello"}}) + "\n";
  size_t served = 0;
  for (int fd : fds) {
    if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) continue;
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0 && contains(std::string(buf, static_cast<size_t>(n)), "\"ok\":true")) ++served;
  }
  BOOST_TEST(served == fds.size());
  for (int fd : fds) ::close(fd);
  BOOST_TEST(errorCode(d.client().request({{"op", "hello"}})->json) == "OK");
  BOOST_REQUIRE(waitFor([&] { return Daemon::has(d.healthEvents(admin), "working-on-it", "accept", true); }, 20000));
}

BOOST_AUTO_TEST_CASE(a_full_disk_refuses_registrations_clearly_and_recovers_without_corruption) {
  TempDir base;
  Tmpfs fs(base.path() + "/state", "3m");
  if (!fs.ok) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (needs root): " << std::strerror(errno));
    return;
  }
  Daemon d;
  d.home = fs.path + "/home";
  DaemonProcess proc{d.home};
  writeFile(d.configPath, "[health]\ninterval_ms = 200\n");
  BOOST_REQUIRE(proc.start({"--config", d.configPath}).isOk());
  auto admin = DaemonFixture::connectTo(proc.adminSocket());
  auto c = DaemonFixture::connectTo(proc.apiSocket());
  std::vector<std::string> acked;
  for (int i = 0; i < 20; ++i) {
    std::string name = "dev.disk.before" + std::to_string(i) + ".default";
    auto r = c.request({{"op", "register"}, {"name", name}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    acked.push_back(r->json["address"]);
  }
  // Fill the filesystem to the last byte.
  std::string out;
  runCommand("dd if=/dev/zero of=" + fs.path + "/filler bs=64k 2>&1; sync", &out);
  BOOST_REQUIRE_MESSAGE(contains(out, "No space left"), out);
  size_t refused = 0;
  std::string message;
  for (int i = 0; i < 200 && refused == 0; ++i) {
    // Fat registrations (long whitelists) so the WAL must grow.
    json wl = json::array();
    for (int k = 0; k < 60; ++k) wl.push_back("dev.w" + std::to_string(k) + "xxxxxxxxxxxxxxxxxxxxxxxxxxxx.*.*.*");
    auto r = c.request({{"op", "register"}, {"name", "dev.disk.full" + std::to_string(i) + ".default"}, {"whitelist", wl}});
    BOOST_REQUIRE(r.isOk());
    if (errorCode(r->json) == "OK") {
      acked.push_back(r->json["address"]);
    } else {
      ++refused;
      BOOST_TEST(errorCode(r->json) == "INTERNAL");
      message = r->json["error"].value("message", "");
    }
  }
  BOOST_REQUIRE_MESSAGE(refused > 0, "the disk never filled");
  BOOST_TEST(contains(message, "full"), message);
  // Still serving, and it says so in events and metrics.
  BOOST_TEST(errorCode(c.request({{"op", "hello"}})->json) == "OK");
  BOOST_REQUIRE(waitFor([&] { return Daemon::has(d.healthEvents(admin), "action-required", "storage", false); }, 20000));
  auto text = admin.request({{"op", "metrics"}})->json["text"].get<std::string>();
  BOOST_TEST(sampleValue(text, "kith_store_writes_total{result=\"failed\"}").value_or(0) >= 1.0);

  // Space returns: registrations work again and the condition clears once.
  BOOST_REQUIRE(::unlink((fs.path + "/filler").c_str()) == 0);
  auto r = c.request({{"op", "register"}, {"name", "dev.disk.after.default"}});
  BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
  acked.push_back(r->json["address"]);
  BOOST_REQUIRE(waitFor([&] { return Daemon::has(d.healthEvents(admin), "action-required", "storage", true); }, 20000));

  // No corruption: the database checks clean and a restart keeps every
  // acknowledged registration (this process, which holds them, still lives).
  BOOST_REQUIRE_EQUAL(proc.stop(), 0);
  out.clear();
  runCommand("sqlite3 " + d.home + "/state.db 'PRAGMA integrity_check'", &out);
  BOOST_TEST(out == "ok\n", out);
  BOOST_REQUIRE(proc.start({"--config", d.configPath}).isOk());
  auto wl = DaemonFixture::connectTo(proc.adminSocket()).request({{"op", "workloads"}});
  std::set<std::string> have;
  for (auto& w : wl->json["workloads"]) have.insert(w["address"]);
  for (auto& a : acked) BOOST_TEST(have.count(a) == 1u, a);
  BOOST_TEST(have.size() == acked.size());
  BOOST_TEST(proc.stop() == 0);
}

BOOST_AUTO_TEST_CASE(a_read_only_state_directory_is_refused_at_start_with_the_reason) {
  TempDir base;
  Tmpfs fs(base.path() + "/state", "8m");
  if (!fs.ok) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (needs root): " << std::strerror(errno));
    return;
  }
  std::string home = fs.path + "/home", logDir = base.path() + "/log";
  {
    DaemonProcess first{home};
    BOOST_REQUIRE(first.start().isOk());
    auto c = DaemonFixture::connectTo(first.apiSocket());
    BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "register"}, {"name", "dev.ro.a.default"}})->json), "OK");
    BOOST_REQUIRE_EQUAL(first.stop(), 0);
  }
  std::string before, out;
  runCommand("sqlite3 " + home + "/state.db 'select address from workloads'", &before);
  BOOST_REQUIRE(contains(before, "dev.ro.a.default"));
  BOOST_REQUIRE(::mount(nullptr, fs.path.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0);
  // The daemon's own log goes elsewhere (the state dir takes no writes).
  int rc = runCommand(binDir() + "/kithd --dev --home " + home + " --log-format json 2>&1", &out);
  BOOST_TEST(rc != 0, out);
  BOOST_TEST((contains(out, "Read-only") || contains(out, "read-only") || contains(out, "readonly")), out);
  BOOST_TEST(!contains(out, "Segmentation"), out);
  BOOST_REQUIRE(::mount(nullptr, fs.path.c_str(), nullptr, MS_REMOUNT, nullptr) == 0);
  std::string after;
  runCommand("sqlite3 " + home + "/state.db 'PRAGMA integrity_check; select address from workloads'", &after);
  BOOST_TEST(after == "ok\n" + before, after);
}

BOOST_AUTO_TEST_CASE(wall_clock_jumps_neither_expire_nor_resurrect_registrations) {
  const char* lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (::access(lib, R_OK) != 0) {
    BOOST_TEST_MESSAGE("skipped: libfaketime not installed (apt-get install faketime)");
    return;
  }
  Daemon d;
  std::string offset = d.dir.path() + "/offset";
  writeFile(offset, "+0\n");
  // Only the wall clock is faked, as a clock step (settimeofday, NTP) would.
  // The variables are for this daemon only: restored however start() ends
  // (a failed start must not leave every later daemon preloading faketime).
  struct ScopedEnv {
    std::vector<std::pair<std::string, std::optional<std::string>>> saved;
    void set(const char* k, const std::string& v) {
      const char* old = ::getenv(k);
      saved.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      ::setenv(k, v.c_str(), 1);
    }
    ~ScopedEnv() {
      for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
        if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
        else ::unsetenv(it->first.c_str());
      }
    }
  };
  {
    ScopedEnv env;
    env.set("LD_PRELOAD", lib);
    env.set("FAKETIME_TIMESTAMP_FILE", offset);
    env.set("FAKETIME_NO_CACHE", "1");
    env.set("DONT_FAKE_MONOTONIC", "1");
    // Under ASan (make asan) the preloaded libfaketime comes before ASan's
    // runtime; that is intended here.
    const char* asan = ::getenv("ASAN_OPTIONS");
    env.set("ASAN_OPTIONS", std::string(asan ? asan : "") + (asan && *asan ? ":" : "") + "verify_asan_link_order=0");
    d.start();
  }

  auto held = d.client();  // lease held by the open connection
  BOOST_REQUIRE_EQUAL(errorCode(held.request({{"op", "register"}, {"name", "dev.clock.held.default"}})->json), "OK");
  std::string leasedToken;
  {
    auto c = d.client();  // closes at once: a 3 s TTL lease
    auto r = c.request({{"op", "register"}, {"name", "dev.clock.lease.default"}, {"ttl_ms", 3000}});
    BOOST_REQUIRE_EQUAL(errorCode(r->json), "OK");
    leasedToken = r->json["token"];
  }
  auto listed = [&](const std::string& name) {
    auto r = d.client().request({{"op", "list"}});
    for (auto& w : r->json["workloads"]) {
      if (contains(w.value("address", ""), name)) return true;
    }
    return false;
  };
  auto admin = d.admin();
  auto tsOfLast = [&] {
    auto r = admin.request({{"op", "events"}});
    return r->json["events"].back().value("ts", int64_t{0});
  };
  int64_t ts0 = tsOfLast();
  // Two days forward: the 3 s lease does not expire because of it.
  writeFile(offset, "+2d\n");
  auto c = d.client();
  BOOST_TEST(errorCode(c.request({{"op", "heartbeat"}, {"token", leasedToken}})->json) == "OK");
  BOOST_REQUIRE_EQUAL(errorCode(c.request({{"op", "register"}, {"name", "dev.clock.jumped.default"}})->json), "OK");
  BOOST_TEST(listed("dev.clock.lease"));
  BOOST_TEST(tsOfLast() > ts0 + 86400LL * 1000000);  // the jump shows in event time
  // ... it expires on its own monotonic schedule (no heartbeat from here on).
  BOOST_REQUIRE(waitFor([&] { return !listed("dev.clock.lease"); }, 20000));
  // Back four days (two before the start): nothing comes back, nothing held ends.
  writeFile(offset, "-2d\n");
  BOOST_TEST(errorCode(d.client().request({{"op", "heartbeat"}, {"token", leasedToken}})->json) == "TIMEOUT");
  BOOST_TEST(!listed("dev.clock.lease"));
  BOOST_TEST(listed("dev.clock.held"));
  BOOST_TEST(listed("dev.clock.jumped"));
  BOOST_TEST(errorCode(d.client().request({{"op", "register"}, {"name", "dev.clock.back.default"}})->json) == "OK");
  BOOST_TEST(listed("dev.clock.held"));
}

BOOST_AUTO_TEST_SUITE_END()
