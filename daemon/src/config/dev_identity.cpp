#include "kith/daemon/config/dev_identity.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/identity/ca_dir.h"
#include "kith/identity/cert.h"
#include "kith/replication/record.h"
#include "kith/replication/signer.h"

namespace kith::daemon {
namespace {

constexpr const char* kDelegFile = "deleg";

Result<identity::PublicKey> rootKeyOf(const std::string& rootPem) {
  auto info = identity::parseCertificatePem(rootPem);
  if (!info.isOk()) return Status::config("ca.crt: " + info.status().message());
  if (!info->hasEd25519Key) return Status::config("ca.crt: the root key is not Ed25519");
  return info->publicKey;
}

std::string readFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

NodeSetup fromNode(const identity::NodeIdentity& node) {
  NodeSetup s;
  s.machineIdentity = toHex(node.key.publicKey().data(), node.key.publicKey().size());
  s.key = node.key.clone();
  return s;
}

}  // namespace

Result<NodeSetup> ensureDevNode(const Config& config) {
  auto dev = identity::ensureDevIdentity(config.home, config.machine, config.trustDomain);
  if (!dev.isOk()) return dev.status();
  const auto& node = dev->node;
  NodeSetup s = fromNode(node);
  auto root = rootKeyOf(node.rootPem);
  if (!root.isOk()) return root.status();
  s.rootKey = *root;
  // The dev CA is right here: sign (or re-sign) this node's deleg with it.
  std::string delegPath = dev->nodeDir + "/" + kDelegFile;
  std::string existing = readFirstLine(delegPath);
  auto parsed = replication::parseSigned(existing);
  auto key = parsed.isOk() ? replication::delegKey(*parsed) : Result<identity::PublicKey>(parsed.status());
  int64_t now = systemClock().nowMicros() / 1'000'000;
  bool fresh = parsed.isOk() && key.isOk() && *key == node.key.publicKey() && parsed->subject == config.machine &&
               parsed->validUntil > now + identity::kRenewBeforeSeconds;
  if (!fresh) {
    auto ca = identity::loadCa(dev->caDir);
    if (!ca.isOk()) return ca.status();
    // seq in microseconds, like kithctl's: a re-issue outranks the old deleg.
    replication::Record deleg = replication::makeDeleg(config.trustDomain, config.machine,
                                                       static_cast<uint64_t>(systemClock().nowMicros()),
                                                       node.key.publicKey());
    KITH_RETURN_IF_ERROR(replication::sign(deleg, ca->key(), node.certNotBefore, node.certNotAfter));
    std::ofstream out(delegPath, std::ios::trunc);
    out << deleg.line << "\n";
    if (!out) return Status::io("write " + delegPath, "failed");
    existing = deleg.line;
  }
  s.delegLine = existing;
  s.node = std::make_shared<const NodeSnapshot>(NodeSnapshot{std::move(dev->node), s.delegLine});
  log::info("identity", dev->createdCa || dev->issuedNode ? "dev identity created" : "dev identity loaded",
            {{"ca_dir", dev->caDir}, {"node_dir", dev->nodeDir}, {"spiffe_id", s.node->identity.spiffeId},
             {"expires", s.node->identity.earliestExpiry()}});
  return s;
}

Result<NodeSetup> loadNode(const Config& config, bool required) {
  std::error_code ec;
  if (!std::filesystem::exists(config.identity.nodeDir + "/" + std::string(identity::kNodeKeyFile), ec)) {
    if (required) {
      return Status::config("replication needs a node identity in " + config.identity.nodeDir +
                            " (kithctl ca issue-node " + config.machine + " --ca CA_DIR --out " +
                            config.identity.nodeDir + ")");
    }
    log::warn("identity", "no node identity; identity hashes are bound to the machine name only",
              {{"node_dir", config.identity.nodeDir},
               {"fix", "kithctl ca issue-node " + config.machine + " --ca CA_DIR --out " + config.identity.nodeDir}});
    NodeSetup s;
    s.machineIdentity = config.machine;
    return s;
  }
  auto node = identity::NodeIdentity::load(config.identity.nodeDir);
  if (!node.isOk()) return node.status();
  if (node->machine != config.machine) {
    return Status::config(config.identity.nodeDir + " is the identity of machine '" + node->machine +
                          "', not of '" + config.machine + "'");
  }
  NodeSetup s = fromNode(*node);
  auto root = rootKeyOf(node->rootPem);
  if (!root.isOk()) return root.status();
  s.rootKey = *root;
  s.delegLine = readFirstLine(config.identity.nodeDir + "/" + kDelegFile);
  if (required && s.delegLine.empty()) {
    return Status::config(config.identity.nodeDir + "/deleg is missing (kithctl ca issue-node writes it)");
  }
  log::info("identity", "node identity loaded", {{"node_dir", config.identity.nodeDir},
                                                 {"spiffe_id", node->spiffeId},
                                                 {"expires", node->earliestExpiry()}});
  s.node = std::make_shared<const NodeSnapshot>(NodeSnapshot{std::move(node).value(), s.delegLine});
  return s;
}

}  // namespace kith::daemon
