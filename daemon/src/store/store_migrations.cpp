#include "store_migrations.h"

#include <charconv>

#include "kith/common/log.h"
#include "store_sqlite.h"

namespace kith::daemon {
namespace {

// Schema v1. Plain CREATE TABLE (not IF NOT EXISTS): a foreign database that
// already has tables of these names fails here instead of being half-adopted.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
CREATE TABLE workloads (
  address        TEXT PRIMARY KEY NOT NULL,
  spiffe_id      TEXT NOT NULL,
  identity_hash  BLOB NOT NULL,
  token_hash     BLOB NOT NULL UNIQUE,
  uid            INTEGER NOT NULL,
  gid            INTEGER NOT NULL,
  pid            INTEGER NOT NULL,
  start_time     INTEGER NOT NULL,
  boot_id        TEXT NOT NULL,
  exe            TEXT NOT NULL,
  app            TEXT NOT NULL,
  whitelist      TEXT NOT NULL DEFAULT '[]',
  target         TEXT NOT NULL DEFAULT '',
  proxy_protocol INTEGER NOT NULL DEFAULT 0,
  protocols      TEXT NOT NULL DEFAULT '["tcp"]',
  ttl_ms         INTEGER NOT NULL,
  registered_at  INTEGER NOT NULL,
  seq            INTEGER NOT NULL
);
CREATE TABLE kv (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
)sql";

// Replicated records (docs/REPLICATION.md): the latest signed record per
// (zone, subject, slot), as its signed line. The slot is the object type,
// except that `srv` and `gone` share the slot `srv` (a tombstone replaces its
// registration). The seq guard in the upsert keeps an older record from ever
// replacing a newer one, whatever the caller does; seqs above 2^63-1 are not
// stored (callers refuse them).
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE records (
  zone        TEXT    NOT NULL,
  subject     TEXT    NOT NULL,
  slot        TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  line        TEXT    NOT NULL,
  valid_until INTEGER NOT NULL,
  PRIMARY KEY (zone, subject, slot)
) WITHOUT ROWID;
CREATE INDEX records_valid_until ON records(valid_until);
)sql";

// FOKS hosts (docs/ARCHITECTURE.md, "FOKS virtual hosts"): every host this
// daemon fronts, primary or virtual, with its ShortHostID (allocated in the
// same transaction as the row, unique), and which primary each vhost aliases.
// The keys and hostchains themselves live in HOME/hosts/<name>/ (HostDir).
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE hosts (
  name        TEXT    PRIMARY KEY NOT NULL,
  host_id     TEXT    NOT NULL UNIQUE,
  short_id    INTEGER NOT NULL UNIQUE CHECK (short_id > 0),
  backend     TEXT    NOT NULL,
  created_at  INTEGER NOT NULL
);
CREATE TABLE vhosts (
  name          TEXT PRIMARY KEY NOT NULL REFERENCES hosts(name) ON DELETE CASCADE,
  primary_name  TEXT NOT NULL REFERENCES hosts(name)
);
CREATE INDEX vhosts_primary ON vhosts(primary_name);
)sql";

// -1: no meta table (a new, empty database is version 0).
Result<int> readVersion(sqlite3* db, const std::string& path) {
  auto hasMeta = sqlite::Stmt::prepare(
      db, "open " + path,
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!hasMeta) return hasMeta.status();
  Status st;
  if (!hasMeta->step(&st)) {
    return st.isOk() ? Status::storage("open " + path, "sqlite_master gave no row") : st;
  }
  bool exists = hasMeta->columnInt(0) > 0;
  hasMeta->reset();
  if (!exists) {
    auto anyTable = sqlite::Stmt::prepare(db, "open " + path,
                                          "SELECT count(*) FROM sqlite_master");
    if (!anyTable) return anyTable.status();
    if (!anyTable->step(&st)) return st.isOk() ? Status::storage("open " + path, "no row") : st;
    if (anyTable->columnInt(0) > 0) {
      return Status::storage("open " + path,
                             "an SQLite database without kith's meta table (not a kith "
                             "state database); refusing to use it");
    }
    return 0;
  }
  auto q = sqlite::Stmt::prepare(db, "open " + path,
                                 "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!q) return q.status();
  if (!q->step(&st)) {
    if (!st.isOk()) return st;
    return Status::storage("open " + path, "meta table has no schema_version");
  }
  std::string text = q->columnText(0);
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) {
    return Status::storage("open " + path, "meta.schema_version is not a version: '" + text + "'");
  }
  return v;
}

}  // namespace

const std::vector<Migration>& storeMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "workloads and kv", kSchemaV1},
      {2, "replicated records", kSchemaV2},
      {3, "FOKS hosts and vhosts", kSchemaV3},
      // Later steps (hosts/vhosts) are appended here; a step is never edited
      // once released.
  };
  return kMigrations;
}

Result<int> migrate(sqlite3* db, const std::string& path, const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Status::internal("store migrations are not numbered 1.." +
                              std::to_string(migrations.size()) + " (step " +
                              std::to_string(i + 1) + " says " +
                              std::to_string(migrations[i].version) + ")");
    }
  }
  const int known = static_cast<int>(migrations.size());
  auto current = readVersion(db, path);
  if (!current) return current.status();
  if (*current > known) {
    return Status::storage(
        "open " + path, "schema version " + std::to_string(*current) +
                            " is newer than this kithd knows (" + std::to_string(known) +
                            "); refusing to use it: run a newer kithd or restore a backup");
  }
  int version = *current;
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    const std::string what =
        "migration " + std::to_string(m.version) + " (" + m.name + ") of " + path;
    KITH_RETURN_IF_ERROR(sqlite::exec(db, what, "BEGIN IMMEDIATE"));
    // Re-read under the write lock: another process may have migrated meanwhile.
    auto again = readVersion(db, path);
    Status st = again.isOk() ? Status::ok() : again.status();
    bool apply = st.isOk() && *again < m.version;
    if (st.isOk() && apply) st = sqlite::exec(db, what, m.sql);
    if (st.isOk() && apply) {
      st = sqlite::exec(db, what,
                        "INSERT INTO meta(key, value) VALUES('schema_version', '" +
                            std::to_string(m.version) +
                            "') ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    }
    if (st.isOk()) st = sqlite::exec(db, what, "COMMIT");
    if (!st.isOk()) {
      if (sqlite3_get_autocommit(db) == 0) (void)sqlite::exec(db, what, "ROLLBACK");
      return st;
    }
    version = apply ? m.version : *again;
    if (apply) {
      log::info("store", "schema migrated",
                {{"path", path}, {"version", m.version}, {"step", m.name}});
    }
  }
  return version;
}

}  // namespace kith::daemon
