#include "kith/replication/signature_pool.h"

#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;

namespace {

// Waits (with a deadline) for every job's done; records the verdicts.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<uint8_t>> results;
  SignaturePool::Done sink() {
    return [this](std::vector<uint8_t> v) {
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(v));
      cv.notify_all();
    };
  }
  bool waitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return results.size() >= n; });
  }
};

std::vector<SignatureCheck> checksOf(size_t n, const kith::identity::SigningKey& key,
                                     std::vector<uint8_t>* want) {
  std::vector<SignatureCheck> out;
  for (size_t i = 0; i < n; ++i) {
    Record r = srvRecord("node1", "dev.web.a" + std::to_string(i) + ".default.node1", i + 1, key);
    SignatureCheck c{key.publicKey(), signingInput(r), r.signature};
    bool good = i % 7 != 3;
    if (!good) c.signature[5] ^= 0x40;  // forged
    want->push_back(good ? 1 : 0);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_signature_pool)

BOOST_AUTO_TEST_CASE(verdicts_come_back_in_the_order_of_the_checks) {
  auto key = nodeKey();
  SignaturePool pool(3);
  BOOST_TEST(pool.threads() == 3u);
  Collector c;
  std::vector<uint8_t> want;
  // Large enough to be cut into chunks for every worker.
  pool.check(checksOf(500, key, &want), c.sink());
  BOOST_REQUIRE(c.waitFor(1));
  BOOST_TEST(c.results[0] == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(each_job_gets_its_own_verdicts_exactly_once) {
  auto key = nodeKey();
  SignaturePool pool;  // one per core
  BOOST_TEST(pool.threads() >= 1u);
  Collector c;
  std::vector<std::vector<uint8_t>> wants(6);
  for (size_t j = 0; j < wants.size(); ++j) pool.check(checksOf(10 + 40 * j, key, &wants[j]), c.sink());
  BOOST_REQUIRE(c.waitFor(wants.size()));
  std::lock_guard<std::mutex> lock(c.mu);
  BOOST_TEST(c.results.size() == wants.size());
  // Jobs may finish in any order: match them by size.
  for (const auto& want : wants) {
    size_t found = 0;
    for (const auto& got : c.results) found += got == want;
    BOOST_TEST(found == 1u);
  }
}

BOOST_AUTO_TEST_CASE(an_empty_job_is_answered_at_once) {
  SignaturePool pool(1);
  bool called = false;
  pool.check({}, [&](std::vector<uint8_t> v) {
    called = true;
    BOOST_TEST(v.empty());
  });
  BOOST_TEST(called);
}

BOOST_AUTO_TEST_CASE(destroying_the_pool_with_jobs_queued_joins_and_calls_nothing_later) {
  auto key = nodeKey();
  Collector c;
  std::vector<uint8_t> want;
  auto checks = checksOf(200, key, &want);
  {
    SignaturePool pool(1);
    for (int i = 0; i < 20; ++i) pool.check(checks, c.sink());
  }  // joins; unfinished jobs are dropped
  size_t afterJoin;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    afterJoin = c.results.size();
    BOOST_TEST(afterJoin <= 20u);
    for (const auto& r : c.results) BOOST_TEST(r == want, boost::test_tools::per_element());
  }
  // Another pool's job completes; nothing of the first pool arrived meanwhile.
  {
    SignaturePool other(1);
    other.check(checks, c.sink());
    BOOST_REQUIRE(c.waitFor(afterJoin + 1));
  }
  std::lock_guard<std::mutex> lock(c.mu);
  BOOST_TEST(c.results.size() == afterJoin + 1);
}

BOOST_AUTO_TEST_SUITE_END()
