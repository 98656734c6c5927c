// A running kithd --dev in a temporary home, for one test case.
#pragma once

#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "../helpers/daemon_process.h"
#include "../helpers/test_client.h"
#include "../helpers/workload_process.h"

namespace kith::test {

struct DaemonFixture {
  TempDir dir;
  DaemonProcess daemon{dir.path() + "/home"};
  std::string machine;

  DaemonFixture() {
    Status st = daemon.start();
    if (!st.isOk()) BOOST_FAIL("kithd did not start: " << st.message());
    auto c = client();
    machine = c.request({{"op", "hello"}})->json.value("machine", "");
  }
  ~DaemonFixture() {
    int st = daemon.stop();
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      BOOST_ERROR("kithd did not exit cleanly on SIGTERM (status " << st << "): " << daemon.log());
    }
  }

  TestClient client() { return connectTo(daemon.apiSocket()); }
  TestClient admin() { return connectTo(daemon.adminSocket()); }
  static TestClient connectTo(const std::string& path) {
    auto c = TestClient::connect(path);
    if (!c.isOk()) BOOST_FAIL("connect " << path << ": " << c.status().message());
    return std::move(c).value();
  }
  std::string addr(const std::string& name4) const { return name4 + "." + machine; }

  // Registers from this test process; returns the reply.
  nlohmann::json reg(TestClient& c, nlohmann::json fields) {
    fields["op"] = "register";
    auto r = c.request(fields);
    BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().message());
    return r->json;
  }
  // Admin view of one workload, or null.
  nlohmann::json workload(const std::string& address) {
    auto a = admin();
    auto r = a.request({{"op", "workloads"}});
    BOOST_REQUIRE(r.isOk());
    for (auto& w : r->json["workloads"]) {
      if (w["address"] == address) return w;
    }
    return nullptr;
  }
};

// Polls cond every 10 ms until true or the deadline; returns cond's last value.
inline bool waitFor(const std::function<bool()>& cond, int timeoutMs) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

inline std::string errorCode(const nlohmann::json& reply) {
  return reply.value("ok", false) ? "OK" : reply["error"].value("code", "?");
}

}  // namespace kith::test
