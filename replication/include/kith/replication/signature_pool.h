// SignaturePool: worker threads that check Ed25519 signatures in parallel, so
// that a catch-up of many records is not one core's signature checks in a row
// on the daemon's loop thread (docs/ARCHITECTURE.md, Replication).
//
// A job is a vector of SignatureChecks (verifier.h: key, bytes, signature —
// values, no reference into the caller's state). It is cut into chunks that
// the workers take in job order; when the last chunk of a job is checked,
// its `done` runs ONCE, ON THE WORKER THREAD that checked that chunk, with one
// verdict per check in the job's order. `done` must only hand the verdicts on
// (the daemon posts them to its loop) and must not call into the pool.
//
// Nothing else is shared: the verifier's rules (which key, windows, counters)
// stay with its owner, before (precheck) and after (conclude) the pool.
//
// Lifetime: the destructor stops the workers after the chunk each is
// checking and joins them; jobs not finished by then are dropped and their
// `done` never runs. Thread rules: check() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kith/replication/verifier.h"

namespace kith::replication {

class SignaturePool {
 public:
  using Done = std::function<void(std::vector<uint8_t> valid)>;
  // Checks per chunk at least (a chunk is one worker's unit of work).
  static constexpr size_t kMinChunk = 64;

  // `threads` workers; 0 = one per core (std::thread::hardware_concurrency).
  explicit SignaturePool(size_t threads = 0);
  ~SignaturePool();
  SignaturePool(const SignaturePool&) = delete;
  SignaturePool& operator=(const SignaturePool&) = delete;

  size_t threads() const { return workers_.size(); }
  // Queues the job (see above). An empty job calls done({}) at once, here.
  void check(std::vector<SignatureCheck> checks, Done done);

 private:
  struct Job {
    std::vector<SignatureCheck> checks;
    std::vector<uint8_t> valid;
    Done done;
    size_t chunksLeft = 0;  // guarded by mu_
  };
  struct Chunk {
    std::shared_ptr<Job> job;
    size_t begin = 0, end = 0;
  };
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kith::replication
