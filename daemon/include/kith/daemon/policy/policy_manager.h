// PolicyManager: the daemon's live policy — an immutable snapshot swapped
// atomically on reload — and every connect decision made with it.
//
// A policy file that fails to parse, or whose [[test]]s fail, is rejected whole
// and the previous snapshot stays in force. After a successful swap, listeners
// (the broker) re-check the streams already open. Decisions are counted by
// result; in audit mode a denial is logged and counted but allowed.
// Loop thread only (the snapshot itself may be read anywhere).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kith/common/status.h"
#include "kith/policy/address.h"
#include "kith/policy/pattern.h"
#include "kith/policy/policy.h"
#include "kith/policy/policy_slot.h"

namespace kith::daemon {

struct AuthDecision {
  bool allowed = false;
  bool audited = false;      // denied by the policy, allowed by audit mode
  std::string rule;          // deciding rule (name or "default deny" / "whitelist")
  std::string where;         // file:line, when a rule decided
  std::string message;       // "<src> may (not) reach <dst>: <why> (rule: ...)"
};

class PolicyManager {
 public:
  struct Stats {
    uint64_t allowed = 0, denied = 0, audited = 0, reloads = 0, rejectedReloads = 0;
  };

  explicit PolicyManager(std::string file);
  // Loads the file (if any). At start a bad file is an error: kithd refuses to run.
  Status load();
  // Reloads from the file; on failure the old policy stays and the Status says why.
  Status reload();
  std::shared_ptr<const policy::Policy> current() const { return slot_.current(); }
  const std::string& file() const { return file_; }
  // A new path (SIGHUP with a changed [policy] file); takes effect at reload().
  void setFile(std::string file) { file_ = std::move(file); }

  AuthDecision decide(const policy::Address& src, const policy::Address& dst, const std::string& proto,
                      std::optional<uint16_t> port, const std::vector<policy::Pattern>& whitelist);
  // For explanations only: no counters move.
  AuthDecision explain(const policy::Address& src, const policy::Address& dst, const std::string& proto,
                       std::optional<uint16_t> port, const std::vector<policy::Pattern>& whitelist) const;

  // Called after every successful swap.
  void onChange(std::function<void()> fn) { listeners_.push_back(std::move(fn)); }
  // Called after every rejected reload (the old policy stays).
  void onReject(std::function<void()> fn) { rejectListeners_.push_back(std::move(fn)); }
  const Stats& stats() const { return stats_; }
  // Why the last reload was rejected; empty once a reload succeeds (health).
  const std::string& lastError() const { return lastError_; }

 private:
  std::string file_;
  policy::PolicySlot slot_;
  std::vector<std::function<void()>> listeners_;
  Stats stats_;
  std::string lastError_;
  std::vector<std::function<void()>> rejectListeners_;
};

}  // namespace kith::daemon
