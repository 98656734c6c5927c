// Store tests. Executor: a TestLoop — a mutex-protected queue that the writer
// thread posts into and the test thread drains (runUntil), the way the daemon's
// uv_async executor hands work to the loop thread. So every Done runs on the
// test thread, and the tests check that.
#include "kith/daemon/store/store.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kith/common/unique_fd.h"

using kith::Code;
using kith::Status;
using kith::daemon::Migration;
using kith::daemon::Store;
using kith::daemon::WorkloadRow;

namespace {

class TestLoop {
 public:
  Store::Post post() {
    return [this](std::function<void()> fn) {
      {
        std::lock_guard g(mu_);
        q_.push_back(std::move(fn));
      }
      cv_.notify_all();
    };
  }

  // Runs posted functions on this thread until pred() holds or the deadline.
  bool runUntil(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      runPending();
      if (pred()) return true;
      std::unique_lock l(mu_);
      if (!cv_.wait_until(l, deadline, [&] { return !q_.empty(); })) return pred();
    }
  }

  void runPending() {
    std::deque<std::function<void()>> q;
    {
      std::lock_guard g(mu_);
      q.swap(q_);
    }
    for (auto& fn : q) fn();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> q_;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/kith-store-test-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

WorkloadRow makeRow(int i) {
  WorkloadRow r;
  r.address = "dev.web.w" + std::to_string(i) + ".default.node1";
  r.spiffeId = "spiffe://dev.kith/dev/web/w" + std::to_string(i) + "/default/node1";
  r.identityHash = kith::Bytes(32, static_cast<uint8_t>(i));
  r.tokenHash = kith::Bytes{0x7f, static_cast<uint8_t>(i >> 24), static_cast<uint8_t>(i >> 16),
                            static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  r.uid = 1000 + static_cast<uint32_t>(i);
  r.gid = 100;
  r.pid = 4000 + i;
  r.startTime = 123456789 + i;
  r.bootId = "4f1c2a1e-0000-4000-8000-000000000001";
  r.exe = "/usr/bin/web";
  r.app = "web";
  r.whitelist = {"dev.db.*.default.*", "dev.web.*.*.*"};
  r.target = i % 2 == 0 ? "" : "tcp:127.0.0.1:8080";
  r.proxyProtocol = i % 2 == 1;
  r.protocols = {"tcp"};
  r.ttlMs = 30000;
  r.registeredAt = 1'700'000'000'000'000 + i;
  r.seq = i + 1;
  return r;
}

// Collects Done results in call order.
struct Acks {
  Store::Done done() {
    size_t idx = statuses.size();
    statuses.emplace_back();
    calls.push_back(0);
    return [this, idx](Status st) {
      statuses[idx] = std::move(st);
      ++calls[idx];
      order.push_back(idx);
      threads.insert(std::this_thread::get_id());
    };
  }
  size_t delivered() const { return order.size(); }
  std::vector<Status> statuses;
  std::vector<int> calls;
  std::vector<size_t> order;
  std::set<std::thread::id> threads;
};

std::unique_ptr<Store> openOk(const std::string& path, TestLoop& loop, Store::Options o = {}) {
  auto s = Store::open(path, loop.post(), o);
  BOOST_REQUIRE_MESSAGE(s.isOk(), s.status().toString());
  return std::move(s).value();
}

std::vector<WorkloadRow> load(Store& s) {
  auto rows = s.loadWorkloads();
  BOOST_REQUIRE_MESSAGE(rows.isOk(), rows.status().toString());
  return std::move(rows).value();
}

std::string integrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out = "open failed";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_store)

BOOST_AUTO_TEST_CASE(rows_and_kv_round_trip_across_reopen) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state/nested/state.db");
  std::vector<WorkloadRow> want = {makeRow(1), makeRow(2), makeRow(3)};
  want[2].whitelist.clear();
  want[2].identityHash.clear();
  want[2].exe = "/opt/caf\xc3\xa9/bin";
  {
    auto store = openOk(path, loop);
    BOOST_TEST(store->schemaVersion() == kith::daemon::storeMigrations().back().version);
    Acks acks;
    for (const auto& r : want) store->putWorkload(r, acks.done());
    store->putKv("machine", "node1", acks.done());
    store->putKv("seq", "41", acks.done());
    store->putKv("seq", "42", acks.done());
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 6; }));
    for (const auto& st : acks.statuses) BOOST_TEST(st.isOk(), st.toString());
    BOOST_TEST((acks.threads == std::set{std::this_thread::get_id()}));
    BOOST_TEST((load(*store) == want));
  }
  auto store = openOk(path, loop);
  BOOST_TEST((load(*store) == want));
  auto machine = store->getKv("machine");
  BOOST_REQUIRE(machine.isOk());
  BOOST_TEST(machine->value_or("") == "node1");
  BOOST_TEST(store->getKv("seq")->value_or("") == "42");
  auto missing = store->getKv("nope");
  BOOST_REQUIRE(missing.isOk());
  BOOST_TEST(!missing->has_value());

  // Private: the file 0600, directories the store created 0700.
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_REQUIRE(::stat(dir.file("state/nested").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
}

BOOST_AUTO_TEST_CASE(put_replaces_same_address_and_delete_removes) {
  TempDir dir;
  TestLoop loop;
  auto store = openOk(dir.file("state.db"), loop);
  Acks acks;
  WorkloadRow a = makeRow(1);
  store->putWorkload(a, acks.done());
  store->putWorkload(makeRow(2), acks.done());
  a.pid = 99;
  a.tokenHash = {1, 2, 3};
  store->putWorkload(a, acks.done());
  store->deleteWorkload(makeRow(2).address, acks.done());
  store->deleteWorkload("dev.no.such.default.node1", acks.done());  // absent: ok
  BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 5; }));
  for (const auto& st : acks.statuses) BOOST_TEST(st.isOk(), st.toString());
  BOOST_TEST((acks.order == std::vector<size_t>{0, 1, 2, 3, 4}));
  auto rows = load(*store);
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST((rows[0] == a));
}

BOOST_AUTO_TEST_CASE(a_new_migration_upgrades_an_existing_file_and_older_code_refuses_it) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  const int current = kith::daemon::storeMigrations().back().version;
  const int next = current + 1;
  {
    auto store = openOk(path, loop);
    BOOST_TEST(store->schemaVersion() == current);
    Acks acks;
    store->putWorkload(makeRow(7), acks.done());
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 1; }));
  }
  std::vector<Migration> up = {
      {next, "an example step",
       "CREATE TABLE example_step (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL);"
       "ALTER TABLE workloads ADD COLUMN note TEXT NOT NULL DEFAULT '';"}};
  {
    auto s = Store::openWithMigrationsForTest(path, loop.post(), up);
    BOOST_REQUIRE_MESSAGE(s.isOk(), s.status().toString());
    BOOST_TEST((*s)->schemaVersion() == next);
    auto rows = load(**s);
    BOOST_REQUIRE(rows.size() == 1u);
    BOOST_TEST((rows[0] == makeRow(7)));
  }
  {
    // Opening again with the same code is a no-op upgrade.
    auto s = Store::openWithMigrationsForTest(path, loop.post(), up);
    BOOST_REQUIRE(s.isOk());
    BOOST_TEST((*s)->schemaVersion() == next);
  }
  auto old = Store::open(path, loop.post());
  BOOST_REQUIRE(!old.isOk());
  BOOST_TEST((old.status().code() == Code::kStorage));
  BOOST_TEST(old.status().message().find("schema version " + std::to_string(next) + " is newer") !=
                 std::string::npos,
             old.status().message());
  BOOST_TEST(old.status().message().find(path) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_migration_leaves_the_previous_version) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  const int current = kith::daemon::storeMigrations().back().version;
  const int next = current + 1;
  { openOk(path, loop); }
  std::vector<Migration> bad = {
      {next, "broken", "CREATE TABLE t2 (x INTEGER); CREATE TABLE workloads (y INTEGER);"}};
  auto s = Store::openWithMigrationsForTest(path, loop.post(), bad);
  BOOST_REQUIRE(!s.isOk());
  BOOST_TEST(s.status().message().find("migration " + std::to_string(next) + " (broken)") != std::string::npos,
             s.status().message());
  auto again = openOk(path, loop);
  BOOST_TEST(again->schemaVersion() == current);
  // t2 was rolled back with the failed step, so a corrected step can create it.
  std::vector<Migration> good = {{next, "fixed", "CREATE TABLE t2 (x INTEGER);"}};
  again.reset();
  auto fixed = Store::openWithMigrationsForTest(path, loop.post(), good);
  BOOST_REQUIRE_MESSAGE(fixed.isOk(), fixed.status().toString());
  BOOST_TEST((*fixed)->schemaVersion() == next);
}

BOOST_AUTO_TEST_CASE(records_keep_the_newest_seq_per_zone_subject_and_slot) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  using kith::daemon::RecordRow;
  {
    auto store = openOk(path, loop);
    Acks acks;
    store->putRecord(RecordRow{"n1", "a.b.c.d.n1", "srv", 5, "S ... seq5", 100}, acks.done());
    store->putRecord(RecordRow{"n1", "a.b.c.d.n1", "srv", 3, "S ... seq3", 100}, acks.done());  // older: ignored
    store->putRecord(RecordRow{"n1", "a.b.c.d.n1", "srv", 5, "S ... replay", 100}, acks.done());  // same: ignored
    store->putRecord(RecordRow{"n1", "n1", "infra", 2, "S ... infra", 100}, acks.done());
    store->putRecord(RecordRow{"n1", "n1", "ip4", 4, "S ... ip4", 100}, acks.done());  // same subject, own slot
    store->putRecord(RecordRow{"n2", "gone.y.z.w.n2", "srv", 1, "S ... gone", 200}, acks.done());
    store->deleteRecord("n2", "gone.y.z.w.n2", "srv", acks.done());
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 7; }));
    for (size_t i = 0; i < 7; ++i) BOOST_TEST(acks.statuses[i].isOk());
  }
  auto store = openOk(path, loop);
  auto rows = store->loadRecords();
  BOOST_REQUIRE(rows.isOk());
  BOOST_REQUIRE(rows->size() == 3u);
  BOOST_TEST(((*rows)[0] == RecordRow{"n1", "a.b.c.d.n1", "srv", 5, "S ... seq5", 100}));
  BOOST_TEST(((*rows)[1] == RecordRow{"n1", "n1", "infra", 2, "S ... infra", 100}));
  BOOST_TEST(((*rows)[2] == RecordRow{"n1", "n1", "ip4", 4, "S ... ip4", 100}));
}

// A replicated batch: one op, one Done, the same newest-seq rule per row.
BOOST_AUTO_TEST_CASE(a_batch_of_records_is_one_op_with_the_same_rules) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  using kith::daemon::RecordRow;
  {
    auto store = openOk(path, loop);
    Acks acks;
    store->putRecord(RecordRow{"n1", "a.b.c.d.n1", "srv", 5, "S ... seq5", 100}, acks.done());
    store->putRecords({RecordRow{"n1", "a.b.c.d.n1", "srv", 3, "S ... seq3", 100},  // older: ignored
                       RecordRow{"n1", "e.f.g.h.n1", "srv", 6, "S ... e6", 100},
                       RecordRow{"n1", "e.f.g.h.n1", "srv", 7, "S ... e7", 100},  // newer in the same batch
                       RecordRow{"n1", "n1", "infra", 2, "S ... infra", 100}},
                      acks.done());
    store->putRecords({}, acks.done());  // nothing to write: still one Done
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 3; }));
    for (size_t i = 0; i < 3; ++i) BOOST_TEST(acks.statuses[i].isOk());
    BOOST_TEST(store->stats().opsCommitted == 3u);
  }
  auto store = openOk(path, loop);
  auto rows = store->loadRecords();
  BOOST_REQUIRE(rows.isOk());
  BOOST_REQUIRE(rows->size() == 3u);
  BOOST_TEST(((*rows)[0] == RecordRow{"n1", "a.b.c.d.n1", "srv", 5, "S ... seq5", 100}));
  BOOST_TEST(((*rows)[1] == RecordRow{"n1", "e.f.g.h.n1", "srv", 7, "S ... e7", 100}));
  BOOST_TEST(((*rows)[2] == RecordRow{"n1", "n1", "infra", 2, "S ... infra", 100}));
}

BOOST_AUTO_TEST_CASE(migrations_with_a_gap_are_refused) {
  TempDir dir;
  TestLoop loop;
  const int skip = kith::daemon::storeMigrations().back().version + 2;
  auto s = Store::openWithMigrationsForTest(dir.file("state.db"), loop.post(),
                                            {{skip, "skips one", "SELECT 1;"}});
  BOOST_REQUIRE(!s.isOk());
  BOOST_TEST(s.status().message().find("not numbered") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(garbage_file_is_refused_and_left_untouched) {
  TempDir dir;
  TestLoop loop;
  for (size_t size : {5u, 4096u}) {
    const std::string path = dir.file("garbage" + std::to_string(size) + ".db");
    std::string junk;
    for (size_t i = 0; i < size; ++i) junk.push_back(static_cast<char>("kith!"[i % 5] ^ (i & 0x3f)));
    std::ofstream(path, std::ios::binary) << junk;
    auto s = Store::open(path, loop.post());
    BOOST_REQUIRE(!s.isOk());
    BOOST_TEST((s.status().code() == Code::kStorage));
    BOOST_TEST(s.status().message().find("not a database") != std::string::npos,
               s.status().message());
    BOOST_TEST(s.status().message().find(path) != std::string::npos);
    std::ifstream in(path, std::ios::binary);
    std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST((back == junk));
  }
}

BOOST_AUTO_TEST_CASE(foreign_sqlite_database_is_refused) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("other.db");
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  BOOST_REQUIRE(sqlite3_exec(db, "CREATE TABLE notes(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto s = Store::open(path, loop.post());
  BOOST_REQUIRE(!s.isOk());
  BOOST_TEST(s.status().message().find("not a kith state database") != std::string::npos,
             s.status().message());
}

BOOST_AUTO_TEST_CASE(writes_queued_together_share_one_commit) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  Acks acks;
  {
    auto store = openOk(path, loop);
    store->pauseWriterForTest();  // queue everything before the writer can run
    for (int i = 0; i < 1000; ++i) store->putWorkload(makeRow(i), acks.done());
    store->resumeWriterForTest();
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 1000; }));
    auto stats = store->stats();
    BOOST_TEST(stats.batchesCommitted == 1u);
    BOOST_TEST(stats.opsCommitted == 1000u);
    BOOST_TEST(stats.largestBatch == 1000u);
  }
  for (size_t i = 0; i < 1000; ++i) {
    BOOST_TEST(acks.statuses[i].isOk());
    BOOST_TEST(acks.calls[i] == 1);
    BOOST_TEST(acks.order[i] == i);  // Done in call order
  }
  auto store = openOk(path, loop);
  BOOST_TEST(load(*store).size() == 1000u);
}

BOOST_AUTO_TEST_CASE(batches_are_capped) {
  TempDir dir;
  TestLoop loop;
  Store::Options o;
  o.maxBatchOps = 100;
  auto store = openOk(dir.file("state.db"), loop, o);
  Acks acks;
  store->pauseWriterForTest();
  for (int i = 0; i < 1000; ++i) store->putWorkload(makeRow(i), acks.done());
  store->resumeWriterForTest();
  BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 1000; }));
  BOOST_TEST(store->stats().batchesCommitted == 10u);
  BOOST_TEST(store->stats().largestBatch == 100u);
  BOOST_TEST(load(*store).size() == 1000u);
}

BOOST_AUTO_TEST_CASE(unpaused_stream_of_writes_commits_in_fewer_batches_than_writes) {
  TempDir dir;
  TestLoop loop;
  auto store = openOk(dir.file("state.db"), loop);
  Acks acks;
  for (int i = 0; i < 1000; ++i) store->putWorkload(makeRow(i), acks.done());
  BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 1000; }));
  BOOST_TEST(store->stats().opsCommitted == 1000u);
  BOOST_TEST(store->stats().batchesCommitted < 1000u);
}

BOOST_AUTO_TEST_CASE(failed_commit_fails_every_write_in_the_batch_and_keeps_committed_data) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  {
    auto store = openOk(path, loop);
    Acks first;
    store->putWorkload(makeRow(1), first.done());
    BOOST_REQUIRE(loop.runUntil([&] { return first.delivered() == 1; }));
    BOOST_REQUIRE(first.statuses[0].isOk());

    Acks acks;
    store->pauseWriterForTest();
    store->failNextCommitForTest();
    store->putWorkload(makeRow(2), acks.done());
    store->putKv("machine", "node1", acks.done());
    store->deleteWorkload(makeRow(1).address, acks.done());
    store->resumeWriterForTest();
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 3; }));
    for (size_t i = 0; i < 3; ++i) {
      BOOST_TEST((acks.statuses[i].code() == Code::kStorage), acks.statuses[i].toString());
      BOOST_TEST(acks.statuses[i].message().find("store.commit") != std::string::npos);
      BOOST_TEST(acks.calls[i] == 1);
    }
    BOOST_TEST(store->stats().batchesFailed == 1u);
    auto rows = load(*store);
    BOOST_REQUIRE(rows.size() == 1u);
    BOOST_TEST((rows[0] == makeRow(1)));
    BOOST_TEST(!store->getKv("machine")->has_value());

    // The store keeps working after a failed batch.
    Acks later;
    store->putWorkload(makeRow(3), later.done());
    BOOST_REQUIRE(loop.runUntil([&] { return later.delivered() == 1; }));
    BOOST_TEST(later.statuses[0].isOk());
  }
  auto store = openOk(path, loop);
  auto rows = load(*store);
  BOOST_REQUIRE(rows.size() == 2u);
  BOOST_TEST(rows[0].address == makeRow(1).address);
  BOOST_TEST(rows[1].address == makeRow(3).address);
  BOOST_TEST(integrityCheck(path) == "ok");
}

BOOST_AUTO_TEST_CASE(read_only_database_fails_writes_without_damage) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  {
    auto store = openOk(path, loop);
    Acks acks;
    store->putWorkload(makeRow(1), acks.done());
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 1; }));
  }
  {
    Store::Options o;
    o.writerQueryOnlyForTest = true;
    auto store = openOk(path, loop, o);
    Acks acks;
    store->putWorkload(makeRow(2), acks.done());
    store->putKv("k", "v", acks.done());
    BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 2; }));
    for (const auto& st : acks.statuses) {
      BOOST_TEST((st.code() == Code::kStorage));
      BOOST_TEST(st.message().find("readonly") != std::string::npos, st.message());
    }
    BOOST_TEST(load(*store).size() == 1u);
  }
  auto store = openOk(path, loop);
  auto rows = load(*store);
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST((rows[0] == makeRow(1)));
  BOOST_TEST(integrityCheck(path) == "ok");
}

BOOST_AUTO_TEST_CASE(constraint_violation_fails_only_that_write) {
  TempDir dir;
  TestLoop loop;
  auto store = openOk(dir.file("state.db"), loop);
  Acks acks;
  WorkloadRow a = makeRow(1);
  WorkloadRow b = makeRow(2);
  b.tokenHash = a.tokenHash;  // token hashes are unique across rows
  store->pauseWriterForTest();
  store->putWorkload(a, acks.done());
  store->putWorkload(b, acks.done());
  store->putWorkload(makeRow(3), acks.done());
  store->resumeWriterForTest();
  BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 3; }));
  BOOST_TEST(acks.statuses[0].isOk());
  BOOST_TEST((acks.statuses[1].code() == Code::kStorage));
  BOOST_TEST(acks.statuses[1].message().find("workloads.token_hash") != std::string::npos,
             acks.statuses[1].message());
  BOOST_TEST(acks.statuses[2].isOk());
  BOOST_TEST(store->stats().batchesCommitted == 1u);
  auto rows = load(*store);
  BOOST_REQUIRE(rows.size() == 2u);
  BOOST_TEST((rows[0] == a));
  BOOST_TEST((rows[1] == makeRow(3)));
}

BOOST_AUTO_TEST_CASE(close_with_pending_writes_calls_every_done_exactly_once) {
  TempDir dir;
  TestLoop loop;
  const std::string path = dir.file("state.db");
  Acks acks;
  auto store = openOk(path, loop);
  store->pauseWriterForTest();  // close() must override the pause
  for (int i = 0; i < 50; ++i) store->putWorkload(makeRow(i), acks.done());
  store->close();
  store->putWorkload(makeRow(99), acks.done());  // after close: refused
  BOOST_REQUIRE(loop.runUntil([&] { return acks.delivered() == 51; }));
  loop.runUntil([] { return false; }, std::chrono::milliseconds(50));  // nothing more arrives
  BOOST_TEST(acks.delivered() == 51u);
  for (int i = 0; i < 50; ++i) {
    BOOST_TEST(acks.calls[i] == 1);
    BOOST_TEST(acks.statuses[i].isOk());
  }
  BOOST_TEST(acks.calls[50] == 1);
  BOOST_TEST((acks.statuses[50].code() == Code::kStorage));
  BOOST_TEST(acks.statuses[50].message().find("closed") != std::string::npos);
  store.reset();  // destructor after close() is a no-op
  auto again = openOk(path, loop);
  BOOST_TEST(load(*again).size() == 50u);
}

BOOST_AUTO_TEST_CASE(acknowledged_writes_survive_kill_9) {
  TempDir dir;
  const std::string path = dir.file("state.db");
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    // Child: write forever; report each ACKNOWLEDGED write's index on the pipe.
    ::close(fds[0]);
    ::alarm(60);  // never outlive a broken parent
    TestLoop loop;
    auto s = Store::open(path, loop.post());
    if (!s.isOk()) ::_exit(3);
    Store& store = **s;
    int outstanding = 0;
    for (int32_t i = 0;; ++i) {
      ++outstanding;
      store.putWorkload(makeRow(i), [&outstanding, i, fd = fds[1]](Status st) {
        --outstanding;
        if (!st.isOk()) ::_exit(4);
        if (::write(fd, &i, sizeof i) != sizeof i) ::_exit(5);
      });
      loop.runUntil([&] { return outstanding < 64; });
    }
  }
  ::close(fds[1]);
  kith::UniqueFd rd(fds[0]);
  std::vector<int32_t> acked;
  bool killed = false;
  for (;;) {
    int32_t i = 0;
    ssize_t n = ::read(rd.get(), &i, sizeof i);
    if (n == 0) break;  // the child is gone and the pipe drained
    if (n < 0 && errno == EINTR) continue;
    BOOST_REQUIRE(n == static_cast<ssize_t>(sizeof i));
    acked.push_back(i);
    if (!killed && acked.size() >= 500) {
      ::kill(child, SIGKILL);  // mid-stream: writes are in flight
      killed = true;
    }
  }
  int wstatus = 0;
  BOOST_REQUIRE(::waitpid(child, &wstatus, 0) == child);
  BOOST_REQUIRE_MESSAGE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL,
                        "child ended otherwise: status " << wstatus);
  BOOST_TEST(acked.size() >= 500u);

  TestLoop loop;
  auto store = openOk(path, loop);
  std::set<std::string> present;
  for (const auto& r : load(*store)) present.insert(r.address);
  size_t missing = 0;
  for (int32_t i : acked) missing += present.count(makeRow(i).address) == 0 ? 1 : 0;
  BOOST_TEST(missing == 0u);
  BOOST_TEST(present.size() >= acked.size());
  BOOST_TEST(integrityCheck(path) == "ok");
}

BOOST_AUTO_TEST_SUITE_END()
