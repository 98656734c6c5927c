// State directory checks made before the store opens, so that a read-only or
// unwritable state directory is refused at start with the reason and what to
// do (rather than SQLite's "unable to open database file"), and a nearly full
// one is logged.
#pragma once

#include <string>

#include "kith/common/status.h"

namespace kith::daemon {

// Checks the directory that holds `dbPath`: a read-only filesystem or a
// directory this process may not write is a Code::kStorage error naming the
// directory and the fix. Less than 16 MiB free is logged as a warning only.
Status checkStateDir(const std::string& dbPath);

}  // namespace kith::daemon
