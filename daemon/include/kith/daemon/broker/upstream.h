// Upstream: one `[[upstream]]` of the config — a local TCP listener whose
// connections go into the mesh, for unmodified clients (the daemon-side
// `kithctl forward`). The daemon registers the upstream's NAME itself (its
// own process is the registering process, so the lease lives with the
// daemon; it heartbeats), and every accepted connection becomes a `connect`
// to DESTINATION as that workload: policy decides as for any other source,
// a pattern picks a healthy instance, and the accepted socket is joined to
// the stream directly. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/broker/self_registration.h"

namespace kith::daemon {

struct UpstreamOptions {
  std::string name;         // scope.group.identity.resource
  std::string listen;       // HOST:PORT
  std::string destination;  // address or pattern
  int64_t timeoutMs = 5000; // per connection's connect
};

class Upstream {
 public:
  // Binds the listener now (so a port conflict fails startup) and registers
  // NAME; connections are accepted once the registration is durable.
  static Result<std::unique_ptr<Upstream>> create(Loop& loop, Registry& registry, LocalBroker& broker,
                                                  UpstreamOptions opts);
  ~Upstream();

  const std::string& endpoint() const { return endpoint_; }
  const std::string& address() const { return self_.address(); }
  uint64_t accepted() const { return accepted_; }
  uint64_t failed() const { return failed_; }

 private:
  Upstream(Loop& loop, Registry& registry, LocalBroker& broker, UpstreamOptions opts);
  void startAccepting();
  void onAccept();

  Loop& loop_;
  LocalBroker& broker_;
  UpstreamOptions opts_;
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  SelfRegistration self_;
  Timer retry_;  // accepting again after running out of descriptors
  std::string endpoint_;
  uint64_t accepted_ = 0, failed_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kith::daemon
