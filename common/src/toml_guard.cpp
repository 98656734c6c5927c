#include "kith/common/toml_guard.h"

namespace kith {
namespace {

bool isBareKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

// toml++ 3.3.0's is_non_ascii_horizontal_whitespace() reaches
// TOML_UNREACHABLE (undefined behaviour) wherever it looks for whitespace
// (between tokens, and while scanning a bad value to report it) for code points its generated lookup
// sends to a missing switch case: U+00A1..U+0499, U+2C5E..U+2FFF,
// U+3001..U+3057 and U+FB26..U+FEFE (so `a = 1 é` is enough). Found by
// fuzzing. wouldReachUnreachable() repeats that function's arithmetic.
bool wouldReachUnreachable(uint32_t c) {
  if (c < 0xA0 || c > 0xFEFF) return false;
  const uint64_t child = (static_cast<uint64_t>(c) - 0xA0) / 0x3FA;
  if ((1ull << child) & 0x7FFFFFFFFFFFF75Eull) return false;
  if (c == 0xA0 || c == 0x3000 || c == 0xFEFF) return false;
  return child != 5 && child != 7;  // the only cases its switch has
}

// Decodes leniently (any byte pattern may reach toml++'s check).
bool unsafeCodePoint(std::string_view text, size_t i, uint32_t* cpOut) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(k < text.size() ? text[k] : 0)); };
  uint32_t c = b(i);
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
  } else if ((c & 0xF0) == 0xE0) {
    cp = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
  } else {
    return false;
  }
  *cpOut = cp;
  return wouldReachUnreachable(cp);
}

std::string hexCodePoint(uint32_t cp) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "U+";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
  return out;
}

}  // namespace

std::optional<TomlHazard> findTomlHazard(std::string_view text) {
  // Anywhere in the text, strings and comments included: after an error toml++
  // may scan on through quotes and '#' (the rest of a bad value) and meet the
  // character there (found by fuzzing too). A string can spell it \uXXXX.
  uint32_t cpLine = 1;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '\n') ++cpLine;
    if (uint32_t cp = 0; unsafeCodePoint(text, k, &cp)) {
      return TomlHazard{cpLine, "character " + hexCodePoint(cp) +
                                    " cannot be used in this file (toml++ 3.3.0 mishandles it); in a string "
                                    "write it as \\u" + hexCodePoint(cp).substr(2)};
    }
  }
  uint32_t line = 1;
  std::string open;         // the open '[' and '{' of values, innermost last
  bool lineStart = true;    // only whitespace so far on this line
  size_t i = 0;
  const size_t n = text.size();
  auto startsWith = [&](std::string_view s) { return text.substr(i, s.size()) == s; };

  while (i < n) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      lineStart = true;
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') {  // comment to end of line
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (startsWith("\"\"\"") || startsWith("'''")) {  // multi-line string
      std::string_view close = text.substr(i, 3);
      bool basic = c == '"';
      i += 3;
      while (i < n && !startsWith(close)) {
        if (basic && text[i] == '\\' && i + 1 < n) {
          if (text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (text[i] == '\n') ++line;
        ++i;
      }
      // A closing run may be up to five quotes long; the extra ones are content.
      while (i < n && text[i] == close[0]) ++i;
      lineStart = false;
      continue;
    }
    if (c == '"' || c == '\'') {  // single-line string; ends at its quote or the line
      ++i;
      while (i < n && text[i] != c && text[i] != '\n') {
        if (c == '"' && text[i] == '\\' && i + 1 < n && text[i + 1] != '\n') ++i;
        ++i;
      }
      if (i < n && text[i] == c) ++i;
      lineStart = false;
      continue;
    }
    if (c == '[' && lineStart && open.empty()) {  // table header
      size_t j = i + 1;
      if (j < n && text[j] == '[') ++j;
      while (j < n && (text[j] == ' ' || text[j] == '\t')) ++j;
      if (j >= n || !(isBareKeyChar(text[j]) || text[j] == '"' || text[j] == '\'')) {
        return TomlHazard{line, "a table header must start with a key ([name] or [[name]])"};
      }
      // The rest of the header line cannot open a value; skip to its end.
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (c == '[' || c == '{') open += c;
    if (c == '}' && !open.empty() && open.back() == '[') {
      // toml++ asserts when an array element starts with '}' (`a = [}`).
      return TomlHazard{line, "'}' inside an array"};
    }
    if ((c == ']' || c == '}') && !open.empty()) open.pop_back();
    lineStart = false;
    ++i;
  }
  return std::nullopt;
}

}  // namespace kith
