#include "kith/policy/decision.h"

namespace kith::policy {

std::string Decision::explain() const {
  std::string out = reason;
  out += " (rule: ";
  out += rule;
  if (!where.empty()) {
    out += " at ";
    out += where;
  }
  out += ")";
  if (audited) out += "; allowed by audit mode";
  return out;
}

std::string Decision::explainFor(const Address& src, const Address& dst) const {
  return src.str() + (policyAllows() ? " may reach " : " may not reach ") + dst.str() + ": " +
         explain();
}

}  // namespace kith::policy
