// EventLog: the daemon's bounded window of recent log records and events, for
// `kithctl events [--follow] [--since TS]`.
//
// Records arrive from the logger's tap (any thread) by posting to the loop, so
// they may be appended slightly out of `ts` order; the window is bounded by
// count, and followers get every record appended after they subscribed.
// Loop thread only (except tap(), which is thread-safe).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "kith/daemon/loop/loop.h"

namespace kith::daemon {

class EventLog {
 public:
  using Follower = std::function<void(const nlohmann::json& record)>;

  EventLog(Loop& loop, size_t capacity = 10000);
  ~EventLog();

  // Installs this log as the process logger's tap; uninstalled by the destructor.
  void attachToLogger();
  // Stops taking records from the logger (idempotent). Records already posted
  // to the loop still arrive, so run the loop's posted work before destroying.
  void detachFromLogger();
  void append(nlohmann::json record);
  // Records with ts >= sinceMicros, oldest first.
  std::vector<nlohmann::json> since(int64_t sinceMicros) const;
  uint64_t follow(Follower f);
  void unfollow(uint64_t id);
  size_t size() const { return records_.size(); }

 private:
  // Records are kept as their JSON text (about a third of the memory of a
  // parsed object); `since` parses them back, which only admin reads pay for.
  struct Stored {
    int64_t ts;
    std::string line;
  };
  Loop& loop_;
  size_t capacity_;
  std::deque<Stored> records_;
  std::map<uint64_t, Follower> followers_;
  uint64_t nextId_ = 1;
  bool attached_ = false;
};

}  // namespace kith::daemon
