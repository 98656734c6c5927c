// VhostListener: the daemon's TLS front for FOKS hosts. One TCP port serves
// every host; each accepted connection is taken through:
//
//   1. ClientHello: its first TLS record is read (not peeked) and its SNI
//      looked up in the host table (a hash lookup). An SNI naming no host gets
//      a fatal TLS alert unrecognized_name (112) and is closed; no SNI uses the
//      default context (the first primary's certificate; client certificates
//      of any host's CA accepted). The record is then replayed to wolfSSL.
//   2. Handshake with the chosen host's context (its certificate, its TLS CA
//      for client certificates). A client certificate that does not verify
//      fails the handshake (wolfSSL's alert).
//   3. Identity: a client certificate names a host (URI SAN foks://HOSTID/...);
//      it must chain to THAT host's TLS CA and, with SNI, name the SNI's host.
//      Without a certificate (logged out), the client may first send
//      `SELECT-VHOST <hostid>\n`: with SNI the selected host must be the SNI's
//      host or one of its vhosts; without SNI any host. Otherwise the SNI host.
//   4. Route (kRoute mode): VhostRoute::open(host's backend pattern). Then the
//      backend gets a PROXY v2 header — client and listener addresses, TLVs
//      0x02 authority = the selected hostname, 0xE2 = its HostID, 0xE1 = the
//      verified client identity (when a certificate was sent) — and the relay
//      starts: TLS on one side, the plain stream on the other, half-closes
//      passed on.
//   Every refusal after the handshake is one line `ERR <CODE> <message>\n`
//   over TLS, then close_notify; the backend is never dialled before all
//   checks pass, so it sees nothing of a refused client.
//
// kProbe mode serves probe/beacon (vhost_probe.h) instead of step 4: one JSON
// request line, one JSON reply line, close.
//
// Ownership: the listener owns its connections; each ends through
// Loop::deferredDelete. Loop thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/common/unique_fd.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/vhost/vhost_hosts.h"
#include "kith/daemon/vhost/vhost_route.h"

namespace kith::daemon {

struct VhostListenerOptions {
  enum class Mode { kRoute, kProbe };
  Mode mode = Mode::kRoute;
  std::string listen;  // "HOST:PORT"; port 0 picks one
  int64_t handshakeTimeoutMs = 10000;  // accept to routed (or answered)
  int64_t backendTimeoutMs = 5000;
  size_t maxConnections = 8192;
  uint16_t userPort = 0;  // kProbe: the port beacons name
};

class VhostListener {
 public:
  struct Stats {
    uint64_t accepted = 0, routed = 0, refused = 0, handshakeFailed = 0, answered = 0;
  };

  VhostListener(Loop& loop, VhostHosts& hosts, VhostRoute* route, VhostListenerOptions opts);
  ~VhostListener();
  VhostListener(const VhostListener&) = delete;
  VhostListener& operator=(const VhostListener&) = delete;

  Status start();
  uint16_t port() const { return port_; }
  // "HOST:PORT" as bound.
  std::string address() const;
  void setUserPort(uint16_t p) { opts_.userPort = p; }
  const Stats& stats() const { return stats_; }
  // Ends every connection selected for host `name` (it was removed): routed
  // streams are cut on both sides. Returns how many.
  size_t closeHost(const std::string& name);
  size_t openConnections() const { return conns_.size(); }

  class Conn;  // one client connection (vhost_listener.cpp)

 private:
  friend class Conn;
  void onAccept();
  void finish(uint64_t id);

  Loop& loop_;
  VhostHosts& hosts_;
  VhostRoute* route_;
  VhostListenerOptions opts_;
  UniqueFd fd_;
  std::unique_ptr<Poll> poll_;
  uint16_t port_ = 0;
  std::string host_;
  uint64_t nextId_ = 1;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kith::daemon
