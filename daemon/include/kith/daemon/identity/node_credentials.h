// NodeCredentials: the node identity kithd runs with *now* — node key,
// node.crt, node-ca.crt, the trust bundle and the root-signed deleg record —
// and its rotation without a restart.
//
// The operator rotates by writing new files into the node directory (`kithctl
// ca issue-node --replace`, or `kithctl ca csr` + `sign-csr` for the same key).
// checkForRotation() (SIGHUP, and every `watchMs` when started) notices a
// change of any file's (mtime, size, inode), loads and cross-checks the whole
// directory (NodeIdentity::load: key matches node.crt, both certificates
// verify against ca.crt, same machine; deleg names this machine and key), and
// only then swaps it in and tells the subscribers (Replicator: new deleg and,
// for a new key, a new CURVE identity; SvidService: re-issue under the new
// node CA). A directory caught half-written or wrong is refused with a
// `cert_rotation_rejected` log and the current identity stays; it is tried
// again when the files change again. A good one logs `cert_rotated`.
//
// Code that needs the identity later (future TLS links, SVIDs) calls
// current() each time instead of keeping a copy: it is an immutable snapshot
// (shared_ptr<const>), safe to hold while a rotation happens.
//
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/daemon/loop/loop.h"
#include "kith/identity/ca_dir.h"

namespace kith::daemon {

struct NodeSnapshot {
  identity::NodeIdentity identity;
  std::string delegLine;  // "" when the directory has no deleg (replication off)
};

class NodeCredentials {
 public:
  using RotateFn = std::function<void(const NodeSnapshot& now, const NodeSnapshot& before)>;

  // `nodeDir` empty: a fixed identity that never rotates.
  NodeCredentials(Loop& loop, std::string nodeDir, std::shared_ptr<const NodeSnapshot> initial);
  ~NodeCredentials();

  std::shared_ptr<const NodeSnapshot> current() const { return current_; }
  const std::string& nodeDir() const { return nodeDir_; }

  // Looks at the node directory; loads and swaps in a changed, valid identity.
  // Returns true when it rotated, false when nothing changed, an error when the
  // new files were refused (the old identity stays).
  Result<bool> checkForRotation();
  // Also checks every `watchMs` (0: only when asked, e.g. on SIGHUP).
  void startWatching(uint64_t watchMs);
  void stop();

  uint64_t onRotate(RotateFn fn);
  void removeRotateHandler(uint64_t id);

  uint64_t rotations() const { return rotations_; }
  uint64_t rejectedRotations() const { return rejected_; }

  // Reads the deleg file of a node directory ("" when it is missing).
  static std::string readDeleg(const std::string& nodeDir);
  // A cheap fingerprint of the directory's files: (inode, size, mtime) each.
  static std::string fingerprint(const std::string& nodeDir);

 private:
  Loop& loop_;
  std::string nodeDir_;
  std::shared_ptr<const NodeSnapshot> current_;
  std::string fingerprint_;
  Timer timer_;
  std::map<uint64_t, RotateFn> handlers_;
  uint64_t nextHandler_ = 1;
  uint64_t rotations_ = 0, rejected_ = 0;
};

}  // namespace kith::daemon
