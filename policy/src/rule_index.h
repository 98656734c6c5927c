// RuleIndex (private): finds the candidate rules for a (src, dst) pair without
// scanning every rule.
//
// Each rule is filed under exactly one key: the literal label of its `from` or
// `to` pattern (10 positions: from.scope .. from.machine, to.scope ..
// to.machine) that the fewest rules share — the most selective one. A rule with
// no literal label at all goes to the wildcard list. A lookup probes, for each of
// the 10 positions, the bucket of the address's label at that position, plus the
// wildcard list: every rule that can match is in one of those 11 lists (its key
// label is literal, so it can only match an address with that label there).
// Candidates are a superset; the caller checks each with Rule::matches.
//
// Buckets hold rule numbers in ascending (file) order, so a caller that wants the
// first match by file order can stop a bucket at the first hit, and skip entries
// past its best so far.
//
// Cost: 10 hash probes plus the candidates. Rules whose every label is a glob
// all land in the wildcard list and are scanned linearly; that is the price of
// writing them (the man page says so).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kith/policy/address.h"
#include "kith/policy/rule.h"

namespace kith::policy::internal {

class RuleIndex {
 public:
  RuleIndex() = default;
  // Indexes rules[i] for every i in `members` (ascending).
  RuleIndex(const std::vector<Rule>& rules, const std::vector<uint32_t>& members);

  // Calls `visit(uint32_t rule)` for the rules of each list the pair can hit, one
  // list after another, ascending within a list. `visit` returns false to stop
  // the current list (it found what it wanted there). `limit()` returns the
  // caller's best rule number so far; a list stops at the first entry >= it.
  template <typename Visit, typename Limit>
  void forEachCandidate(const Address& src, const Address& dst, Visit&& visit,
                        Limit&& limit) const {
    scanList(wildcard_, visit, limit);
    for (size_t pos = 0; pos < kPositions; ++pos) {
      const Map& m = byLabel_[pos];
      if (m.empty()) continue;
      std::string_view label = pos < kAddressLabels ? src.label(pos) : dst.label(pos - kAddressLabels);
      auto it = m.find(label);
      if (it != m.end()) scanList(it->second, visit, limit);
    }
  }

  size_t wildcardSizeForTest() const { return wildcard_.size(); }
  size_t largestBucketForTest() const;

 private:
  static constexpr size_t kPositions = 2 * kAddressLabels;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, std::vector<uint32_t>, Hash, std::equal_to<>>;

  template <typename Visit, typename Limit>
  static void scanList(const std::vector<uint32_t>& list, Visit& visit, Limit& limit) {
    for (uint32_t r : list) {
      if (r >= limit()) return;
      if (!visit(r)) return;
    }
  }

  std::array<Map, kPositions> byLabel_;
  std::vector<uint32_t> wildcard_;
};

}  // namespace kith::policy::internal
