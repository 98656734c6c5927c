#include "format.h"

#include <cctype>
#include <cstdio>

#include "kith/common/clock.h"

namespace kith::kithctl {
namespace {

bool allDigits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string formatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
    return buf;
  }
  long long s = ms / 1000;
  if (s < 60) std::snprintf(buf, sizeof buf, "%llds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else std::snprintf(buf, sizeof buf, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
  return buf;
}

std::optional<int64_t> parseSince(const std::string& text, int64_t nowMicros) {
  if (allDigits(text)) return std::stoll(text);
  // A span back from now: digits and one unit.
  if (text.size() >= 2 && allDigits(text.substr(0, text.size() - 1))) {
    int64_t n = std::stoll(text.substr(0, text.size() - 1));
    int64_t unit = 0;
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return std::nullopt;
    }
    return nowMicros - n * unit * 1'000'000;
  }
  // ISO 8601 UTC, with optional fraction before the Z.
  std::string whole = text;
  int64_t fracMicros = 0;
  if (auto dot = text.find('.'); dot != std::string::npos) {
    if (text.back() != 'Z') return std::nullopt;
    std::string frac = text.substr(dot + 1, text.size() - dot - 2);
    if (frac.empty() || frac.size() > 6 || !allDigits(frac)) return std::nullopt;
    frac.append(6 - frac.size(), '0');
    fracMicros = std::stoll(frac);
    whole = text.substr(0, dot) + "Z";
  }
  int64_t seconds = 0;
  if (!parseSecondsIso(whole, &seconds)) return std::nullopt;
  return seconds * 1'000'000 + fracMicros;
}

}  // namespace kith::kithctl
