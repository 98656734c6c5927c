// Private to the store: RAII ownership of SQLite connections and statements, and
// the one place SQLite result codes become Status (STYLE.md rules 4 and 8).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kith/common/encoding.h"
#include "kith/common/status.h"

namespace kith::daemon::sqlite {

struct DbCloser {
  // close_v2: never fails for a connection whose statements are finalized, and
  // defers the close if one is not (instead of leaking the connection).
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

// "<what>: <SQLite's message>", with the connection's detailed message when it
// describes `rc` (e.g. "UNIQUE constraint failed: workloads.token_hash").
Status error(std::string_view what, sqlite3* db, int rc);

// Runs one or more SQL statements that return no rows we need.
Status exec(sqlite3* db, std::string_view what, const std::string& sql);

// A prepared statement. Binding never fails silently: the first bind error is
// remembered and returned by the next step()/run().
class Stmt {
 public:
  Stmt() = default;
  static Result<Stmt> prepare(sqlite3* db, std::string_view what, std::string_view sql);

  Stmt& bind(int index, int64_t v);
  Stmt& bind(int index, std::string_view v);
  Stmt& bind(int index, const Bytes& v);

  // One step: SQLITE_ROW -> true; SQLITE_DONE -> false with ok status;
  // anything else -> false and an error in *status. Resets nothing.
  bool step(Status* status);
  // Steps to completion, then resets and clears bindings. The result code of the
  // failing step is kept in lastRc() so callers can tell constraint errors apart.
  Status run();
  void reset();
  int lastRc() const { return lastRc_; }

  int64_t columnInt(int col) const;
  std::string columnText(int col) const;
  Bytes columnBlob(int col) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  Stmt(sqlite3* db, std::string what, sqlite3_stmt* s) : db_(db), what_(std::move(what)), stmt_(s) {}
  void noteBind(int rc) {
    if (rc != SQLITE_OK && bindRc_ == SQLITE_OK) bindRc_ = rc;
  }

  sqlite3* db_ = nullptr;
  std::string what_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bindRc_ = SQLITE_OK;
  int lastRc_ = SQLITE_OK;
};

}  // namespace kith::daemon::sqlite
