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

// Outside --dev: loads the node identity from [identity] node_dir (made by
// `kithctl ca issue-node`) and returns its public key (hex). A missing node
// directory is not an error yet (until replication and tunnels need it): the
// machine name stands in, with a warning. A present but broken one is.
Result<std::string> loadNodeKey(const Config& config);

}  // namespace kith::daemon
