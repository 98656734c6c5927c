#include "kith/daemon/dev_identity.h"

namespace kith::daemon {

Result<std::string> ensureDevNode(const Config& config) {
  // Filled in once identity/ca_dir lands: until then the machine name stands in.
  return config.machine;
}

}  // namespace kith::daemon
