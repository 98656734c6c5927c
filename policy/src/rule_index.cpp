#include "rule_index.h"

#include <limits>

namespace kith::policy::internal {
namespace {

const Pattern& patternAt(const Rule& r, size_t pos) {
  return pos < kAddressLabels ? r.from : r.to;
}

}  // namespace

RuleIndex::RuleIndex(const std::vector<Rule>& rules, const std::vector<uint32_t>& members) {
  // Pass 1: how many rules share each (position, literal label).
  std::array<std::unordered_map<std::string_view, uint32_t>, kPositions> counts;
  for (uint32_t i : members) {
    for (size_t pos = 0; pos < kPositions; ++pos) {
      const Pattern& p = patternAt(rules[i], pos);
      size_t l = pos % kAddressLabels;
      if (p.kind(l) == Pattern::LabelKind::kLiteral) ++counts[pos][p.label(l)];
    }
  }
  // Pass 2: file each rule under its least shared literal label. Members arrive
  // in ascending order, so every list stays sorted.
  for (uint32_t i : members) {
    size_t best = kPositions;
    uint32_t bestCount = std::numeric_limits<uint32_t>::max();
    for (size_t pos = 0; pos < kPositions; ++pos) {
      const Pattern& p = patternAt(rules[i], pos);
      size_t l = pos % kAddressLabels;
      if (p.kind(l) != Pattern::LabelKind::kLiteral) continue;
      uint32_t c = counts[pos][p.label(l)];
      if (c < bestCount) {
        bestCount = c;
        best = pos;
      }
    }
    if (best == kPositions) {
      wildcard_.push_back(i);
    } else {
      const Pattern& p = patternAt(rules[i], best);
      byLabel_[best][std::string(p.label(best % kAddressLabels))].push_back(i);
    }
  }
}

size_t RuleIndex::largestBucketForTest() const {
  size_t n = wildcard_.size();
  for (const Map& m : byLabel_) {
    for (const auto& [label, list] : m) n = std::max(n, list.size());
  }
  return n;
}

}  // namespace kith::policy::internal
