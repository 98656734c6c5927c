// Load held by a real kithd: 10,000 concurrent API clients and 10,000
// registered workloads, with the API latency (p50/p99) a probe client sees
// under that load printed as the test's figures. Bounded in count and time;
// the assertions are correctness (every client answered, every workload
// listed and counted), never speed.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <thread>

#include "../helpers/prometheus_text.h"
#include "fixture.h"
#include "kith/common/json.h"

using namespace kith::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Raised before the daemon is spawned: it inherits the hard limit.
struct ManyFiles {
  ManyFiles() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < 30000) rl.rlim_max = 30000;  // root may raise it; otherwise the current hard limit
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      getrlimit(RLIMIT_NOFILE, &rl);
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
};

struct LoadFixture : ManyFiles, DaemonFixture {};


bool writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Sends `perConn` request lines on every descriptor at once and waits (epoll,
// bounded by deadlineMs) until each has answered all of them; returns how
// many descriptors got every answer with "ok":true.
size_t roundTrip(const std::vector<int>& fds, const std::function<std::string(size_t, int)>& line, int perConn,
                 int deadlineMs) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::string> buf(fds.size());
  std::vector<int> left(fds.size(), perConn), oks(fds.size(), 0);
  for (size_t i = 0; i < fds.size(); ++i) {
    std::string req;
    for (int k = 0; k < perConn; ++k) req += line(i, k) + "\n";
    BOOST_REQUIRE(writeAll(fds[i], req));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
  }
  size_t pending = fds.size();
  auto end = Clock::now() + std::chrono::milliseconds(deadlineMs);
  epoll_event evs[256];
  char tmp[65536];
  while (pending > 0 && Clock::now() < end) {
    int n = ::epoll_wait(ep, evs, 256, 100);
    for (int e = 0; e < n; ++e) {
      size_t i = evs[e].data.u64;
      ssize_t r = ::recv(fds[i], tmp, sizeof tmp, MSG_DONTWAIT);
      if (r <= 0) {
        ::epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
        --pending;
        continue;
      }
      buf[i].append(tmp, static_cast<size_t>(r));
      size_t nl;
      while ((nl = buf[i].find('\n')) != std::string::npos) {
        auto j = kith::parseJson(buf[i].substr(0, nl));
        buf[i].erase(0, nl + 1);
        if (j.is_object() && j.value("ok", false)) ++oks[i];
        if (--left[i] == 0) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
          --pending;
        }
      }
    }
  }
  ::close(ep);
  size_t good = 0;
  for (size_t i = 0; i < fds.size(); ++i) good += oks[i] == perConn ? 1 : 0;
  return good;
}

struct Latency {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};

// A probe on its own connection: sequential requests, each timed, until
// `stop` or `count` requests.
Latency probe(const std::string& socket, const json& req, std::atomic<bool>* stop, size_t count) {
  auto c = DaemonFixture::connectTo(socket);
  std::vector<double> us;
  while (us.size() < count && !(stop && stop->load())) {
    auto t0 = Clock::now();
    auto r = c.request(req, 30000);
    if (!r.isOk() || !r->json.value("ok", false)) break;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  Latency l;
  l.n = us.size();
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  l.p50 = us[us.size() / 2];
  l.p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  l.max = us.back();
  return l;
}

std::string fmt(const Latency& l) {
  char b[160];
  std::snprintf(b, sizeof b, "%zu requests, p50 %.0f us, p99 %.0f us, max %.0f us", l.n, l.p50, l.p99, l.max);
  return b;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(load, LoadFixture)

BOOST_AUTO_TEST_CASE(ten_thousand_concurrent_api_clients_are_all_answered) {
  constexpr size_t kClients = 10000;
  Latency idle = probe(daemon.apiSocket(), {{"op", "hello"}}, nullptr, 2000);
  std::vector<int> fds;
  fds.reserve(kClients);
  auto t0 = Clock::now();
  for (size_t i = 0; i < kClients; ++i) {
    int fd = connectUnix(daemon.apiSocket());
    BOOST_REQUIRE_MESSAGE(fd >= 0, "connect #" << i << ": " << std::strerror(errno));
    fds.push_back(fd);
  }
  double connectMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  BOOST_REQUIRE(waitFor([&] {
    auto st = admin().request({{"op", "status"}});
    return st.isOk() && st->json.value("connections", 0) >= static_cast<int>(kClients);
  }, 60000));

  // Every client asks at once (3 requests each, pipelined) while a probe measures.
  std::atomic<bool> stop{false};
  Latency loaded;
  std::thread prober([&] { loaded = probe(daemon.apiSocket(), {{"op", "hello"}}, &stop, 1000000); });
  t0 = Clock::now();
  size_t answered = roundTrip(fds, [](size_t i, int k) {
    return kith::dumpJson(json{{"id", k}, {"op", k == 1 ? "status" : "hello"}});
  }, 3, 120000);
  double roundMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  stop = true;
  prober.join();
  BOOST_TEST(answered == kClients);
  BOOST_TEST(loaded.n > 0u);

  auto text = admin().request({{"op", "metrics"}})->json["text"].get<std::string>();
  BOOST_TEST(sampleValue(text, "kith_api_connections").value_or(0) >= static_cast<double>(kClients));
  for (int fd : fds) ::close(fd);
  BOOST_REQUIRE(waitFor([&] {
    auto st = admin().request({{"op", "status"}});
    return st.isOk() && st->json.value("connections", 1 << 30) < 10;
  }, 60000));
  BOOST_TEST_MESSAGE("figures: " << kClients << " clients connected in " << connectMs << " ms; "
                     << 3 * kClients << " pipelined requests answered in " << roundMs << " ms");
  std::printf("load: 10,000 concurrent API clients: connect %.0f ms, 30,000 requests in %.0f ms\n"
              "load: hello latency idle:         %s\n"
              "load: hello latency under load:   %s\n",
              connectMs, roundMs, fmt(idle).c_str(), fmt(loaded).c_str());
}

BOOST_AUTO_TEST_CASE(ten_thousand_registered_workloads_are_listed_counted_and_resolved) {
  constexpr size_t kConns = 100, kPer = 100;  // the leases live while these connections stay open
  std::vector<int> fds;
  for (size_t i = 0; i < kConns; ++i) {
    int fd = connectUnix(daemon.apiSocket());
    BOOST_REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  auto t0 = Clock::now();
  size_t good = roundTrip(fds, [](size_t i, int k) {
    return kith::dumpJson(json{{"id", k}, {"op", "register"},
                {"name", "dev.load.w" + std::to_string(i) + "-" + std::to_string(k) + ".default"},
                {"whitelist", {"dev.*.*.*.*"}}});
  }, static_cast<int>(kPer), 300000);
  double regMs = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  BOOST_REQUIRE_EQUAL(good, kConns);

  auto text = admin().request({{"op", "metrics"}})->json["text"].get<std::string>();
  BOOST_TEST(sampleValue(text, "kith_workloads").value_or(0) == static_cast<double>(kConns * kPer));
  auto list = client().request({{"op", "list"}}, 60000);
  BOOST_REQUIRE(list.isOk());
  BOOST_TEST(list->json["workloads"].size() == kConns * kPer);
  auto wl = admin().request({{"op", "workloads"}}, 60000);
  BOOST_TEST(wl->json["workloads"].size() == kConns * kPer);

  // Resolve and policy decisions with 10,000 registrations held.
  Latency resolve = probe(daemon.apiSocket(), {{"op", "resolve"}, {"name", addr("dev.load.w57-42.default")}},
                          nullptr, 2000);
  Latency pattern = probe(daemon.apiSocket(), {{"op", "resolve"}, {"name", "dev.load.w99-*.*.*"}}, nullptr, 200);
  BOOST_TEST(resolve.n == 2000u);
  BOOST_TEST(pattern.n == 200u);
  auto one = client().request({{"op", "resolve"}, {"name", "dev.load.w3-*.*.*"}});
  BOOST_TEST(one->json["workloads"].size() == kPer);

  for (int fd : fds) ::close(fd);
  // Closing the connections starts the leases' TTL; nothing is lost meanwhile.
  std::printf("load: 10,000 workloads registered (100 connections x 100 pipelined) in %.0f ms (%.0f/s)\n"
              "load: resolve one address with 10,000 held:   %s\n"
              "load: resolve a 100-match pattern:             %s\n",
              regMs, 1000.0 * kConns * kPer / regMs, fmt(resolve).c_str(), fmt(pattern).c_str());
}

BOOST_AUTO_TEST_SUITE_END()
