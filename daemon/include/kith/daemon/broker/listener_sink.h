// ListenerSink: how a new inbound stream reaches a workload that listens
// through the socket API (libkith `kith_listen`, `kithcat -l`). The broker
// only knows the listening connection's id (Registration::listenerConnId);
// the API layer, which owns the connections, implements this and writes the
// `incoming` event with the descriptor. Loop thread only.
#pragma once

#include <cstdint>
#include <string>

#include "kith/common/unique_fd.h"

namespace kith::daemon {

// What a listener is told about a stream (the `incoming` event).
struct IncomingStream {
  uint64_t stream = 0;
  std::string source;    // the caller's address
  std::string spiffeId;  // the caller's SPIFFE ID
  std::string proto;     // tcp | udp
};

class ListenerSink {
 public:
  virtual ~ListenerSink() = default;
  // Hands `end` to the listener on connection `connId`. False when that
  // connection is gone or closing: nothing was sent and `end` is closed.
  virtual bool deliverIncoming(uint64_t connId, const IncomingStream& s, UniqueFd end) = 0;
};

}  // namespace kith::daemon
