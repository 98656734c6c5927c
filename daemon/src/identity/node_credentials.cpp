#include "kith/daemon/identity/node_credentials.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/replication/record.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "identity";
constexpr const char* kDelegFile = "deleg";

std::string keyHex(const identity::PublicKey& k) { return toHex(k.data(), k.size()); }

}  // namespace

NodeCredentials::NodeCredentials(Loop& loop, std::string nodeDir, std::shared_ptr<const NodeSnapshot> initial)
    : loop_(loop), nodeDir_(std::move(nodeDir)), current_(std::move(initial)), timer_(loop) {
  if (!nodeDir_.empty()) fingerprint_ = fingerprint(nodeDir_);
}

NodeCredentials::~NodeCredentials() { stop(); }

void NodeCredentials::stop() { timer_.stop(); }

std::string NodeCredentials::readDeleg(const std::string& nodeDir) {
  std::ifstream f(nodeDir + "/" + kDelegFile);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

std::string NodeCredentials::fingerprint(const std::string& nodeDir) {
  std::string fp;
  for (std::string_view name : {identity::kNodeKeyFile, identity::kNodeCertFile, identity::kNodeCaCertFile,
                                identity::kBundleFile, identity::kMachineFile, std::string_view(kDelegFile)}) {
    struct stat st{};
    std::string path = nodeDir + "/" + std::string(name);
    if (::stat(path.c_str(), &st) != 0) {
      fp += "-;";
      continue;
    }
    fp += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
          "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return fp;
}

Result<bool> NodeCredentials::checkForRotation() {
  if (nodeDir_.empty()) return false;
  std::string fp = fingerprint(nodeDir_);
  if (fp == fingerprint_) return false;
  // Remember this state whatever the outcome: a refused directory is retried
  // when it changes again, not every tick.
  fingerprint_ = fp;
  auto refuse = [this](const std::string& why) -> Result<bool> {
    ++rejected_;
    log::warn(kMod, "cert_rotation_rejected", {{"event", "cert_rotation_rejected"}, {"node_dir", nodeDir_},
                                               {"error", why}, {"fix", "the current identity stays in use"}});
    return Status::config(why);
  };
  auto loaded = identity::NodeIdentity::load(nodeDir_);
  if (!loaded.isOk()) return refuse(loaded.status().message());
  const NodeSnapshot& before = *current_;
  if (loaded->machine != before.identity.machine || loaded->trustDomain != before.identity.trustDomain) {
    return refuse("the node directory now names machine '" + loaded->machine + "' of '" + loaded->trustDomain +
                  "'; a rotation keeps machine and trust domain");
  }
  auto snap = std::make_shared<NodeSnapshot>(NodeSnapshot{std::move(loaded).value(), readDeleg(nodeDir_)});
  if (!before.delegLine.empty() || !snap->delegLine.empty()) {
    auto deleg = replication::parseSigned(snap->delegLine);
    if (!deleg.isOk()) return refuse("deleg: " + deleg.status().message());
    auto key = replication::delegKey(*deleg);
    if (!key.isOk() || *key != snap->identity.key.publicKey() || deleg->subject != snap->identity.machine) {
      return refuse("deleg is not for this machine's node key");
    }
  }
  bool sameCerts = snap->identity.certPem == before.identity.certPem &&
                   snap->identity.nodeCaPem == before.identity.nodeCaPem &&
                   snap->identity.rootPem == before.identity.rootPem && snap->delegLine == before.delegLine &&
                   snap->identity.key.publicKey() == before.identity.key.publicKey();
  if (sameCerts) return false;  // touched, not changed
  std::shared_ptr<const NodeSnapshot> old = current_;
  current_ = snap;
  ++rotations_;
  log::info(kMod, "cert_rotated",
            {{"event", "cert_rotated"},
             {"node_dir", nodeDir_},
             {"machine", snap->identity.machine},
             {"new_key", snap->identity.key.publicKey() != old->identity.key.publicKey()},
             {"node_key", keyHex(snap->identity.key.publicKey())},
             {"expires", snap->identity.earliestExpiry()}});
  // Handlers may add or remove handlers: iterate over a copy.
  std::vector<RotateFn> fns;
  for (auto& [id, fn] : handlers_) fns.push_back(fn);
  for (auto& fn : fns) fn(*current_, *old);
  return true;
}

void NodeCredentials::startWatching(uint64_t watchMs) {
  if (nodeDir_.empty() || watchMs == 0) return;
  timer_.start(watchMs, watchMs, [this] { (void)checkForRotation(); });
  timer_.unref();
}

uint64_t NodeCredentials::onRotate(RotateFn fn) {
  uint64_t id = nextHandler_++;
  handlers_[id] = std::move(fn);
  return id;
}

void NodeCredentials::removeRotateHandler(uint64_t id) { handlers_.erase(id); }

}  // namespace kith::daemon
