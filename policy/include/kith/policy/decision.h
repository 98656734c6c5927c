// Decision: the outcome of one policy check, with the reason in words.
//
// Produced by Policy::decide; a plain value. `explain()` is the text that goes
// into a connect's UNAUTHORIZED message and `kithctl policy check`.
#pragma once

#include <string>

#include "kith/policy/address.h"

namespace kith::policy {

struct Decision {
  // Whether the connection may proceed. True also when the policy denied it but
  // runs in audit mode (then `audited` is true).
  bool allowed = false;
  // Denied by the policy but let through because of audit mode. Callers log and
  // count these.
  bool audited = false;
  // The deciding rule: its name (or "[[allow]] #3" when unnamed), "whitelist",
  // or "default deny".
  std::string rule;
  // "file:line" of the deciding rule; empty for "whitelist" and "default deny".
  std::string where;
  // Why, for humans: "scopes differ (dev vs prod); no rule crosses scopes".
  std::string reason;

  // Whether the policy itself (audit mode aside) allows the connection.
  bool policyAllows() const { return allowed && !audited; }

  // "<reason> (rule: <rule> at <where>)", plus "; allowed by audit mode" when
  // audited. E.g. "scopes differ (dev vs prod); no rule crosses scopes (rule:
  // default deny)".
  std::string explain() const;
  // "<src> may not reach <dst>: <explain()>" (or "may reach").
  std::string explainFor(const Address& src, const Address& dst) const;
};

}  // namespace kith::policy
