// MetricsHttp: the optional HTTP listener that serves the Prometheus
// exposition (`GET /metrics`) for scrapers ([metrics] listen; off by default).
//
// Deliberately tiny: HTTP/1.0 and 1.1, one request per connection, the answer
// closes the connection. Only GET (and HEAD) of /metrics; anything else is
// 404/405/400. A request must arrive within 5 s and fit in 8 KiB; at most 64
// connections at once (more are closed at accept). The listen address must be
// loopback unless allowNonLoopback: the exposition names workloads and peers,
// and there is no authentication.
//
// Loop thread only. Connections are owned by the listener; each is destroyed
// through Loop::deferredDelete, never inside its own callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class MetricsHttp {
 public:
  struct Options {
    std::string listen;  // "127.0.0.1:9464", "[::1]:9464", "localhost:9464"; port 0 picks one
    bool allowNonLoopback = false;
  };
  using Render = std::function<std::string()>;

  MetricsHttp(Loop& loop, Options opts, Render render);
  ~MetricsHttp();

  Status start();
  // "HOST:PORT" actually bound (after start).
  const std::string& boundAddress() const { return bound_; }

  // Parses "HOST:PORT" into a socket address; HOST is an IPv4 literal, a
  // bracketed IPv6 literal or "localhost". Sets *loopback.
  static Status parseListen(const std::string& listen, bool allowPortZero, std::string* host, uint16_t* port,
                            bool* loopback);

 private:
  class Conn;
  void onAcceptable();
  void finish(uint64_t id);

  Loop& loop_;
  Options opts_;
  Render render_;
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;  // destroyed before fd_ closes
  std::string bound_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t nextId_ = 1;
};

}  // namespace kith::daemon
