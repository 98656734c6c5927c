// Small text conversions for kithctl's readable output and its arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kith::kithctl {

// A span of milliseconds as "850ms", "42s", "3m12s", "2h05m", "4d03h".
std::string formatDuration(int64_t ms);

// --since TS: microseconds since the epoch ("1795335584332661"), an ISO 8601 UTC
// time ("2026-11-22T08:05:52Z", optionally with ".123456" fractions), or a span
// back from now ("90s", "15m", "2h", "1d"). nullopt if it is none of these.
std::optional<int64_t> parseSince(const std::string& text, int64_t nowMicros);

}  // namespace kith::kithctl
