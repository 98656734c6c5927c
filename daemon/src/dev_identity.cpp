#include "kith/daemon/dev_identity.h"

#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/identity/ca_dir.h"

namespace kith::daemon {

Result<std::string> ensureDevNode(const Config& config) {
  auto dev = identity::ensureDevIdentity(config.home, config.machine, config.trustDomain);
  if (!dev.isOk()) return dev.status();
  const auto& node = dev->node;
  log::info("identity", dev->createdCa || dev->issuedNode ? "dev identity created" : "dev identity loaded",
            {{"ca_dir", dev->caDir},
             {"node_dir", dev->nodeDir},
             {"spiffe_id", node.spiffeId},
             {"expires", node.earliestExpiry()}});
  return toHex(node.key.publicKey().data(), node.key.publicKey().size());
}

}  // namespace kith::daemon
