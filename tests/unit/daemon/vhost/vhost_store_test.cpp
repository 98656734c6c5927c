// Store::transact (the vhost tables' writes) and schema v3: a failing
// transaction undoes only its own statements, the rest of its batch commits,
// and ShortHostIDs are unique by constraint.
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "kith/daemon/store/store.h"

using kith::Status;
using kith::daemon::Store;

namespace {

// The loop thread's stand-in: Done functions are posted here and run by drain().
struct Executor {
  std::mutex mu;
  std::deque<std::function<void()>> q;
  Store::Post post() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> g(mu);
      q.push_back(std::move(fn));
    };
  }
  bool runUntil(const std::function<bool()>& pred) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
      std::deque<std::function<void()>> now;
      {
        std::lock_guard<std::mutex> g(mu);
        now.swap(q);
      }
      for (auto& f : now) f();
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
  }
};

Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  return rc == SQLITE_OK ? Status::ok() : Status::storage("test", msg);
}

int64_t count(Store& s, const std::string& sql) {
  int64_t n = -1;
  Status st = s.readWith([&](sqlite3* db) {
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
      n = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return Status::ok();
  });
  BOOST_REQUIRE(st.isOk());
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(daemon_vhost_store)

BOOST_AUTO_TEST_CASE(failing_transaction_undoes_only_itself_and_short_ids_are_unique) {
  std::string dir = std::filesystem::temp_directory_path() / ("kith-vstore-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  Executor ex;
  {
    auto store = Store::open(dir + "/state.db", ex.post());
    BOOST_REQUIRE_MESSAGE(store.isOk(), store.status().toString());
    BOOST_TEST((*store)->schemaVersion() >= 3);
    std::vector<Status> results(4);
    int done = 0;
    auto cb = [&](size_t i) { return [&, i](Status st) { results[i] = st; ++done; }; };
    (*store)->pauseWriterForTest();  // all four in one batch
    (*store)->transact([](sqlite3* db) {
      return exec(db, "INSERT INTO hosts(name, host_id, short_id, backend, created_at) VALUES('a','ida',1,'p.a.*.*.*',0)");
    }, cb(0));
    // Its first statement succeeds, its second violates UNIQUE(short_id): both undone.
    (*store)->transact([](sqlite3* db) -> Status {
      Status st = exec(db, "INSERT INTO hosts(name, host_id, short_id, backend, created_at) VALUES('b','idb',2,'p.b.*.*.*',0)");
      if (!st.isOk()) return st;
      return exec(db, "INSERT INTO hosts(name, host_id, short_id, backend, created_at) VALUES('c','idc',1,'p.c.*.*.*',0)");
    }, cb(1));
    (*store)->putKv("k", "v", cb(2));
    (*store)->transact([](sqlite3* db) {
      return exec(db, "INSERT INTO vhosts(name, primary_name) VALUES('a','a')");
    }, cb(3));
    (*store)->resumeWriterForTest();
    BOOST_REQUIRE(ex.runUntil([&] { return done == 4; }));
    BOOST_TEST(results[0].isOk());
    BOOST_TEST(!results[1].isOk());
    BOOST_TEST(results[1].message().find("UNIQUE") != std::string::npos, results[1].message());
    BOOST_TEST(results[2].isOk());
    BOOST_TEST(results[3].isOk());
    BOOST_TEST(count(**store, "SELECT count(*) FROM hosts") == 1);
    BOOST_TEST(count(**store, "SELECT count(*) FROM hosts WHERE name = 'b'") == 0);
    BOOST_TEST(count(**store, "SELECT count(*) FROM vhosts") == 1);
    (*store)->close();
    ex.runUntil([] { return true; });
  }
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_SUITE_END()
