// TOML input guard: rejects inputs that crash toml++ 3.3.0. Every parser of
// untrusted TOML (policy files, kithd.toml) calls it before toml::parse.
//
// Debian bookworm's toml++ 3.3.0 asserts (abort in a debug build, undefined
// behaviour under NDEBUG, where the assert becomes an optimizer assumption) when
// a table header's `[` or `[[` is not followed by a key: `[{`, `[.`, `[ #`,
// `[[=`, ... (upstream marzer/tomlplusplus PR #301), and when an array element
// starts with `}` (`a = [}`). Policy files are operator input and must be
// rejected gracefully, so this small lexer finds table headers (a `[` that starts
// a line outside any string, array or inline table) and checks that a key
// follows, and rejects a `}` whose innermost open bracket is an array's `[`
// (never valid TOML), before toml++ ever sees the text. Found by fuzzing (see
// tests/unit/policy/policy_file_test.cpp).
//
// It only needs to agree with toml++ on valid TOML up to the first error: toml++
// stops at its first error, so text after an error never reaches the header
// parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kith {

struct TomlHazard {
  uint32_t line;
  std::string why;
};

// The first header that toml++ would crash on, if any.
std::optional<TomlHazard> findTomlHazard(std::string_view text);

}  // namespace kith
