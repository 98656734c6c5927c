// The node identity kithd runs with: in `--dev`, a dev CA and this machine's
// node identity under HOME/ca and HOME/node, made on first start and reused
// (and checked) after; otherwise [identity] node_dir, made by
// `kithctl ca issue-node` (node.key, node.crt, ca.crt, deleg).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "kith/common/status.h"
#include "kith/daemon/config/config.h"
#include "kith/daemon/identity/node_credentials.h"
#include "kith/identity/keys.h"

namespace kith::daemon {

struct NodeSetup {
  // What enters identity hashes: the node public key (hex), or the machine
  // name when no node identity exists yet (non-dev, no node_dir).
  std::string machineIdentity;
  std::optional<identity::SigningKey> key;  // the node key, when present
  identity::PublicKey rootKey{};            // the trust domain's root (from ca.crt)
  std::string delegLine;                    // the root-signed deleg record ("" if none)
  // The whole loaded identity (SVIDs, rotation); nullptr without a node directory.
  std::shared_ptr<const NodeSnapshot> node;
};

// --dev: ensures the dev CA and node identity exist for config.machine, and the
// deleg record (signed here with the dev CA's root key, written to HOME/node/deleg).
Result<NodeSetup> ensureDevNode(const Config& config);

// Outside --dev: loads [identity] node_dir. A missing node directory is not an
// error unless `required` (replication needs it): the machine name stands in,
// with a warning. A present but broken one is always an error.
Result<NodeSetup> loadNode(const Config& config, bool required);

}  // namespace kith::daemon
