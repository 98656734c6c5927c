#include "store_sqlite.h"

#include <utility>

namespace kith::daemon::sqlite {

Status error(std::string_view what, sqlite3* db, int rc) {
  // The connection's message is the detailed one, but only while it still
  // describes this failure (a later call may have replaced it).
  if (db != nullptr && sqlite3_extended_errcode(db) == rc) {
    return Status::storage(what, sqlite3_errmsg(db));
  }
  return Status::storage(what, sqlite3_errstr(rc));
}

Status exec(sqlite3* db, std::string_view what, const std::string& sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return Status::ok();
  std::string detail = msg != nullptr ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  return Status::storage(what, detail);
}

Result<Stmt> Stmt::prepare(sqlite3* db, std::string_view what, std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(s);
    return error(std::string(what) + " (prepare)", db, rc);
  }
  return Stmt(db, std::string(what), s);
}

Stmt& Stmt::bind(int index, int64_t v) {
  noteBind(sqlite3_bind_int64(stmt_.get(), index, v));
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view v) {
  noteBind(sqlite3_bind_text64(stmt_.get(), index, v.data(), v.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
  return *this;
}

Stmt& Stmt::bind(int index, const Bytes& v) {
  // A null pointer would bind SQL NULL; an empty blob is a zero-length blob.
  if (v.empty()) {
    noteBind(sqlite3_bind_zeroblob(stmt_.get(), index, 0));
  } else {
    noteBind(sqlite3_bind_blob64(stmt_.get(), index, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  return *this;
}

bool Stmt::step(Status* status) {
  if (bindRc_ != SQLITE_OK) {
    lastRc_ = bindRc_;
    *status = error(what_ + " (bind)", db_, bindRc_);
    return false;
  }
  int rc = sqlite3_step(stmt_.get());
  lastRc_ = rc;
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    *status = Status::ok();
    return false;
  }
  lastRc_ = sqlite3_extended_errcode(db_);
  *status = error(what_, db_, lastRc_);
  return false;
}

Status Stmt::run() {
  Status st;
  while (step(&st)) {
  }
  reset();
  return st;
}

void Stmt::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bindRc_ = SQLITE_OK;
}

int64_t Stmt::columnInt(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

std::string Stmt::columnText(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

Bytes Stmt::columnBlob(int col) const {
  const void* p = sqlite3_column_blob(stmt_.get(), col);
  int n = sqlite3_column_bytes(stmt_.get(), col);
  if (p == nullptr || n <= 0) return {};
  const auto* b = static_cast<const uint8_t*>(p);
  return Bytes(b, b + n);
}

}  // namespace kith::daemon::sqlite
