// SvidService: X.509-SVIDs for this machine's registered workloads (the
// socket API's `svid` op; SPIRE's Workload API FetchX509SVID is the model).
//
// A registered workload presents its session token; it gets its SPIFFE ID as
// the URI SAN of a fresh certificate for a fresh Ed25519 key pair, issued by
// the node CA (node-ca.crt, which the root certified) and valid `ttlSec`
// (default 1 h), plus the chain (leaf, node CA) and the trust bundle (root).
// The private key is made here and handed over once; the daemon keeps nothing
// of it.
//
// With "watch": true the asking connection also receives `{"event":"svid",...}`
// with a new SVID (new key) at every half life, and at once when the node's
// own identity rotates (NodeCredentials), until the connection closes or the
// registration ends (then the subscription ends silently). Pushes go to that
// connection only: an SVID carries a private key and is never broadcast.
// All subscriptions share one timer armed for the earliest rotation.
//
// Loop thread only. Borrows the registry and the credentials, which outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"
#include "kith/daemon/api/api_connection.h"
#include "kith/daemon/loop/loop.h"
#include "kith/daemon/identity/node_credentials.h"
#include "kith/daemon/registry/registry.h"
#include "kith/identity/ca.h"

namespace kith::daemon {

class SvidService {
 public:
  static constexpr int64_t kMinTtlSec = 2;
  static constexpr int64_t kMaxTtlSec = 30 * 86'400;

  SvidService(Loop& loop, Registry& registry, NodeCredentials& creds, int64_t ttlSec);
  ~SvidService();

  // The `svid` op: {"token":T, "watch":bool}.
  void handle(ApiConnection& c, const nlohmann::json& req, Reply r);
  // A new SVID for `reg`: {spiffe_id, certificate, chain, key, bundle,
  // expires_at, rotate_at, serial}.
  Result<nlohmann::json> issue(const Registration& reg);

  size_t subscriptions() const { return subs_.size(); }
  uint64_t issued() const { return issued_; }

 private:
  struct Sub {
    std::string address;
    Bytes identityHash;  // the registration it belongs to (a replacement ends it)
    std::weak_ptr<ApiConnection> conn;
    uint64_t dueMs = 0;  // monotonic
  };
  void schedule(uint64_t id, uint64_t dueMs);
  void arm();
  void rotateDue();
  void drop(uint64_t id);
  Result<const identity::CertificateAuthority*> issuer();

  Loop& loop_;
  Registry& registry_;
  NodeCredentials& creds_;
  int64_t ttlSec_;
  std::map<uint64_t, Sub> subs_;
  std::set<std::pair<uint64_t, uint64_t>> due_;  // (dueMs, id)
  uint64_t nextSub_ = 1;
  Timer timer_;
  uint64_t watcher_ = 0;
  uint64_t rotateHandler_ = 0;
  std::shared_ptr<const NodeSnapshot> issuerOf_;
  std::optional<identity::CertificateAuthority> issuer_;
  uint64_t issued_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // guards connection close callbacks
};

}  // namespace kith::daemon
