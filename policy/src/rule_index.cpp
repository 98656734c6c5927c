#include "rule_index.h"

namespace kith::policy::internal {
namespace {

const Pattern& patternAt(const Rule& r, size_t pos) {
  return pos < kAddressLabels ? r.from : r.to;
}

std::string_view labelAt(const Address& src, const Address& dst, size_t pos) {
  return pos < kAddressLabels ? src.label(pos) : dst.label(pos - kAddressLabels);
}

}  // namespace

RuleIndex::RuleIndex(const std::vector<Rule>& rules) {
  // Pass 1: how many rules share each (position, literal label).
  std::array<std::unordered_map<std::string_view, uint32_t>, kPositions> counts;
  for (const Rule& r : rules) {
    for (size_t pos = 0; pos < kPositions; ++pos) {
      const Pattern& p = patternAt(r, pos);
      size_t l = pos % kAddressLabels;
      if (p.kind(l) == Pattern::LabelKind::kLiteral) ++counts[pos][p.label(l)];
    }
  }
  // Pass 2: file each rule under its least shared literal label. Rules arrive in
  // ascending order, so every list stays sorted.
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    Entry e{i, r.protos, {}};
    size_t best = kPositions;
    uint32_t bestCount = kNoRule;
    for (size_t pos = 0; pos < kPositions; ++pos) {
      const Pattern& p = patternAt(r, pos);
      size_t l = pos % kAddressLabels;
      if (p.kind(l) != Pattern::LabelKind::kLiteral) continue;
      e.fingerprint[pos] = fingerprintOf(hashLabel(p.label(l)));
      uint32_t c = counts[pos][p.label(l)];
      if (c < bestCount) {
        bestCount = c;
        best = pos;
      }
    }
    Buckets* b = &wildcard_;
    if (best != kPositions) {
      b = &byLabel_[best][std::string(patternAt(r, best).label(best % kAddressLabels))];
    }
    (r.action == Rule::Action::kDeny ? b->deny : b->allow).push_back(e);
  }
  // Buckets were grown one entry at a time; give back the slack.
  for (Map& m : byLabel_) {
    for (auto& [label, buckets] : m) {
      buckets.deny.shrink_to_fit();
      buckets.allow.shrink_to_fit();
    }
  }
}

void RuleIndex::probe(const Address& src, const Address& dst, Probe* out) const {
  out->lists = 0;
  auto add = [out](const Buckets& b) {
    out->deny[out->lists] = &b.deny;
    out->allow[out->lists] = &b.allow;
    ++out->lists;
  };
  if (!wildcard_.deny.empty() || !wildcard_.allow.empty()) add(wildcard_);
  for (size_t pos = 0; pos < kPositions; ++pos) {
    std::string_view label = labelAt(src, dst, pos);
    size_t h = hashLabel(label);
    out->fingerprint[pos] = fingerprintOf(h);
    const Map& m = byLabel_[pos];
    if (m.empty()) continue;
    auto it = m.find(Lookup{label, h});
    if (it != m.end()) add(it->second);
  }
}

}  // namespace kith::policy::internal
