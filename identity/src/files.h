// File helpers for key and certificate files — private to identity/.
//
// Writes are atomic (temp file in the same directory, fsync, rename, fsync of the
// directory), so a crash leaves either the old file or the new one, never half.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "kith/common/status.h"

namespace kith::identity::files {

// Refuses files larger than this: every file identity/ reads is small.
inline constexpr size_t kMaxFileBytes = 1 << 20;

// With `replace` false an existing `path` is a BAD_REQUEST ("... already exists")
// and is left untouched.
Status writeAtomic(const std::string& path, std::string_view content, mode_t mode,
                   bool replace = true);
Result<std::string> read(const std::string& path);
// Like read(), but first refuses a file (checked on the opened descriptor) that is
// not a regular file or whose mode grants group or others any permission.
Result<std::string> readSecret(const std::string& path);
// "0640"
std::string modeString(mode_t mode);
bool exists(const std::string& path);
// Creates `path` with `mode` if missing; an existing directory is accepted as it is.
Status makeDir(const std::string& path, mode_t mode);

}  // namespace kith::identity::files
