#include "kith/replication/signature_pool.h"

#include <pthread.h>

#include <algorithm>

namespace kith::replication {

SignaturePool::SignaturePool(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
}

SignaturePool::~SignaturePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void SignaturePool::check(std::vector<SignatureCheck> checks, Done done) {
  if (checks.empty()) {
    done({});
    return;
  }
  auto job = std::make_shared<Job>();
  job->valid.assign(checks.size(), 0);
  job->checks = std::move(checks);
  job->done = std::move(done);
  // As many chunks as workers (so one job keeps every core busy), but none
  // smaller than kMinChunk (a hand-off costs a wake-up).
  const size_t n = job->checks.size();
  const size_t chunk = std::max(kMinChunk, (n + workers_.size() - 1) / workers_.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    for (size_t b = 0; b < n; b += chunk) {
      queue_.push_back(Chunk{job, b, std::min(n, b + chunk)});
      ++job->chunksLeft;
    }
  }
  cv_.notify_all();
}

void SignaturePool::run() {
  pthread_setname_np(pthread_self(), "kith-verify");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Chunk c = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    // Each chunk writes its own slice of `valid`: no lock needed for it.
    for (size_t i = c.begin; i < c.end; ++i) c.job->valid[i] = c.job->checks[i].valid() ? 1 : 0;
    lock.lock();
    if (--c.job->chunksLeft == 0 && !stopping_) {
      std::shared_ptr<Job> job = std::move(c.job);
      lock.unlock();
      job->done(std::move(job->valid));
      lock.lock();
    }
  }
}

}  // namespace kith::replication
