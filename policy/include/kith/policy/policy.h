// Policy: the compiled, immutable rule set that decides who may talk to whom.
//
// Decision model (also in kith-policy(5)). For a connection from `src` to `dst`
// over `proto`, with the destination port if the destination is a tcp:/udp:
// target, and `dstWhitelist` = the patterns the destination registered:
//
//   1. If any [[deny]] rule matches, DENY. Deny beats everything below.
//   2. If src and dst have the same scope: ALLOW if some [[allow]] rule matches,
//      else ALLOW if some whitelist pattern matches src, else DENY.
//   3. If the scopes differ: ALLOW only if some [[allow]] rule with
//      `cross_scope = true` matches. A whitelist never crosses scopes, and an
//      allow rule without cross_scope only applies within a scope.
//   4. Nothing matched: DENY ("default deny").
//   5. Audit mode turns every DENY into an allow marked `audited`, with the
//      reason and rule it would have been denied by.
//
// Which rule is reported: the first matching [[deny]] in file order; else the
// first qualifying [[allow]] in file order; else "whitelist" with the first
// matching whitelist pattern. Order never changes the outcome, only the report.
//
// Rule lookup goes through a compiled index (see src/rule_index.h), so a decision
// costs ~10 hash probes plus the few rules that share a literal label with the
// pair, not a scan of every rule.
//
// Thread rules: a Policy never changes after compile(); share it as
// std::shared_ptr<const Policy> and swap the pointer to reload (atomically, e.g.
// std::atomic_store or on the loop thread). decide() is safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kith/common/status.h"
#include "kith/policy/address.h"
#include "kith/policy/decision.h"
#include "kith/policy/pattern.h"
#include "kith/policy/rule.h"

namespace kith::policy {

namespace internal {
class RuleIndex;
}

// A `[[test]]` entry: a connection and the expected outcome. Tests check what
// the policy itself decides: audit mode does not make an expected deny pass as
// allow or the other way round.
struct PolicyTest {
  Address from;
  Address to;
  Proto proto = Proto::kTcp;
  std::optional<uint16_t> port;
  std::vector<Pattern> whitelist;  // the destination's registration whitelist
  bool expectAllow = false;
  std::string name;
  uint32_t line = 0;
};

class Policy {
  struct Passkey {};

 public:
  // No rules: default deny, whitelists within a scope. Shared singleton.
  static std::shared_ptr<const Policy> empty();

  // Compiles rules (in file order; ordinals are (re)assigned here) and keeps the
  // tests without running them (see runTests). `source` names the file for
  // "file:line" in decisions.
  static std::shared_ptr<const Policy> compile(std::vector<Rule> rules,
                                               std::vector<PolicyTest> tests, bool audit,
                                               std::string source);

  Policy(Passkey, std::vector<Rule> rules, std::vector<PolicyTest> tests, bool audit,
         std::string source);
  ~Policy();
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  Decision decide(const Address& src, const Address& dst, Proto proto,
                  std::optional<uint16_t> port, const std::vector<Pattern>& dstWhitelist) const;

  // Runs every [[test]]; ok iff all pass, else one line per failure:
  // "policy.toml:40: [[test]] expects deny for A -> B (tcp), but the policy
  // allows: <explain>".
  Status runTests() const;

  bool audit() const { return audit_; }
  const std::string& source() const { return source_; }
  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<PolicyTest>& tests() const { return tests_; }
  // Lint findings that do not reject the file, e.g. an allow rule that can never
  // match because its scopes differ and it does not set cross_scope.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // "file:line" of a rule of this policy.
  std::string where(const Rule& r) const;

 private:
  // The decision without audit mode applied.
  Decision evaluate(const Address& src, const Address& dst, Proto proto,
                    std::optional<uint16_t> port, const std::vector<Pattern>& dstWhitelist) const;
  template <typename Probe>
  void appendNearMiss(const Probe& probe, const Address& src, const Address& dst, Proto proto,
                      std::optional<uint16_t> port, std::string* reason) const;

  std::vector<Rule> rules_;
  std::vector<PolicyTest> tests_;
  bool audit_ = false;
  std::string source_;
  std::vector<std::string> warnings_;
  std::unique_ptr<internal::RuleIndex> index_;
};

}  // namespace kith::policy
