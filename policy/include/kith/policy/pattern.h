// Pattern: a five-label address pattern, one glob per label, e.g.
// `dev.web.*.*.*` or `*.db.pg-*.default.node?`.
//
// Each of the five labels is matched against the same label of an Address,
// independently (a glob never spans a dot). A pattern label is one of:
//
//   literal   `nginx123`  the label, byte-exact (case-sensitive)
//   any       `*`         any label
//   glob      a label built from label characters [A-Za-z0-9_-] and
//             `*`         any run of zero or more characters   (`pg-*`, `*-db`, `a*b`)
//             `?`         exactly one character                (`node?`)
//             `[...]`     one character from a class: members are label characters
//                         or ranges `a-z`; `[!...]` or `[^...]` negates; a `-` first
//                         or last is literal                   (`[ab]x`, `node[0-9]`,
//                                                               `[!_]*`, `[a-z-]`)
//
// A pattern label is 1..255 bytes (a class may be longer than the one character
// it matches). Nothing else is accepted: no escapes, no `**` spanning labels, no
// braces. `[]` (an empty class) and an unclosed `[` are errors.
//
// Matching does not allocate and is O(label length x pattern label length) in the
// worst case (iterative `*` backtracking, no recursion). A Pattern is an
// immutable value; const use from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/policy/address.h"

namespace kith::policy {

inline constexpr size_t kMaxPatternLabelLength = 255;

class Pattern {
 public:
  enum class LabelKind : uint8_t { kLiteral, kAny, kGlob };

  // Parses exactly five dot-separated pattern labels. Errors are
  // Code::kBadRequest with the label and the reason ("label 3 'pg-[a' in pattern
  // 'dev.db.pg-[a.*.*': '[' is not closed").
  static Result<Pattern> parse(std::string_view text);
  // The pattern that matches exactly `a`.
  static Pattern exact(const Address& a);
  // The pattern that matches every address, `*.*.*.*.*`.
  Pattern();

  bool matches(const Address& a) const;
  // Whether label `i` of the pattern matches `label`.
  bool matchesLabel(size_t i, std::string_view label) const;

  // True iff every label is a literal (the pattern names one address).
  bool isExact() const;
  LabelKind kind(size_t i) const { return kind_[i]; }
  // The pattern text of label i.
  std::string_view label(size_t i) const {
    return std::string_view(text_).substr(offset_[i], length_[i]);
  }
  const std::string& str() const { return text_; }

  friend bool operator==(const Pattern& a, const Pattern& b) { return a.text_ == b.text_; }

 private:
  std::string text_;
  std::array<uint16_t, kAddressLabels> offset_{};
  std::array<uint8_t, kAddressLabels> length_{};
  std::array<LabelKind, kAddressLabels> kind_{};
};

// Matches one label against one glob (syntax above). `glob` must have been
// validated (it came from a Pattern); exposed for tests and the matcher.
bool globMatch(std::string_view glob, std::string_view label);

}  // namespace kith::policy
