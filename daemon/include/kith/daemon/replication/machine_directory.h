// MachineDirectory: what the tunnel broker needs to know of other machines —
// where each takes tunnels (its verified `infra` record) — and whom it tells
// that one did not answer, so that its records are re-checked. The
// replication glue (Replicator) implements it. Loop thread only.
#pragma once

#include <optional>
#include <string>

namespace kith::daemon {

class MachineDirectory {
 public:
  virtual ~MachineDirectory() = default;
  // HOST:PORT where `machine` takes tunnels; nullopt when it publishes none.
  virtual std::optional<std::string> tunnelEndpointOf(const std::string& machine) const = 0;
  // `machine` did not answer a tunnel dial or a connect: re-check what is
  // known of it.
  virtual void recheck(const std::string& machine) = 0;
};

}  // namespace kith::daemon
