// VersionVector: per-zone (per-origin) highest seq held, the summary peers
// exchange for anti-entropy (HELLO and PULL carry it; docs/REPLICATION.md).
//
// JSON form: one flat object {"<zone>":<maxseq>,...}, e.g. {".":3,"node1":42}.
// Parsing is strict (peer input): the whole text is one object; keys are zone
// names ("." or a machine name) without duplicates; values are unsigned
// integers (no sign, fraction or exponent, at most 2^64-1); at most
// kMaxVersionVectorBytes of text and kMaxVersionVectorZones entries.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "kith/common/status.h"

namespace kith::replication {

using VersionVector = std::map<std::string, uint64_t>;

inline constexpr size_t kMaxVersionVectorBytes = 1 << 20;
inline constexpr size_t kMaxVersionVectorZones = 16384;

// Compact JSON, keys in name order: {".":3,"node1":42}; {} when empty.
std::string encodeVersionVector(const VersionVector& vv);
// BAD_REQUEST "version vector: <what is wrong>" on anything but the form above.
Result<VersionVector> parseVersionVector(std::string_view json);

}  // namespace kith::replication
