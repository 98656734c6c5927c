// Private to the store: applying the schema migrations to an open connection.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "kith/common/status.h"
#include "kith/daemon/store/store.h"

namespace kith::daemon {

// Brings the database to the last version in `migrations` (which must be
// numbered 1, 2, ... without gaps) and returns that version. Each step runs in
// its own BEGIN IMMEDIATE transaction together with its schema_version update.
// A database at a newer version than `migrations` knows is refused.
Result<int> migrate(sqlite3* db, const std::string& path, const std::vector<Migration>& migrations);

}  // namespace kith::daemon
