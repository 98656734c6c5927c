// LocalBroker: `connect` between workloads on this machine.
//
// The daemon stays out of the data path whenever it can: for a destination that
// `listen`s through libkith it makes a socketpair and hands one end to each side
// (the listener learns the caller from the `incoming` event); for a `target` it
// dials the target itself, writes an optional PROXY v2 header naming the caller,
// and passes the connected descriptor to the caller. Only `mode:"path"` makes the
// daemon relay bytes (a one-shot Unix socket, 0600, owned by the caller's uid).
//
// A pattern destination picks among allowed matches round-robin and fails over
// to the next on CANNOT_CONNECT. Authorization is a pluggable function (policy
// engine; until then the destination's whitelist within one scope).
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kith/daemon/api_connection.h"
#include "kith/daemon/api_server.h"
#include "kith/daemon/loop.h"
#include "kith/daemon/registry.h"

namespace kith::daemon {

struct ConnectRequest {
  std::string destination;  // address or pattern
  std::string proto = "tcp";
  std::string mode = "fd";  // "fd" | "path"
  int64_t timeoutMs = 5000;
};

// allowed, or a Status (UNAUTHORIZED) that explains the denial.
using Authorizer = std::function<Status(const Registration& src, const Registration& dst,
                                        const std::string& proto)>;

// The pre-policy rule: same scope and a whitelist pattern matching the source.
Status whitelistAuthorizer(const Registration& src, const Registration& dst, const std::string& proto);

class LocalBroker {
 public:
  struct Options {
    std::string streamsDir;  // where one-shot path sockets are made
  };
  struct Stats {
    uint64_t connects = 0, denied = 0, failed = 0, relayed = 0, handedOff = 0;
  };

  LocalBroker(Loop& loop, Registry& registry, ApiServer& server, Options opts);
  ~LocalBroker();
  void setAuthorizer(Authorizer a) { authorize_ = std::move(a); }

  void connect(const Registration& src, const Caller& caller, ConnectRequest req, Reply reply);
  const Stats& stats() const { return stats_; }
  size_t activeRelays() const { return jobs_.size(); }

 private:
  struct Attempt;
  class Dial;
  class PathRelay;
  void tryNext(std::shared_ptr<Attempt> a);
  void deliver(std::shared_ptr<Attempt> a, UniqueFd fd, const Registration& dst);
  void finishJob(uint64_t id);

  Loop& loop_;
  Registry& registry_;
  ApiServer& server_;
  Options opts_;
  Authorizer authorize_;
  Stats stats_;
  uint64_t rr_ = 0;
  uint64_t nextStream_ = 1;
  uint64_t nextJob_ = 1;
  std::map<uint64_t, std::unique_ptr<DeferredDeletable>> jobs_;
};

}  // namespace kith::daemon
