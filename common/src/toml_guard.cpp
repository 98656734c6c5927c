#include "kith/common/toml_guard.h"

namespace kith {
namespace {

bool isBareKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

}  // namespace

std::optional<TomlHazard> findTomlHazard(std::string_view text) {
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
