// Store: kithd's durable state, one SQLite database file (HOME/state.db).
//
// What it holds: the local workload registrations (table `workloads`) and small
// daemon facts (table `kv`: machine name, per-origin sequence counter, ...).
// The schema is versioned (table `meta`, key `schema_version`) and upgraded by an
// ordered list of migrations, each applied in its own transaction. A database
// whose schema_version is newer than this code knows is refused, never used.
//
// Durability. The file is opened with journal_mode=WAL and synchronous=FULL. In
// WAL mode a COMMIT appends the transaction's pages to the -wal file; with
// synchronous=FULL SQLite fsyncs the WAL before COMMIT returns (and SQLite's unix
// VFS fsyncs the directory when it creates the -wal file; open() fsyncs the
// directory after creating the database file itself). A write's Done is called
// only after its COMMIT returned, so an acknowledged write is on stable storage:
// it survives kill -9 (which only needs it in the kernel's page cache) and power
// loss (which needs the fsync — synchronous=NORMAL would sync only at checkpoints
// and could lose the last acknowledged transactions). Writes not yet acknowledged
// may or may not survive; a torn WAL tail is discarded by SQLite on recovery, so
// the file is never left half-written.
//
// Group commit. Writes are queued by the caller (the loop thread) and applied by
// one dedicated writer thread that takes everything queued so far (at most
// Options::maxBatchOps) and commits it as ONE transaction — BEGIN IMMEDIATE ...
// COMMIT, i.e. one fsync per batch however many writes it holds. Writes are
// applied in call order, and their Done callbacks run in call order.
//
// Threads. The Store is created, used and destroyed on one thread (the loop
// thread); its methods are not safe to call concurrently with each other. Reads
// (loadWorkloads, getKv) are synchronous and meant for startup, before the loop
// serves; they use their own connection and see committed data only. The writer
// thread owns a second connection. Done callbacks never run on the writer thread:
// they are handed to the `post` executor given to open(), which must be callable
// from any thread and must run each function it is given, in order, on the loop
// thread (the daemon posts through uv_async). The Store does not depend on libuv.
//
// Done contract. Every write call (putWorkload, deleteWorkload, putKv) is
// accepted and calls its Done exactly once, through `post`, never synchronously
// from inside the call:
//   - ok when its batch committed;
//   - the batch's error (Code::kStorage) for every write in the batch when the
//     batch fails (BEGIN, an I/O or read-only error, or COMMIT fails); the whole
//     batch is rolled back and previously committed data is untouched;
//   - its own error (Code::kStorage) when only that statement violates a
//     constraint (e.g. a token_hash already held by another address); SQLite
//     undoes just that statement and the rest of the batch commits;
//   - an error (Code::kStorage, "store closed") when called after close().
// close() (and the destructor) stops accepting writes, lets the writer commit
// everything already queued, posts every remaining Done and joins the thread.
// The Done functions are posted after close() returns only if the executor runs
// them later; the caller keeps running its executor until they have drained.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "kith/common/encoding.h"
#include "kith/common/status.h"

struct sqlite3;

namespace kith::daemon {

// One local workload registration, as persisted. Owned by the registry; the
// store only saves and loads it.
struct WorkloadRow {
  std::string address;     // five labels, ends in this machine's name; primary key
  std::string spiffeId;
  Bytes identityHash;      // BLAKE2b, see ARCHITECTURE.md "Attestation"
  Bytes tokenHash;         // hash of the session token; unique across rows
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  // Process start time in clock ticks since boot (/proc/<pid>/stat field 22);
  // with bootId it pins the process across pid reuse.
  int64_t startTime = 0;
  std::string bootId;      // /proc/sys/kernel/random/boot_id when registered
  std::string exe;
  std::string app;
  std::vector<std::string> whitelist;  // patterns; stored as a JSON array
  std::string target;                  // "" | "unix:/path" | "tcp:127.0.0.1:8080"
  bool proxyProtocol = false;
  std::vector<std::string> protocols;  // stored as a JSON array
  int64_t ttlMs = 0;
  int64_t registeredAt = 0;  // microseconds since the epoch
  int64_t seq = 0;           // per-origin sequence number of its record

  bool operator==(const WorkloadRow&) const = default;
};

// One schema step. Versions are consecutive from 1; `sql` may hold several
// statements and runs inside one transaction together with the schema_version
// update, so a step is applied entirely or not at all.
// A replicated record as stored: the latest signed line per (zone, subject,
// slot); slot = the object type, `srv` for both srv and gone.
struct RecordRow {
  std::string zone;
  std::string subject;
  std::string slot;
  int64_t seq = 0;
  std::string line;        // the signed record, as received
  int64_t validUntil = 0;  // unix seconds, for reaping
  bool operator==(const RecordRow&) const = default;
};

struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

// The migrations this code knows, in order. The last one's version is the
// schema version new databases get.
const std::vector<Migration>& storeMigrations();

struct StoreOptions {
  // Upper bound on writes per transaction, to bound the latency of a batch.
  size_t maxBatchOps = 4096;
  // SQLite busy_timeout for both connections.
  int busyTimeoutMs = 5000;
  // Test hook: the writer connection is put in PRAGMA query_only mode after
  // migrations, so every write fails as on a read-only database.
  bool writerQueryOnlyForTest = false;
};

struct StoreStats {
  uint64_t batchesCommitted = 0;
  uint64_t opsCommitted = 0;     // writes that committed (ok Done)
  uint64_t largestBatch = 0;     // most writes taken into one transaction
  uint64_t batchesFailed = 0;
  uint64_t opsFailed = 0;        // writes whose Done got an error
};

class Store {
 public:
  using Done = std::function<void(Status)>;
  // Runs a function on the loop thread; callable from any thread.
  using Post = std::function<void(std::function<void()>)>;

  using Options = StoreOptions;
  using Stats = StoreStats;

  // Opens (creating if needed, parent directories 0700) and migrates the
  // database at `path`, then starts the writer thread. `post` must be non-null.
  // Errors (Code::kStorage): unreadable or non-SQLite file, schema newer than
  // this code, failed migration.
  static Result<std::unique_ptr<Store>> open(const std::string& path, Post post,
                                             Options options = {});
  // As open(), with `extra` migrations appended after the built-in ones (their
  // versions must continue the numbering). Lets tests add a migration 2.
  static Result<std::unique_ptr<Store>> openWithMigrationsForTest(
      const std::string& path, Post post, std::vector<Migration> extra,
      Options options = {});

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Synchronous reads (loop thread, startup). ---
  Result<std::vector<WorkloadRow>> loadWorkloads();
  Result<std::optional<std::string>> getKv(const std::string& key);
  // The schema version the database is at (after migrations).
  int schemaVersion() const { return schemaVersion_; }
  const std::string& path() const { return path_; }

  // --- Group-committed writes (loop thread). See the Done contract above. ---
  // Inserts or replaces the row with the same address.
  void putWorkload(WorkloadRow row, Done done);
  // Deleting an absent address is ok.
  void deleteWorkload(std::string address, Done done);
  void putKv(std::string key, std::string value, Done done);
  // Stores a record unless one with a higher or equal seq is held for its
  // (zone, subject) (then Done still gets ok: nothing newer is lost).
  void putRecord(RecordRow row, Done done);
  // The same for many rows in one op (one queue entry, one wake-up of the
  // writer, one Done): a replicated batch. A row that fails a constraint
  // fails the op (its Done gets the first error) but not the other rows.
  void putRecords(std::vector<RecordRow> rows, Done done);
  void deleteRecord(std::string zone, std::string subject, std::string slot, Done done);
  // Startup read, like loadWorkloads.
  Result<std::vector<RecordRow>> loadRecords();

  // A write of another component's own tables (the vhost tables, migration
  // v3): `fn` runs on the writer thread inside its batch's transaction, within
  // a SAVEPOINT, so an error it returns undoes only its own statements and is
  // its Done's status while the rest of the batch commits. `fn` must not keep
  // the connection. Same Done contract as the other writes.
  using TxnFn = std::function<Status(sqlite3*)>;
  void transact(TxnFn fn, Done done);
  // Startup read with the read connection (loop thread, before serving).
  Status readWith(const std::function<Status(sqlite3*)>& fn);

  // Drains queued writes, joins the writer thread, closes the database.
  // Idempotent; also run by the destructor.
  void close();

  // Any thread.
  Stats stats() const;

  // Test hooks. While paused the writer takes nothing from the queue (close()
  // overrides a pause), so tests can queue many writes before the writer runs.
  void pauseWriterForTest();
  void resumeWriterForTest();
  // The next COMMIT fails (through SQLite's commit hook, so SQLite rolls the
  // transaction back as it would on a real COMMIT failure).
  void failNextCommitForTest() { failNextCommit_.store(true); }

 private:
  struct DeleteWorkload {
    std::string address;
  };
  struct PutKv {
    std::string key;
    std::string value;
  };
  struct DeleteRecord {
    std::string zone;
    std::string subject;
    std::string slot;
  };
  struct Op {
    std::variant<WorkloadRow, DeleteWorkload, PutKv, RecordRow, std::vector<RecordRow>, DeleteRecord, TxnFn> what;
    Done done;
  };
  struct Writer;  // the writer connection and its prepared statements
  struct SqliteCloser {
    void operator()(sqlite3* db) const;
  };

  Store(std::string path, Post post, Options options);
  void enqueue(Op op);
  void writerMain();
  // Applies one batch in one transaction; fills one Status per op.
  void commitBatch(std::vector<Op>& batch, std::vector<Status>& results);
  static int commitHook(void* self);

  const std::string path_;
  const Post post_;
  const Options options_;
  int schemaVersion_ = 0;

  std::unique_ptr<sqlite3, SqliteCloser> readDb_;  // loop thread
  std::unique_ptr<Writer> writer_;                 // writer thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;      // guarded by mu_
  bool closing_ = false;      // guarded by mu_
  bool paused_ = false;       // guarded by mu_
  bool closed_ = false;       // loop thread
  std::thread thread_;

  std::atomic<bool> failNextCommit_{false};
  std::atomic<uint64_t> batchesCommitted_{0};
  std::atomic<uint64_t> opsCommitted_{0};
  std::atomic<uint64_t> largestBatch_{0};
  std::atomic<uint64_t> batchesFailed_{0};
  std::atomic<uint64_t> opsFailed_{0};
};

}  // namespace kith::daemon
