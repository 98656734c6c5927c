#include "kith/policy/pattern.h"

namespace kith::policy {
namespace {

constexpr size_t kNpos = std::string_view::npos;

bool isGlobChar(char c) { return c == '*' || c == '?' || c == '['; }

// Validates the class starting at glob[pos] == '['; on success returns the index
// of its closing ']'. On failure returns kNpos and sets *why.
size_t checkClass(std::string_view glob, size_t pos, std::string* why) {
  size_t i = pos + 1;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) ++i;
  size_t first = i;
  while (i < glob.size() && glob[i] != ']') {
    char c = glob[i];
    if (!isLabelChar(c)) {
      *why = std::string("character class has ") + quoteForMessage(std::string_view(&c, 1)) +
             ", which is not a label character [A-Za-z0-9_-]";
      return kNpos;
    }
    // A range a-z: '-' between two members (a leading or trailing '-' is literal).
    if (i + 2 < glob.size() && glob[i + 1] == '-' && glob[i + 2] != ']') {
      char hi = glob[i + 2];
      if (!isLabelChar(hi)) {
        *why = "character class range ends in a character that is not a label character";
        return kNpos;
      }
      if (hi < c) {
        *why = std::string("character class range '") + c + "-" + hi + "' is reversed";
        return kNpos;
      }
      i += 3;
      continue;
    }
    ++i;
  }
  if (i >= glob.size()) {
    *why = "'[' is not closed";
    return kNpos;
  }
  if (i == first) {
    *why = "character class '[]' is empty";
    return kNpos;
  }
  return i;
}

// Whether the class at glob[pos] == '[' contains c; *end gets the index after ']'.
bool classMatches(std::string_view glob, size_t pos, char c, size_t* end) {
  size_t i = pos + 1;
  bool negate = false;
  if (glob[i] == '!' || glob[i] == '^') {
    negate = true;
    ++i;
  }
  bool hit = false;
  while (glob[i] != ']') {
    char lo = glob[i];
    if (glob[i + 1] == '-' && glob[i + 2] != ']') {
      hit |= (c >= lo && c <= glob[i + 2]);
      i += 3;
    } else {
      hit |= (c == lo);
      ++i;
    }
  }
  *end = i + 1;
  return hit != negate;
}

Status checkPatternLabel(std::string_view label, Pattern::LabelKind* kind) {
  if (label.empty()) return Status::badRequest("is empty");
  if (label.size() > kMaxPatternLabelLength) {
    return Status::badRequest("is " + std::to_string(label.size()) + " bytes; at most " +
                              std::to_string(kMaxPatternLabelLength));
  }
  bool glob = false;
  for (size_t i = 0; i < label.size(); ++i) {
    char c = label[i];
    if (c == '[') {
      std::string why;
      size_t close = checkClass(label, i, &why);
      if (close == kNpos) return Status::badRequest(why);
      i = close;
      glob = true;
    } else if (isGlobChar(c)) {
      glob = true;
    } else if (!isLabelChar(c)) {
      return Status::badRequest("has a character outside [A-Za-z0-9_-] and the glob "
                                "characters * ? [ ]");
    }
  }
  if (!glob) {
    if (label.size() > kMaxLabelLength) {
      return Status::badRequest("is " + std::to_string(label.size()) +
                                " characters; a literal label has at most " +
                                std::to_string(kMaxLabelLength));
    }
    *kind = Pattern::LabelKind::kLiteral;
  } else if (label.find_first_not_of('*') == kNpos) {
    *kind = Pattern::LabelKind::kAny;  // `*`, `**`, ...
  } else {
    *kind = Pattern::LabelKind::kGlob;
  }
  return Status::ok();
}

}  // namespace

bool globMatch(std::string_view glob, std::string_view label) {
  size_t p = 0, s = 0;
  size_t starP = kNpos, starS = 0;
  while (s < label.size()) {
    if (p < glob.size()) {
      char g = glob[p];
      if (g == '*') {
        starP = ++p;
        starS = s;
        continue;
      }
      size_t next = p + 1;
      bool ok = g == '?'   ? true
                : g == '[' ? classMatches(glob, p, label[s], &next)
                           : g == label[s];
      if (ok) {
        p = next;
        ++s;
        continue;
      }
    }
    // Mismatch: let the last `*` swallow one more character, if there is one.
    // Backtracking to the last star only is enough: whatever an earlier star
    // could absorb instead, the last one can absorb too (classic wildmat).
    if (starP == kNpos) return false;
    p = starP;
    s = ++starS;
  }
  while (p < glob.size() && glob[p] == '*') ++p;
  return p == glob.size();
}

Result<Pattern> Pattern::parse(std::string_view text) {
  constexpr std::string_view kExpect =
      "expected 5 (scope.group.identity.resource.machine; '*' matches any label)";
  if (text.empty()) return Status::badRequest("pattern is empty; " + std::string(kExpect));
  size_t n = 1;
  for (char c : text) n += (c == '.');
  if (n != kAddressLabels) {
    return Status::badRequest("pattern " + quoteForMessage(text) + " has " + std::to_string(n) +
                              " labels; " + std::string(kExpect));
  }
  Pattern p;
  size_t start = 0;
  for (size_t i = 0; i < kAddressLabels; ++i) {
    size_t end = text.find('.', start);
    if (end == kNpos) end = text.size();
    std::string_view label = text.substr(start, end - start);
    Status st = checkPatternLabel(label, &p.kind_[i]);
    if (!st.isOk()) {
      return Status::badRequest("label " + std::to_string(i + 1) + " " + quoteForMessage(label) +
                                " in pattern " + quoteForMessage(text) + " " + st.message());
    }
    p.offset_[i] = static_cast<uint16_t>(start);
    p.length_[i] = static_cast<uint8_t>(label.size());
    start = end + 1;
  }
  p.text_ = std::string(text);
  return p;
}

Pattern::Pattern() : text_("*.*.*.*.*") {
  for (size_t i = 0; i < kAddressLabels; ++i) {
    offset_[i] = static_cast<uint16_t>(2 * i);
    length_[i] = 1;
    kind_[i] = LabelKind::kAny;
  }
}

Pattern Pattern::exact(const Address& a) {
  Pattern p;
  p.text_ = a.str();
  for (size_t i = 0; i < kAddressLabels; ++i) {
    std::string_view l = a.label(i);
    p.offset_[i] = static_cast<uint16_t>(l.data() - a.str().data());
    p.length_[i] = static_cast<uint8_t>(l.size());
    p.kind_[i] = LabelKind::kLiteral;
  }
  return p;
}

bool Pattern::matchesLabel(size_t i, std::string_view l) const {
  switch (kind_[i]) {
    case LabelKind::kAny:
      return true;
    case LabelKind::kLiteral:
      return label(i) == l;
    case LabelKind::kGlob:
      return globMatch(label(i), l);
  }
  return false;
}

bool Pattern::matches(const Address& a) const {
  for (size_t i = 0; i < kAddressLabels; ++i) {
    if (!matchesLabel(i, a.label(i))) return false;
  }
  return true;
}

bool Pattern::isExact() const {
  for (LabelKind k : kind_) {
    if (k != LabelKind::kLiteral) return false;
  }
  return true;
}

}  // namespace kith::policy
