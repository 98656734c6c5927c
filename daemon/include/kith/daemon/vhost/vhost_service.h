// VhostService: kithd's FOKS virtual-host front — the host table, the route to
// backends, the vhost listener and the probe/beacon listener — and the admin
// ops that manage hosts (kith-socket-api(7)):
//
//   host.init   {name, backend}               a new primary host
//   host.show   {name}                        host, keys, hostchain, zone
//   host.rotate {name, key}                   key: host|tls-ca|merkle|metadata
//   host.list   {}                            every host + listener addresses
//   vhost.add   {name, primary, backend?}     a vhost aliasing `primary`
//   vhost.list  {}                            the vhosts
//   vhost.remove {name}
//
// Owns everything it builds; the route is destroyed before the listeners (see
// vhost_route.h). Loop thread only.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/broker/local_broker.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/store/store.h"
#include "kith/daemon/vhost/vhost_hosts.h"
#include "kith/daemon/vhost/vhost_listener.h"
#include "kith/daemon/vhost/vhost_route.h"

namespace kith::daemon {

struct VhostServiceOptions {
  std::string hostsDir;
  std::string listen;       // "" = no vhost listener
  std::string probeListen;  // "" = no probe listener
  std::string name = "vhost.kithd.listener.default";  // the listener's workload (four labels)
};

class VhostService {
 public:
  VhostService(Loop& loop, Store& store, Registry& registry, LocalBroker& broker, VhostServiceOptions opts);
  ~VhostService();

  // Loads the hosts and binds the listeners.
  Status start();
  void stop();

  // Whether `op` is one of this service's admin ops.
  static bool handles(const std::string& op);
  void handle(const std::string& op, const nlohmann::json& req, Reply reply);

  VhostHosts& hosts() { return *hosts_; }

 private:
  nlohmann::json hostJson(const VhostHost& h, bool full) const;

  Loop& loop_;
  VhostServiceOptions opts_;
  std::unique_ptr<VhostHosts> hosts_;
  std::unique_ptr<VhostListener> listener_;
  std::unique_ptr<VhostListener> probe_;
  std::unique_ptr<MeshVhostRoute> route_;
};

}  // namespace kith::daemon
