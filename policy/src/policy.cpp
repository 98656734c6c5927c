#include "kith/policy/policy.h"

#include "rule_index.h"

namespace kith::policy {
namespace {

using internal::kNoRule;
using internal::RuleIndex;

// Decisions are built on the hot path: strings are appended into one buffer
// rather than concatenated through temporaries.
void append(std::string* out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out->append(p);
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
  uint32_t allows = 0, denies = 0;
  for (Rule& r : rules_) {
    bool allow = r.action == Rule::Action::kAllow;
    r.ordinal = allow ? ++allows : ++denies;
    if (allow && !r.crossScope && r.from.kind(kScope) == Pattern::LabelKind::kLiteral &&
        r.to.kind(kScope) == Pattern::LabelKind::kLiteral &&
        r.from.label(kScope) != r.to.label(kScope)) {
      warnings_.push_back(where(r) + ": " + r.displayName() + " can never match: from scope '" +
                          std::string(r.from.label(kScope)) + "' and to scope '" +
                          std::string(r.to.label(kScope)) +
                          "' differ and it does not set cross_scope = true");
    }
  }
  index_ = std::make_unique<RuleIndex>(rules_);
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
  d.reason.reserve(128);
  RuleIndex::Probe probe;
  index_->probe(src, dst, &probe);
  const auto protoBit = static_cast<ProtoSet>(proto);

  // 1. Deny rules: the first (file order) matching one decides.
  uint32_t deny = index_->first(probe, Rule::Action::kDeny, protoBit, [&](uint32_t i) {
    return rules_[i].matches(src, dst, proto, port);
  });
  if (deny != kNoRule) {
    const Rule& r = rules_[deny];
    d.rule = r.displayName();
    d.where = where(r);
    append(&d.reason, {"a deny rule matches (from '", r.from.str(), "' to '", r.to.str(),
                       "'); deny beats allow"});
    return d;
  }

  // 2./3. Allow rules; across scopes only those with cross_scope.
  const bool sameScope = src.scope() == dst.scope();
  uint32_t allow = index_->first(probe, Rule::Action::kAllow, protoBit, [&](uint32_t i) {
    const Rule& r = rules_[i];
    return (sameScope || r.crossScope) && r.matches(src, dst, proto, port);
  });
  if (allow != kNoRule) {
    const Rule& r = rules_[allow];
    d.allowed = true;
    d.rule = r.displayName();
    d.where = where(r);
    if (sameScope) {
      append(&d.reason, {"same scope (", src.scope(), "); an allow rule matches"});
    } else {
      append(&d.reason, {"scopes differ (", src.scope(), " vs ", dst.scope(),
                         "); the rule crosses scopes (cross_scope = true)"});
    }
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
    append(&d.reason, {"same scope (", src.scope(), "); the destination's whitelist entry '",
                       listed->str(), "' matches the source"});
    return d;
  }

  // 4. Default deny. Spend a little more here on a useful reason.
  d.rule = "default deny";
  if (sameScope) {
    append(&d.reason, {"same scope (", src.scope(), ") but no allow rule matches and ",
                       dstWhitelist.empty() ? "the destination has no whitelist"
                                            : "no whitelist entry of the destination matches "
                                              "the source"});
  } else {
    append(&d.reason,
           {"scopes differ (", src.scope(), " vs ", dst.scope(), "); no rule crosses scopes"});
    if (listed != nullptr) {
      append(&d.reason, {"; the destination's whitelist entry '", listed->str(),
                         "' matches, but a whitelist never crosses scopes"});
    }
  }
  appendNearMiss(probe, src, dst, proto, port, &d.reason);
  return d;
}

template <typename Probe>
void Policy::appendNearMiss(const Probe& probe, const Address& src, const Address& dst,
                            Proto proto, std::optional<uint16_t> port,
                            std::string* reason) const {
  // The first allow rule (file order) whose patterns match but that failed on
  // scope, protocol or port: most likely the one the operator meant.
  uint32_t first = index_->first(probe, Rule::Action::kAllow, kAllProtos, [&](uint32_t i) {
    return rules_[i].matchesAddresses(src, dst);
  });
  if (first == kNoRule) return;
  const Rule& r = rules_[first];
  append(reason, {"; ", r.displayName(), " at ", where(r), " matches the addresses but "});
  if (src.scope() != dst.scope() && !r.crossScope) {
    reason->append("does not set cross_scope = true");
  } else if (!contains(r.protos, proto)) {
    append(reason, {"allows only ", protoSetName(r.protos), ", not ", protoName(proto)});
  } else {
    std::string ports;
    for (uint16_t p : r.ports) ports += (ports.empty() ? "" : ", ") + std::to_string(p);
    if (port) {
      append(reason, {"names port ", ports, ", not ", std::to_string(*port)});
    } else {
      append(reason, {"names port ", ports, " and the destination has no known port"});
    }
  }
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
