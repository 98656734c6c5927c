// ServerEnds: makes the server's end of a stream to a workload registered on
// this machine — the part of a connect that both the local broker (a caller
// on this machine) and the tunnel broker (a caller on another machine, whose
// daemon sent OPEN) need.
//
// The server end is: for a workload that `listen`s, one end of a socketpair
// whose other end goes to it in an `incoming` event (ListenerSink); for a
// `target`, a socket the daemon dials itself, after a PROXY v2 header naming
// the caller when the registration asked for one (and the opener did not
// write its own: StreamOrigin::raw). UDP uses SOCK_SEQPACKET pairs, so
// datagram boundaries survive. A `unix:` target must be served by the uid
// that registered it (root's registrations excepted).
//
// Callback contract: open() calls `done` exactly once, maybe before it
// returns; the descriptor it gets is non-blocking. Dials in flight are owned
// here and abandoned (their `done` never runs) when ServerEnds is destroyed
// or closeAll() runs. Loop thread only; borrows the Loop, Registry and sink.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/broker/listener_sink.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class Registry;
struct Registration;

// Who asks for a stream, as the server side is told (PROXY v2 TLVs, the
// `incoming` event of a listener).
struct StreamOrigin {
  std::string address;
  std::string spiffeId;
  // The opener writes its own PROXY v2 header as the stream's first bytes
  // (the vhost listener, whose TLVs name the host and the client): no daemon
  // writes the registration's header, here or across a tunnel (OPEN "raw").
  bool raw = false;
};

class ServerEnds {
 public:
  using Done = std::function<void(Status, UniqueFd serverEnd)>;

  ServerEnds(Loop& loop, Registry& registry, ListenerSink& listeners);
  ~ServerEnds();
  ServerEnds(const ServerEnds&) = delete;
  ServerEnds& operator=(const ServerEnds&) = delete;

  // The server end of a `proto` stream to the local workload `dst` for
  // `origin`, within `timeoutMs` (a target's dial). `stream` is the id the
  // listener's `incoming` event carries.
  void open(const std::string& dst, const StreamOrigin& origin, const std::string& proto, int64_t timeoutMs,
            uint64_t stream, Done done);
  // Abandons every dial in flight (drain).
  void closeAll();

 private:
  class Dial;
  void dialTarget(const Registration& dst, const StreamOrigin& origin, int64_t timeoutMs, Done done);
  void finishJob(uint64_t id);

  Loop& loop_;
  Registry& registry_;
  ListenerSink& listeners_;
  uint64_t nextJob_ = 1;
  std::map<uint64_t, std::unique_ptr<DeferredDeletable>> jobs_;
};

// A unix target must be served by the uid that registered it (root excepted):
// CANNOT_CONNECT otherwise. `connectedFd` is the daemon's connection to it.
Status checkTargetOwner(const Registration& dst, int connectedFd);

}  // namespace kith::daemon
