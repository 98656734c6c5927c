#include "kith/policy/policy.h"

#include <limits>

#include "rule_index.h"

namespace kith::policy {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

std::string scopesDiffer(const Address& src, const Address& dst) {
  return "scopes differ (" + std::string(src.scope()) + " vs " + std::string(dst.scope()) + ")";
}

std::string connectionText(const PolicyTest& t) {
  std::string out = t.from.str() + " -> " + t.to.str() + " (" + std::string(protoName(t.proto));
  if (t.port) out += " port " + std::to_string(*t.port);
  return out + ")";
}

}  // namespace

std::shared_ptr<const Policy> Policy::empty() {
  static const std::shared_ptr<const Policy> kEmpty = compile({}, {}, false, "<no policy file>");
  return kEmpty;
}

std::shared_ptr<const Policy> Policy::compile(std::vector<Rule> rules,
                                              std::vector<PolicyTest> tests, bool audit,
                                              std::string source) {
  return std::make_shared<const Policy>(Passkey{}, std::move(rules), std::move(tests), audit,
                                        std::move(source));
}

Policy::Policy(Passkey, std::vector<Rule> rules, std::vector<PolicyTest> tests, bool audit,
               std::string source)
    : rules_(std::move(rules)), tests_(std::move(tests)), audit_(audit), source_(std::move(source)) {
  std::vector<uint32_t> allows, denies;
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    Rule& r = rules_[i];
    bool allow = r.action == Rule::Action::kAllow;
    (allow ? allows : denies).push_back(i);
    r.ordinal = static_cast<uint32_t>(allow ? allows.size() : denies.size());
    if (allow && !r.crossScope && r.from.kind(kScope) == Pattern::LabelKind::kLiteral &&
        r.to.kind(kScope) == Pattern::LabelKind::kLiteral &&
        r.from.label(kScope) != r.to.label(kScope)) {
      warnings_.push_back(where(r) + ": " + r.displayName() + " can never match: from scope '" +
                          std::string(r.from.label(kScope)) + "' and to scope '" +
                          std::string(r.to.label(kScope)) +
                          "' differ and it does not set cross_scope = true");
    }
  }
  denyIndex_ = std::make_unique<internal::RuleIndex>(rules_, denies);
  allowIndex_ = std::make_unique<internal::RuleIndex>(rules_, allows);
}

Policy::~Policy() = default;

std::string Policy::where(const Rule& r) const {
  if (r.line == 0) return source_;
  return source_ + ":" + std::to_string(r.line);
}

Decision Policy::decide(const Address& src, const Address& dst, Proto proto,
                        std::optional<uint16_t> port,
                        const std::vector<Pattern>& dstWhitelist) const {
  Decision d = evaluate(src, dst, proto, port, dstWhitelist);
  if (!d.allowed && audit_) {
    d.allowed = true;
    d.audited = true;
  }
  return d;
}

Decision Policy::evaluate(const Address& src, const Address& dst, Proto proto,
                          std::optional<uint16_t> port,
                          const std::vector<Pattern>& dstWhitelist) const {
  Decision d;
  // 1. Deny rules: the first (file order) matching one decides.
  uint32_t deny = kNone;
  denyIndex_->forEachCandidate(
      src, dst,
      [&](uint32_t i) {
        if (!rules_[i].matches(src, dst, proto, port)) return true;
        deny = i;
        return false;
      },
      [&] { return deny; });
  if (deny != kNone) {
    const Rule& r = rules_[deny];
    d.rule = r.displayName();
    d.where = where(r);
    d.reason = "a deny rule matches (from '" + r.from.str() + "' to '" + r.to.str() +
               "'); deny beats allow";
    return d;
  }

  // 2./3. Allow rules; across scopes only those with cross_scope.
  const bool sameScope = src.scope() == dst.scope();
  uint32_t allow = kNone;
  allowIndex_->forEachCandidate(
      src, dst,
      [&](uint32_t i) {
        const Rule& r = rules_[i];
        if (!(sameScope || r.crossScope) || !r.matches(src, dst, proto, port)) return true;
        allow = i;
        return false;
      },
      [&] { return allow; });
  if (allow != kNone) {
    const Rule& r = rules_[allow];
    d.allowed = true;
    d.rule = r.displayName();
    d.where = where(r);
    d.reason = sameScope ? "same scope (" + std::string(src.scope()) + "); an allow rule matches"
                         : scopesDiffer(src, dst) + "; the rule crosses scopes (cross_scope = true)";
    return d;
  }

  const Pattern* listed = nullptr;
  for (const Pattern& p : dstWhitelist) {
    if (p.matches(src)) {
      listed = &p;
      break;
    }
  }
  if (sameScope && listed != nullptr) {
    d.allowed = true;
    d.rule = "whitelist";
    d.reason = "same scope (" + std::string(src.scope()) + "); the destination's whitelist entry '" +
               listed->str() + "' matches the source";
    return d;
  }

  // 4. Default deny. This is the slow path: spend time on a useful reason.
  d.rule = "default deny";
  if (sameScope) {
    d.reason = "same scope (" + std::string(src.scope()) + ") but no allow rule matches and " +
               (dstWhitelist.empty() ? std::string("the destination has no whitelist")
                                     : std::string("no whitelist entry of the destination "
                                                   "matches the source"));
  } else {
    d.reason = scopesDiffer(src, dst) + "; no rule crosses scopes";
    if (listed != nullptr) {
      d.reason += "; the destination's whitelist entry '" + listed->str() +
                  "' matches, but a whitelist never crosses scopes";
    }
  }
  d.reason += nearMiss(src, dst, proto, port);
  return d;
}

std::string Policy::nearMiss(const Address& src, const Address& dst, Proto proto,
                             std::optional<uint16_t> port) const {
  // The first allow rule (file order) whose patterns match but that failed on
  // scope, protocol or port: the most likely thing the operator meant.
  uint32_t first = kNone;
  allowIndex_->forEachCandidate(
      src, dst,
      [&](uint32_t i) {
        if (!rules_[i].matchesAddresses(src, dst)) return true;
        first = i;
        return false;
      },
      [&] { return first; });
  if (first == kNone) return "";
  const Rule& r = rules_[first];
  std::string out = "; " + r.displayName() + " at " + where(r) + " matches the addresses but ";
  if (src.scope() != dst.scope() && !r.crossScope) return out + "does not set cross_scope = true";
  if (!contains(r.protos, proto)) {
    return out + "allows only " + protoSetName(r.protos) + ", not " + std::string(protoName(proto));
  }
  std::string ports;
  for (uint16_t p : r.ports) ports += (ports.empty() ? "" : ", ") + std::to_string(p);
  if (!port) return out + "names port " + ports + " and the destination has no known port";
  return out + "names port " + ports + ", not " + std::to_string(*port);
}

Status Policy::runTests() const {
  std::string failures;
  for (const PolicyTest& t : tests_) {
    Decision d = evaluate(t.from, t.to, t.proto, t.port, t.whitelist);
    if (d.allowed == t.expectAllow) continue;
    if (!failures.empty()) failures += "\n";
    failures += source_ + ":" + std::to_string(t.line) + ": [[test]]" +
                (t.name.empty() ? "" : " '" + t.name + "'") + " expects " +
                (t.expectAllow ? "allow" : "deny") + " for " + connectionText(t) +
                ", but the policy " + (d.allowed ? "allows" : "denies") + ": " + d.explain();
  }
  if (failures.empty()) return Status::ok();
  return Status::config(failures);
}

}  // namespace kith::policy
