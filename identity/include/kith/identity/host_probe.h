// The client side of a FOKS probe: checking a probe answer and pinning what
// was learned, so that a later probe cannot roll the host back or fork it.
//
// checkProbeAnswer: the answer's hostchain replays (hostchain.h), names the
// HostID asked for (if one was) and the hostname asked for (if one was); its
// zone is for that host and verifies with the live metadata key (a vhost's
// with its primary's, whose chain comes with the answer and must be the one
// the vhost's Alias link names).
//
// HostPins (a JSON file the client keeps): hostname -> HostID, and per HostID
// the seqno and hash of the newest link seen. check() refuses, each with its
// own message prefix:
//   "pin: "      a hostname pinned to another HostID
//   "rollback: " a chain shorter than the one held
//   "fork: "     a chain whose link at the held seqno is not the held link
// record() then remembers the answer. Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kith/common/encoding.h"
#include "kith/common/status.h"
#include "kith/identity/host_id.h"
#include "kith/identity/host_zone.h"
#include "kith/identity/hostchain.h"

namespace kith::identity {

struct ProbeAnswer {
  std::string hostname;
  HostId hostId;
  std::vector<HostchainLink> chain;
  HostZone zone;
  // A vhost's primary.
  std::optional<std::string> primaryHostname;
  std::optional<HostId> primaryId;
  std::vector<HostchainLink> primaryChain;
};

Result<ProbeAnswer> parseProbeAnswer(const nlohmann::json& j);

struct CheckedProbe {
  HostState state;
  std::optional<HostState> primary;
  // The state whose keys sign for this host (the primary's for a vhost).
  const HostState& keys() const { return primary ? *primary : state; }
};

Result<CheckedProbe> checkProbeAnswer(const ProbeAnswer& a, const std::optional<std::string>& askedName,
                                      const std::optional<HostId>& askedId);

// The server's certificate (leaf, and the CA it presented) is for `hostname`
// and issued by the TLS CA key the hostchain holds live.
Status checkServerCertificate(const Bytes& leafDer, const Bytes& caDer, const std::string& hostname,
                              const HostState& keys);

class HostPins {
 public:
  static Result<HostPins> load(const std::string& path);  // a missing file is empty pins
  Status save(const std::string& path) const;

  Status check(const ProbeAnswer& a, const HostState& state) const;
  void record(const ProbeAnswer& a, const HostState& state);

  nlohmann::json toJson() const;

 private:
  struct Held {
    uint64_t seqno = 0;
    std::vector<std::string> hashes;  // hex, one per link 1..seqno
  };
  std::map<std::string, std::string> names_;  // hostname -> HostID text
  std::map<std::string, Held> chains_;        // HostID text -> held chain
};

}  // namespace kith::identity
