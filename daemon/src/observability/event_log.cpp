#include "kith/daemon/observability/event_log.h"

#include "kith/common/json.h"
#include "kith/common/log.h"

namespace kith::daemon {

EventLog::EventLog(Loop& loop, size_t capacity) : loop_(loop), capacity_(capacity) {}

EventLog::~EventLog() { detachFromLogger(); }

void EventLog::detachFromLogger() {
  if (!attached_) return;
  attached_ = false;
  log::setTap(nullptr);
}

void EventLog::attachToLogger() {
  attached_ = true;
  log::setTap([this](const nlohmann::json& rec) {
    // Any thread: hop to the loop. The tap is removed before this object dies.
    loop_.post([this, rec = rec]() mutable { append(std::move(rec)); });
  });
}

void EventLog::append(nlohmann::json record) {
  records_.push_back({record.value("ts", int64_t{0}),
                      dumpJson(record)});
  while (records_.size() > capacity_) records_.pop_front();
  std::vector<uint64_t> ids;
  for (auto& [id, f] : followers_) ids.push_back(id);
  for (auto id : ids) {
    auto it = followers_.find(id);
    if (it == followers_.end()) continue;
    auto fn = it->second;  // a follower may unfollow itself
    fn(record);
  }
}

std::vector<nlohmann::json> EventLog::since(int64_t sinceMicros) const {
  std::vector<nlohmann::json> out;
  for (const auto& r : records_) {
    if (r.ts >= sinceMicros) out.push_back(parseJson(r.line));
  }
  return out;
}

uint64_t EventLog::follow(Follower f) {
  uint64_t id = nextId_++;
  followers_[id] = std::move(f);
  return id;
}

void EventLog::unfollow(uint64_t id) { followers_.erase(id); }

}  // namespace kith::daemon
