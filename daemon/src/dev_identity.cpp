#include "kith/daemon/dev_identity.h"

#include <filesystem>

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

Result<std::string> loadNodeKey(const Config& config) {
  std::error_code ec;
  if (!std::filesystem::exists(config.identity.nodeDir + "/" + std::string(identity::kNodeKeyFile), ec)) {
    log::warn("identity", "no node identity; identity hashes are bound to the machine name only",
              {{"node_dir", config.identity.nodeDir},
               {"fix", "kithctl ca issue-node " + config.machine + " --ca CA_DIR --out " + config.identity.nodeDir}});
    return config.machine;
  }
  auto node = identity::NodeIdentity::load(config.identity.nodeDir);
  if (!node.isOk()) return node.status();
  if (node->machine != config.machine) {
    return Status::config(config.identity.nodeDir + " is the identity of machine '" + node->machine +
                          "', not of '" + config.machine + "'");
  }
  log::info("identity", "node identity loaded", {{"node_dir", config.identity.nodeDir},
                                                 {"spiffe_id", node->spiffeId},
                                                 {"expires", node->earliestExpiry()}});
  return toHex(node->key.publicKey().data(), node->key.publicKey().size());
}

}  // namespace kith::daemon
