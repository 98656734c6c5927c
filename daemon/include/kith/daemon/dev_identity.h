// The `kithd --dev` identity: a dev CA and this machine's node identity under
// HOME/ca and HOME/node, made on first start and reused (and checked) after.
#pragma once

#include <string>

#include "kith/common/status.h"
#include "kith/daemon/config.h"

namespace kith::daemon {

// Ensures the dev CA and node identity exist for config.machine; returns the
// node's public key (hex), the machine identity that enters identity hashes.
Result<std::string> ensureDevNode(const Config& config);

}  // namespace kith::daemon
