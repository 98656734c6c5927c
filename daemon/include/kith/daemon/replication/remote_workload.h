// RemoteWorkload: a workload registered on another machine, as this daemon
// knows it from that machine's verified `srv` record, with its address and
// whitelist already parsed (once, when the record is read, not per connect).
//
// RemoteDirectory: where the brokers and the API find them. The replication
// glue (Replicator) implements it; tests implement it with a map.
// Loop thread only; values are plain copies.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kith/policy/address.h"
#include "kith/policy/pattern.h"

namespace kith::daemon {

struct RemoteWorkload {
  policy::Address address;
  std::string machine;                   // the record's zone = address.machine()
  std::vector<std::string> protocols;    // "tcp", "udp"
  std::string targetKind;                // listen | unix | tcp
  std::vector<policy::Pattern> whitelist;  // its registration whitelist
};

class RemoteDirectory {
 public:
  virtual ~RemoteDirectory() = default;
  // Workloads of other machines matching `p`, in address order.
  virtual std::vector<RemoteWorkload> match(const policy::Pattern& p) const = 0;
  // The one at `address` (another machine's), if its record is held.
  virtual std::optional<RemoteWorkload> find(const std::string& address) const = 0;
};

}  // namespace kith::daemon
