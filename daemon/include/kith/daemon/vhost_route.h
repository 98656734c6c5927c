// VhostRoute: the one step between the vhost listener and the mesh — "open a
// stream to a workload matching destination pattern D, as source S". The
// listener has already authenticated the client and decided the host; the
// route only finds and connects a backend.
//
// This is the seam where cross-machine tunnels plug in (issue #5): today
// LocalVhostRoute serves backends registered on this daemon (a `target` it
// dials, or a workload that `listen`s through libkith and gets the stream in
// an `incoming` event); a mesh route would open a broker stream to a remote
// daemon instead and hand back its local end.
//
// Callback contract (STYLE 7): open() calls `done` exactly once, never from
// inside open() itself (always from the loop), with a connected non-blocking
// stream or an error: DESTINATION_NOT_FOUND (nothing registered matches) or
// CANNOT_CONNECT (matches, but none accepted). Nothing has been written to the
// stream. Destroying the route drops pending opens WITHOUT calling them; the
// listener (which owns the callbacks' targets) is destroyed after the route.
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/api_server.h"
#include "kith/daemon/loop.h"
#include "kith/daemon/registry.h"

namespace kith::daemon {

struct VhostStreamSource {
  std::string name;      // who opens it, for logs and `incoming` events: "vhost:HOSTNAME"
  std::string identity;  // the verified client identity (foks:// URI) or ""
};

class VhostRoute {
 public:
  using Done = std::function<void(Status, UniqueFd)>;
  virtual ~VhostRoute() = default;
  virtual void open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
                    Done done) = 0;
};

class LocalVhostRoute : public VhostRoute {
 public:
  LocalVhostRoute(Loop& loop, Registry& registry, ApiServer& server);
  ~LocalVhostRoute() override;
  void open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
            Done done) override;

 private:
  class Dial;
  struct Attempt;
  void tryNext(std::shared_ptr<Attempt> a);
  void finishDial(uint64_t id);

  Loop& loop_;
  Registry& registry_;
  ApiServer& server_;
  uint64_t rr_ = 0;
  uint64_t nextDial_ = 1;
  std::map<uint64_t, std::unique_ptr<Dial>> dials_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kith::daemon
