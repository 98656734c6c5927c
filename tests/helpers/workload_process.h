// WorkloadProcess: a forked child that registers with a daemon (optionally as
// another uid) and then stays alive until told to exit or killed — a real
// separate process, so leases, pidfds and peer credentials are exercised for real.
#pragma once

#include <sys/types.h>

#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"

namespace kith::test {

class WorkloadProcess {
 public:
  struct Options {
    std::string socket;
    nlohmann::json registerRequest;  // {"op":"register",...}
    uid_t uid = 0;                   // setuid to this (root tests); 0 = stay
    bool closeConnection = false;    // drop the API connection after registering
    bool listen = false;             // also `listen` on the connection
  };

  ~WorkloadProcess();  // kills the child if still running
  Status start(const Options& o);
  // The register reply as the child saw it.
  const nlohmann::json& reply() const { return reply_; }
  std::string token() const { return reply_.value("token", ""); }
  std::string address() const { return reply_.value("address", ""); }
  pid_t pid() const { return pid_; }
  void kill9();
  // Asks the child to exit normally and reaps it.
  void exitNow();

 private:
  pid_t pid_ = -1;
  UniqueFd control_;  // closing it tells the child to exit
  nlohmann::json reply_;
};

}  // namespace kith::test
