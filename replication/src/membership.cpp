#include "kith/replication/membership.h"

#include <algorithm>

namespace kith::replication {

Membership::Membership(MembershipConfig config, const Clock& clock)
    : config_(config), clock_(clock) {}

PeerStatus& Membership::entry(const std::string& machine) {
  auto [it, inserted] = peers_.try_emplace(machine);
  if (inserted) it->second.machine = machine;
  return it->second;
}

void Membership::track(const std::string& machine, const std::string& endpoint,
                       const std::string& nodeKeyHex) {
  std::lock_guard<std::mutex> lock(mu_);
  PeerStatus& p = entry(machine);
  p.configured = true;
  p.endpoint = endpoint;
  p.nodeKeyHex = nodeKeyHex;
}

void Membership::forget(const std::string& machine) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_.erase(machine);
}

bool Membership::heard(const std::string& machine, uint64_t bytes) {
  const int64_t now = clock_.monotonicMillis();
  std::lock_guard<std::mutex> lock(mu_);
  PeerStatus& p = entry(machine);
  p.lastSeenMs = now;
  p.messagesIn += 1;
  p.bytesIn += bytes;
  if (p.up) return false;
  p.up = true;
  p.upSinceMs = now;
  return true;
}

void Membership::sent(const std::string& machine, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(machine);
  if (it == peers_.end()) return;
  it->second.messagesOut += 1;
  it->second.bytesOut += bytes;
}

void Membership::setNodeKey(const std::string& machine, const std::string& nodeKeyHex) {
  std::lock_guard<std::mutex> lock(mu_);
  entry(machine).nodeKeyHex = nodeKeyHex;
}

void Membership::setLinks(const std::string& machine, int links, bool allCurve) {
  std::lock_guard<std::mutex> lock(mu_);
  // Never create an entry just to say "no links".
  if (links == 0 && peers_.find(machine) == peers_.end()) return;
  PeerStatus& p = entry(machine);
  p.links = links;
  p.encrypted = links > 0 && allCurve;
}

void Membership::setRtt(const std::string& machine, int64_t rttMs) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(machine);
  if (it != peers_.end()) it->second.rttMs = rttMs;
}

std::vector<std::string> Membership::sweep() {
  const int64_t now = clock_.monotonicMillis();
  std::vector<std::string> down;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, p] : peers_) {
    if (p.up && now - p.lastSeenMs >= config_.down_after_ms) {
      p.up = false;
      down.push_back(name);
    }
  }
  return down;
}

std::optional<int64_t> Membership::nextDeadlineMs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<int64_t> next;
  for (const auto& [name, p] : peers_) {
    if (!p.up) continue;
    const int64_t d = p.lastSeenMs + config_.down_after_ms;
    if (!next || d < *next) next = d;
  }
  return next;
}

bool Membership::isUp(const std::string& machine) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(machine);
  return it != peers_.end() && it->second.up;
}

std::optional<PeerStatus> Membership::peer(const std::string& machine) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(machine);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::vector<PeerStatus> Membership::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PeerStatus> out;
  out.reserve(peers_.size());
  for (const auto& [name, p] : peers_) out.push_back(p);
  return out;
}

}  // namespace kith::replication
