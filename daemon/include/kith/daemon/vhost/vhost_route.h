// VhostRoute: the one step between the vhost listener and the mesh — "open a
// stream to a workload matching destination pattern D". The listener has
// already authenticated the client and decided the host; the route only finds
// and connects a backend.
//
// MeshVhostRoute is the route kithd uses: the vhost listener is a workload of
// its own, registered in the daemon's name (`[vhost] name`, SelfRegistration),
// and each stream is a `connect` from it through the LocalBroker — so policy
// decides on this daemon and, for a backend on another machine, again on that
// machine's daemon (through a tunnel); candidate choice (round robin over the
// local and remote matches) and failover are the broker's. The stream is
// opened "raw" (StreamOrigin::raw, OPEN "raw"): no daemon writes the backend
// registration's PROXY header, because the listener writes its own, with the
// host's TLVs, as the first bytes.
//
// Callback contract (STYLE 7): open() calls `done` exactly once, never from
// inside open() itself (always from the loop), with a connected non-blocking
// stream or the broker's error: DESTINATION_NOT_FOUND (nothing matches),
// UNAUTHORIZED (policy here or there), CANNOT_CONNECT (matches, but none
// accepted; or the listener's own registration is not active yet),
// DESTINATION_UNREACHABLE (the backend's machine cannot be reached), BAD_REQUEST.
// Nothing has been written to the stream. Destroying the route drops pending
// opens WITHOUT calling them (their streams close); the listener (which owns
// the callbacks' targets) is destroyed after the route. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/broker/self_registration.h"

namespace kith::daemon {

struct VhostStreamSource {
  std::string name;      // the connection, for logs: "vhost:HOSTNAME"
  std::string identity;  // the verified client identity (foks:// URI) or ""
};

class VhostRoute {
 public:
  using Done = std::function<void(Status, UniqueFd)>;
  virtual ~VhostRoute() = default;
  virtual void open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
                    Done done) = 0;
};

class MeshVhostRoute : public VhostRoute {
 public:
  // `name`: the listener's workload name, four labels.
  MeshVhostRoute(Loop& loop, Registry& registry, LocalBroker& broker, std::string name);
  ~MeshVhostRoute() override;
  // Registers the listener's workload (streams open once it is active).
  void start();
  // The listener's address ("" until registered).
  const std::string& address() const { return self_.address(); }

  void open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
            Done done) override;

 private:
  Loop& loop_;
  LocalBroker& broker_;
  SelfRegistration self_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kith::daemon
