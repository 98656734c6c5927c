#include "kith/daemon/store/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include <nlohmann/json.hpp>

#include "kith/common/json.h"
#include "kith/common/log.h"
#include "kith/common/unique_fd.h"
#include "store_migrations.h"
#include "store_sqlite.h"

namespace kith::daemon {

using sqlite::Stmt;

struct Store::Writer {
  sqlite::DbPtr db;  // declared first: destroyed after the statements
  Stmt begin;
  Stmt commit;
  Stmt rollback;
  Stmt putWorkload;
  Stmt deleteWorkload;
  Stmt putKv;
  Stmt putRecord;
  Stmt deleteRecord;
};

void Store::SqliteCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

namespace {

constexpr const char* kWorkloadColumns =
    "address, spiffe_id, identity_hash, token_hash, uid, gid, pid, start_time, boot_id, "
    "exe, app, whitelist, target, proxy_protocol, protocols, ttl_ms, registered_at, seq";

constexpr const char* kPutWorkloadSql =
    "INSERT INTO workloads(address, spiffe_id, identity_hash, token_hash, uid, gid, pid, "
    "start_time, boot_id, exe, app, whitelist, target, proxy_protocol, protocols, ttl_ms, "
    "registered_at, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
    "?14, ?15, ?16, ?17, ?18) "
    // An upsert, not INSERT OR REPLACE: REPLACE would silently delete another
    // row that holds the same token_hash; this way that is a constraint error.
    "ON CONFLICT(address) DO UPDATE SET spiffe_id = excluded.spiffe_id, "
    "identity_hash = excluded.identity_hash, token_hash = excluded.token_hash, "
    "uid = excluded.uid, gid = excluded.gid, pid = excluded.pid, "
    "start_time = excluded.start_time, boot_id = excluded.boot_id, exe = excluded.exe, "
    "app = excluded.app, whitelist = excluded.whitelist, target = excluded.target, "
    "proxy_protocol = excluded.proxy_protocol, protocols = excluded.protocols, "
    "ttl_ms = excluded.ttl_ms, registered_at = excluded.registered_at, seq = excluded.seq";

std::string encodeList(const std::vector<std::string>& v) {
  // Replace invalid UTF-8 instead of throwing (no exceptions off the parser).
  return dumpJson(nlohmann::json(v));
}

bool decodeList(const std::string& text, std::vector<std::string>* out) {
  nlohmann::json j = parseJson(text);
  if (!j.is_array()) return false;
  out->clear();
  for (const auto& e : j) {
    if (!e.is_string()) return false;
    out->push_back(e.get<std::string>());
  }
  return true;
}

// mkdir -p with mode 0700 for every directory it creates (existing ones are
// left as they are).
Status ensureParentDir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return Status::ok();
  std::filesystem::path cur;
  for (const auto& part : parent) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::fromErrno("mkdir " + cur.string(), errno);
    }
  }
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0) return Status::fromErrno("stat " + parent.string(), errno);
  if (!S_ISDIR(st.st_mode)) return Status::io("open " + path, parent.string() + " is not a directory");
  return Status::ok();
}

// Makes a newly created directory entry durable.
Status syncParentDir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  UniqueFd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Status::fromErrno("open " + parent.string(), errno);
  if (::fsync(fd.get()) != 0) return Status::fromErrno("fsync " + parent.string(), errno);
  return Status::ok();
}

Result<sqlite::DbPtr> openConnection(const std::string& path, int busyTimeoutMs, bool writer) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                           nullptr);
  sqlite::DbPtr db(raw);  // owns the handle even when the open failed
  const std::string what = "open " + path;
  if (rc != SQLITE_OK) return sqlite::error(what, db.get(), rc);
  sqlite3_busy_timeout(db.get(), busyTimeoutMs);
  if (writer) {
    // The first statement reads the header: a non-SQLite file fails here with
    // "file is not a database".
    auto mode = Stmt::prepare(db.get(), what, "PRAGMA journal_mode=WAL");
    if (!mode) return mode.status();
    Status st;
    if (!mode->step(&st)) {
      return st.isOk() ? Status::storage(what, "journal_mode gave no row") : st;
    }
    if (mode->columnText(0) != "wal") {
      return Status::storage(what, "cannot use WAL (journal_mode is " + mode->columnText(0) + ")");
    }
  }
  KITH_RETURN_IF_ERROR(sqlite::exec(db.get(), what,
                                    "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"));
  // All writes go through the writer; the read connection cannot write.
  if (!writer) KITH_RETURN_IF_ERROR(sqlite::exec(db.get(), what, "PRAGMA query_only=ON"));
  return db;
}

Result<Stmt> prepare(sqlite3* db, std::string_view what, const std::string& sql) {
  return Stmt::prepare(db, what, sql);
}

// Binds a records upsert (Writer::putRecord) for `r`.
Stmt& bindRecord(Stmt& s, const RecordRow& r) {
  return s.bind(1, r.zone).bind(2, r.subject).bind(3, r.slot).bind(4, r.seq).bind(5, r.line).bind(6, r.validUntil);
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, Post post, Options options) {
  return openWithMigrationsForTest(path, std::move(post), {}, options);
}

Result<std::unique_ptr<Store>> Store::openWithMigrationsForTest(const std::string& path,
                                                                Post post,
                                                                std::vector<Migration> extra,
                                                                Options options) {
  if (!post) return Status::internal("Store::open " + path + ": no executor to deliver Done callbacks");
  std::vector<Migration> migrations = storeMigrations();
  for (auto& m : extra) migrations.push_back(std::move(m));

  KITH_RETURN_IF_ERROR(ensureParentDir(path));
  // Create the file ourselves so it is 0600 (SQLite would use 0644): it holds
  // token hashes. SQLite gives the -wal and -shm files the same mode.
  bool created = false;
  {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd) {
      created = true;
    } else if (errno != EEXIST) {
      return Status::fromErrno("create " + path, errno);
    }
  }

  std::unique_ptr<Store> store(new Store(path, std::move(post), options));
  auto w = std::make_unique<Writer>();
  auto wdb = openConnection(path, options.busyTimeoutMs, /*writer=*/true);
  if (!wdb) return wdb.status();
  w->db = std::move(*wdb);
  auto version = migrate(w->db.get(), path, migrations);
  if (!version) return version.status();
  store->schemaVersion_ = *version;
  if (created) KITH_RETURN_IF_ERROR(syncParentDir(path));

  struct {
    Stmt* stmt;
    const char* what;
    std::string sql;
  } stmts[] = {
      {&w->begin, "store.begin", "BEGIN IMMEDIATE"},
      {&w->commit, "store.commit", "COMMIT"},
      {&w->rollback, "store.rollback", "ROLLBACK"},
      {&w->putWorkload, "workloads.insert", kPutWorkloadSql},
      {&w->deleteWorkload, "workloads.delete", "DELETE FROM workloads WHERE address = ?1"},
      {&w->putKv, "kv.insert",
       "INSERT INTO kv(key, value) VALUES(?1, ?2) "
       "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
      {&w->putRecord, "records.upsert",
       "INSERT INTO records(zone, subject, slot, seq, line, valid_until) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
       "ON CONFLICT(zone, subject, slot) DO UPDATE SET seq = excluded.seq, line = excluded.line, "
       "valid_until = excluded.valid_until WHERE excluded.seq > records.seq"},
      {&w->deleteRecord, "records.delete",
       "DELETE FROM records WHERE zone = ?1 AND subject = ?2 AND slot = ?3"},
  };
  for (auto& s : stmts) {
    auto p = prepare(w->db.get(), s.what, s.sql);
    if (!p) return p.status();
    *s.stmt = std::move(*p);
  }
  if (options.writerQueryOnlyForTest) {
    KITH_RETURN_IF_ERROR(sqlite::exec(w->db.get(), "open " + path, "PRAGMA query_only=ON"));
  }
  sqlite3_commit_hook(w->db.get(), &Store::commitHook, store.get());

  auto rdb = openConnection(path, options.busyTimeoutMs, /*writer=*/false);
  if (!rdb) return rdb.status();
  store->readDb_.reset(rdb->release());
  store->writer_ = std::move(w);
  store->thread_ = std::thread([s = store.get()] { s->writerMain(); });
  log::info("store", "opened",
            {{"path", path}, {"schema_version", store->schemaVersion_}, {"created", created}});
  return store;
}

Store::Store(std::string path, Post post, Options options)
    : path_(std::move(path)), post_(std::move(post)), options_(options) {}

Store::~Store() { close(); }

void Store::close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard g(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  writer_.reset();
  readDb_.reset();
}

Store::Stats Store::stats() const {
  Stats s;
  s.batchesCommitted = batchesCommitted_.load();
  s.opsCommitted = opsCommitted_.load();
  s.largestBatch = largestBatch_.load();
  s.batchesFailed = batchesFailed_.load();
  s.opsFailed = opsFailed_.load();
  return s;
}

void Store::pauseWriterForTest() {
  std::lock_guard g(mu_);
  paused_ = true;
}

void Store::resumeWriterForTest() {
  {
    std::lock_guard g(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

int Store::commitHook(void* self) {
  // Non-zero turns this COMMIT into a ROLLBACK (SQLITE_CONSTRAINT_COMMITHOOK).
  return static_cast<Store*>(self)->failNextCommit_.exchange(false) ? 1 : 0;
}

void Store::putWorkload(WorkloadRow row, Done done) {
  enqueue(Op{std::move(row), std::move(done)});
}

void Store::deleteWorkload(std::string address, Done done) {
  enqueue(Op{DeleteWorkload{std::move(address)}, std::move(done)});
}

void Store::transact(TxnFn fn, Done done) { enqueue(Op{std::move(fn), std::move(done)}); }

Status Store::readWith(const std::function<Status(sqlite3*)>& fn) {
  if (!readDb_) return Status::storage("read", "store closed");
  return fn(readDb_.get());
}

void Store::putKv(std::string key, std::string value, Done done) {
  enqueue(Op{PutKv{std::move(key), std::move(value)}, std::move(done)});
}

void Store::putRecord(RecordRow row, Done done) { enqueue(Op{std::move(row), std::move(done)}); }

void Store::putRecords(std::vector<RecordRow> rows, Done done) { enqueue(Op{std::move(rows), std::move(done)}); }

void Store::deleteRecord(std::string zone, std::string subject, std::string slot, Done done) {
  enqueue(Op{DeleteRecord{std::move(zone), std::move(subject), std::move(slot)}, std::move(done)});
}

Result<std::vector<RecordRow>> Store::loadRecords() {
  if (!readDb_) return Status::storage("records.load", "store closed");
  auto q = Stmt::prepare(readDb_.get(), "records.load",
                         "SELECT zone, subject, slot, seq, line, valid_until FROM records "
                         "ORDER BY zone, subject, slot");
  if (!q) return q.status();
  std::vector<RecordRow> rows;
  Status st;
  while (q->step(&st)) {
    RecordRow r;
    r.zone = q->columnText(0);
    r.subject = q->columnText(1);
    r.slot = q->columnText(2);
    r.seq = q->columnInt(3);
    r.line = q->columnText(4);
    r.validUntil = q->columnInt(5);
    rows.push_back(std::move(r));
  }
  if (!st.isOk()) return st;
  return rows;
}

void Store::enqueue(Op op) {
  if (closed_) {
    opsFailed_.fetch_add(1);
    post_([done = std::move(op.done)] { done(Status::storage("store", "closed")); });
    return;
  }
  {
    std::lock_guard g(mu_);
    queue_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void Store::writerMain() {
  const size_t cap = std::max<size_t>(1, options_.maxBatchOps);
  std::vector<Op> batch;
  std::vector<Status> results;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return closing_ || (!paused_ && !queue_.empty()); });
      if (queue_.empty()) return;  // closing, and everything is drained
      size_t n = std::min(queue_.size(), cap);
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    commitBatch(batch, results);

    uint64_t ok = 0;
    std::vector<std::pair<Done, Status>> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (results[i].isOk()) ++ok;
      out.emplace_back(std::move(batch[i].done), std::move(results[i]));
    }
    opsCommitted_.fetch_add(ok);
    opsFailed_.fetch_add(batch.size() - ok);
    if (largestBatch_.load() < batch.size()) largestBatch_.store(batch.size());
    batch.clear();
    // One post per batch; the closure owns only the callbacks, never the Store.
    post_([out = std::move(out)]() mutable {
      for (auto& [done, status] : out) done(std::move(status));
    });
  }
}

void Store::commitBatch(std::vector<Op>& batch, std::vector<Status>& results) {
  Writer& w = *writer_;
  results.assign(batch.size(), Status::ok());
  auto failAll = [&](const Status& st) {
    if (sqlite3_get_autocommit(w.db.get()) == 0) (void)w.rollback.run();
    for (auto& r : results) r = st;
    batchesFailed_.fetch_add(1);
    log::error("store", "write batch failed; rolled back",
               {{"ops", batch.size()}, {"error", st.message()}});
  };

  Status st = w.begin.run();
  if (!st.isOk()) return failAll(st);
  for (size_t i = 0; i < batch.size(); ++i) {
    Stmt* stmt = nullptr;
    if (auto* fn = std::get_if<TxnFn>(&batch[i].what)) {
      st = sqlite::exec(w.db.get(), "savepoint", "SAVEPOINT txn");
      if (!st.isOk()) return failAll(st);
      Status own = (*fn)(w.db.get());
      if (!own.isOk()) st = sqlite::exec(w.db.get(), "savepoint", "ROLLBACK TO txn");
      if (st.isOk()) st = sqlite::exec(w.db.get(), "savepoint", "RELEASE txn");
      if (!st.isOk()) return failAll(st);
      results[i] = own;
      continue;
    }
    if (auto* rows = std::get_if<std::vector<RecordRow>>(&batch[i].what)) {
      for (const RecordRow& rec : *rows) {
        st = bindRecord(w.putRecord, rec).run();
        if (st.isOk()) continue;
        // As for a single op (below): a constraint fails this op, not the batch.
        if ((w.putRecord.lastRc() & 0xff) == SQLITE_CONSTRAINT && sqlite3_get_autocommit(w.db.get()) == 0) {
          if (results[i].isOk()) results[i] = st;
          continue;
        }
        return failAll(st);
      }
      continue;
    }
    if (auto* row = std::get_if<WorkloadRow>(&batch[i].what)) {
      stmt = &w.putWorkload;
      stmt->bind(1, row->address)
          .bind(2, row->spiffeId)
          .bind(3, row->identityHash)
          .bind(4, row->tokenHash)
          .bind(5, static_cast<int64_t>(row->uid))
          .bind(6, static_cast<int64_t>(row->gid))
          .bind(7, static_cast<int64_t>(row->pid))
          .bind(8, row->startTime)
          .bind(9, row->bootId)
          .bind(10, row->exe)
          .bind(11, row->app)
          .bind(12, encodeList(row->whitelist))
          .bind(13, row->target)
          .bind(14, static_cast<int64_t>(row->proxyProtocol ? 1 : 0))
          .bind(15, encodeList(row->protocols))
          .bind(16, row->ttlMs)
          .bind(17, row->registeredAt)
          .bind(18, row->seq);
    } else if (auto* del = std::get_if<DeleteWorkload>(&batch[i].what)) {
      stmt = &w.deleteWorkload;
      stmt->bind(1, del->address);
    } else if (auto* rec = std::get_if<RecordRow>(&batch[i].what)) {
      stmt = &bindRecord(w.putRecord, *rec);
    } else if (auto* drec = std::get_if<DeleteRecord>(&batch[i].what)) {
      stmt = &w.deleteRecord;
      stmt->bind(1, drec->zone).bind(2, drec->subject).bind(3, drec->slot);
    } else {
      auto& kv = std::get<PutKv>(batch[i].what);
      stmt = &w.putKv;
      stmt->bind(1, kv.key).bind(2, kv.value);
    }
    st = stmt->run();
    if (st.isOk()) continue;
    // A constraint violation aborts only its own statement and leaves the
    // transaction open: that write fails alone. Anything else (I/O, read-only,
    // disk full) fails the batch.
    if ((stmt->lastRc() & 0xff) == SQLITE_CONSTRAINT && sqlite3_get_autocommit(w.db.get()) == 0) {
      results[i] = st;
      continue;
    }
    return failAll(st);
  }
  st = w.commit.run();
  if (!st.isOk()) return failAll(st);
  batchesCommitted_.fetch_add(1);
}

Result<std::vector<WorkloadRow>> Store::loadWorkloads() {
  if (!readDb_) return Status::storage("workloads.load", "store closed");
  auto q = Stmt::prepare(readDb_.get(), "workloads.load",
                         std::string("SELECT ") + kWorkloadColumns +
                             " FROM workloads ORDER BY address");
  if (!q) return q.status();
  std::vector<WorkloadRow> rows;
  Status st;
  while (q->step(&st)) {
    WorkloadRow r;
    r.address = q->columnText(0);
    r.spiffeId = q->columnText(1);
    r.identityHash = q->columnBlob(2);
    r.tokenHash = q->columnBlob(3);
    r.uid = static_cast<uint32_t>(q->columnInt(4));
    r.gid = static_cast<uint32_t>(q->columnInt(5));
    r.pid = static_cast<int32_t>(q->columnInt(6));
    r.startTime = q->columnInt(7);
    r.bootId = q->columnText(8);
    r.exe = q->columnText(9);
    r.app = q->columnText(10);
    if (!decodeList(q->columnText(11), &r.whitelist)) {
      return Status::storage("workloads.load",
                             "row " + r.address + ": whitelist is not a JSON array of strings");
    }
    r.target = q->columnText(12);
    r.proxyProtocol = q->columnInt(13) != 0;
    if (!decodeList(q->columnText(14), &r.protocols)) {
      return Status::storage("workloads.load",
                             "row " + r.address + ": protocols is not a JSON array of strings");
    }
    r.ttlMs = q->columnInt(15);
    r.registeredAt = q->columnInt(16);
    r.seq = q->columnInt(17);
    rows.push_back(std::move(r));
  }
  if (!st.isOk()) return st;
  return rows;
}

Result<std::optional<std::string>> Store::getKv(const std::string& key) {
  if (!readDb_) return Status::storage("kv.get", "store closed");
  auto q = Stmt::prepare(readDb_.get(), "kv.get", "SELECT value FROM kv WHERE key = ?1");
  if (!q) return q.status();
  q->bind(1, key);
  Status st;
  if (q->step(&st)) return std::optional<std::string>(q->columnText(0));
  if (!st.isOk()) return st;
  return std::optional<std::string>();
}

}  // namespace kith::daemon
