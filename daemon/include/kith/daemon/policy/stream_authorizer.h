// StreamAuthorizer: the one place that decides whether a stream may open
// between two workloads, or stay open once the policy changed. The local
// broker (connects on this machine and to other machines), the tunnel broker
// (a stream another daemon opens here) and the live re-check of open streams
// after a policy swap all ask it; none of them repeats the rule.
//
// The rule, in this order (the first refusal is the answer):
//   1. a source that arrived over a tunnel link belongs to that link's
//      certified machine (a daemon speaks only for its own workloads) —
//      UNAUTHORIZED;
//   2. the destination speaks the protocol (its registration's protocols) —
//      CANNOT_CONNECT;
//   3. the policy decides (PolicyManager: deny rules, scope, allow rules, the
//      destination's registration whitelist, audit mode) — UNAUTHORIZED, with
//      the policy's explanation as the message.
//
// authorize() counts the decision and logs denials (PolicyManager::decide);
// recheck() decides the same way for a stream already open and moves no
// counter. Loop thread only; borrows the PolicyManager.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"
#include "kith/policy/address.h"
#include "kith/policy/pattern.h"

namespace kith::daemon {

class PolicyManager;
struct Registration;
struct RemoteWorkload;

// The destination side of a stream, as the rule sees it.
struct StreamTarget {
  const policy::Address& address;
  const std::vector<std::string>& protocols;
  const std::vector<policy::Pattern>& whitelist;
  std::optional<uint16_t> port;  // a tcp target's port, for port rules

  static StreamTarget of(const Registration& r);
  static StreamTarget of(const RemoteWorkload& w);
};

class StreamAuthorizer {
 public:
  explicit StreamAuthorizer(PolicyManager& policy) : policy_(policy) {}

  // May `src` open a `proto` stream to `dst`? `viaMachine` is the machine a
  // tunnel link is certified for when the request came over one ("" for a
  // source on this machine).
  Status authorize(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                   std::string_view viaMachine = {});
  // The same rule for a stream already open; no counters, no log.
  Status recheck(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                 std::string_view viaMachine = {}) const;
  // Step 1 alone, for a request refused before its destination is known.
  static Status checkSource(const policy::Address& src, std::string_view viaMachine);

 private:
  Status decide(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                std::string_view viaMachine, bool count) const;

  PolicyManager& policy_;
};

}  // namespace kith::daemon
