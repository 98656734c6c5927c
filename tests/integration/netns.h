// VethNetns: a network namespace joined to the test's namespace by a veth
// pair, for partition tests (root only). The host end gets HOST_IP/30, the
// namespace end NS_IP/30; cut() takes the host end down (nothing passes
// either way, TCP connections stall as on a real partition), heal() brings it
// back. Names carry the test's pid so parallel runs do not collide. The
// destructor deletes the namespace, which deletes the pair.
#pragma once

#include <unistd.h>

#include <string>

#include <boost/test/unit_test.hpp>

#include "../helpers/daemon_process.h"

namespace kith::test {

class VethNetns {
 public:
  VethNetns() {
    int id = static_cast<int>(::getpid() % 10000);
    int net = static_cast<int>(::getpid() % 250) + 1;
    name_ = "kithtest" + std::to_string(id);
    hostIf_ = "kth" + std::to_string(id);
    nsIf_ = "ktn" + std::to_string(id);
    hostIp_ = "10.213." + std::to_string(net) + ".1";
    nsIp_ = "10.213." + std::to_string(net) + ".2";
    run("ip netns del " + name_ + " 2>/dev/null; true");
    run("ip netns add " + name_);
    run("ip link add " + hostIf_ + " type veth peer name " + nsIf_);
    run("ip link set " + nsIf_ + " netns " + name_);
    run("ip addr add " + hostIp_ + "/30 dev " + hostIf_);
    run("ip link set " + hostIf_ + " up");
    run("ip netns exec " + name_ + " ip addr add " + nsIp_ + "/30 dev " + nsIf_);
    run("ip netns exec " + name_ + " ip link set " + nsIf_ + " up");
    run("ip netns exec " + name_ + " ip link set lo up");
  }
  ~VethNetns() {
    std::string out;
    runCommand("ip netns del " + name_, &out);
    runCommand("ip link del " + hostIf_ + " 2>/dev/null", &out);
  }
  static bool available() { return ::geteuid() == 0 && ::access("/usr/sbin/ip", X_OK) == 0; }

  const std::string& name() const { return name_; }
  const std::string& hostIp() const { return hostIp_; }
  const std::string& nsIp() const { return nsIp_; }
  void cut() { run("ip link set " + hostIf_ + " down"); }
  void heal() { run("ip link set " + hostIf_ + " up"); }

 private:
  static void run(const std::string& cmd) {
    std::string out;
    BOOST_REQUIRE_MESSAGE(runCommand(cmd, &out) == 0, cmd << ": " << out);
  }
  std::string name_, hostIf_, nsIf_, hostIp_, nsIp_;
};

}  // namespace kith::test
