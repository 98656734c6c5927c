// RuleIndex (private): finds the first matching rule for a (src, dst) pair
// without scanning every rule.
//
// Filing. Each rule is filed under exactly one key: the literal label of its
// `from` or `to` pattern (10 positions: from.scope .. from.machine, to.scope ..
// to.machine) that the fewest rules share — the most selective one. A rule with
// no literal label at all goes to the wildcard list. Every rule that can match a
// pair is therefore in the wildcard list or in the bucket of the pair's own label
// at the rule's key position, so a lookup probes 10 buckets plus the wildcard
// list.
//
// Filtering. Each bucket entry carries, besides the rule number, a one-byte
// fingerprint of the rule's literal label at each of the 10 positions (0 for a
// glob or `*`) and the rule's protocols. A candidate whose fingerprints disagree
// with the pair's cannot match and is skipped without touching the Rule (which
// at 100,000 rules is a cache miss); the survivors are checked exactly with
// Rule::matches. Fingerprints only ever reject rules that cannot match.
//
// Order. Lists are in ascending rule number (file order) and deny and allow rules
// are kept in separate lists, so "first matching deny" and "first qualifying
// allow" stop a list at its first hit and skip entries past the best so far.
//
// Cost: 10 label hashes, up to 10 hash probes, and a scan of 16-byte entries.
// Rules whose every label is a glob all land in the wildcard list and are
// scanned on every decision (the fingerprint test still applies to them); the man
// page says so.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kith/policy/address.h"
#include "kith/policy/rule.h"

namespace kith::policy::internal {

inline constexpr uint32_t kNoRule = std::numeric_limits<uint32_t>::max();

class RuleIndex {
 public:
  static constexpr size_t kPositions = 2 * kAddressLabels;

  struct Entry {
    uint32_t rule;
    ProtoSet protos;
    std::array<uint8_t, kPositions> fingerprint;  // 0 = any label
  };
  using List = std::vector<Entry>;

  // The lists one pair can hit, and the pair's fingerprints. Filled by probe().
  struct Probe {
    std::array<const List*, kPositions + 1> deny{};
    std::array<const List*, kPositions + 1> allow{};
    size_t lists = 0;
    std::array<uint8_t, kPositions> fingerprint{};
  };

  RuleIndex() = default;
  explicit RuleIndex(const std::vector<Rule>& rules);

  void probe(const Address& src, const Address& dst, Probe* out) const;

  // The lowest rule number among `action` rules of the probed lists that allow
  // a protocol in `protos`, pass the fingerprint test and satisfy
  // `check(rule number)`; kNoRule if none.
  template <typename Check>
  uint32_t first(const Probe& p, Rule::Action action, ProtoSet protos, Check&& check) const {
    uint32_t best = kNoRule;
    const auto& lists = action == Rule::Action::kDeny ? p.deny : p.allow;
    for (size_t l = 0; l < p.lists; ++l) {
      for (const Entry& e : *lists[l]) {
        if (e.rule >= best) break;
        if ((e.protos & protos) == 0 || !fingerprintsAgree(e.fingerprint, p.fingerprint)) continue;
        if (check(e.rule)) {
          best = e.rule;
          break;
        }
      }
    }
    return best;
  }

 private:
  struct Buckets {
    List deny;
    List allow;
  };
  struct Lookup {
    std::string_view label;
    size_t hash;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(const std::string& s) const noexcept { return hashLabel(s); }
    size_t operator()(const Lookup& k) const noexcept { return k.hash; }
  };
  struct Equal {
    using is_transparent = void;
    bool operator()(const std::string& a, const std::string& b) const { return a == b; }
    bool operator()(const std::string& a, const Lookup& b) const { return a == b.label; }
    bool operator()(const Lookup& a, const std::string& b) const { return a.label == b; }
  };
  using Map = std::unordered_map<std::string, Buckets, Hash, Equal>;

  static size_t hashLabel(std::string_view s) noexcept { return std::hash<std::string_view>{}(s); }
  static uint8_t fingerprintOf(size_t hash) {
    auto f = static_cast<uint8_t>(hash >> 56);
    return f == 0 ? 1 : f;
  }
  static bool fingerprintsAgree(const std::array<uint8_t, kPositions>& rule,
                                const std::array<uint8_t, kPositions>& pair) {
    bool ok = true;
    for (size_t i = 0; i < kPositions; ++i) ok &= (rule[i] == 0) | (rule[i] == pair[i]);
    return ok;
  }

  std::array<Map, kPositions> byLabel_;
  Buckets wildcard_;
};

}  // namespace kith::policy::internal
