// PolicySlot: the policy in force, replaced atomically on reload.
//
// Holds a std::shared_ptr<const Policy>. Readers take a snapshot with current()
// and decide against it for as long as they like; a reload swaps in a new
// snapshot without disturbing them. A reload that fails changes nothing: the
// previous policy stays in force.
//
// Thread rules: every member is safe to call from any thread (the pointer is a
// std::atomic<std::shared_ptr>). The slot does not log or count; the caller does
// (it knows the trigger: SIGHUP, `kithctl policy reload`).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "kith/common/status.h"
#include "kith/policy/policy.h"

namespace kith::policy {

class PolicySlot {
 public:
  // Starts with `initial` (default: Policy::empty(), default deny + whitelists).
  explicit PolicySlot(std::shared_ptr<const Policy> initial = Policy::empty());

  std::shared_ptr<const Policy> current() const { return current_.load(); }
  // Installs `next` and returns the policy it replaced.
  std::shared_ptr<const Policy> replace(std::shared_ptr<const Policy> next);
  // Loads `path` (loadPolicyFile). On success installs it and returns it; on
  // failure returns the error and keeps the current policy.
  Result<std::shared_ptr<const Policy>> reload(const std::string& path);

 private:
  std::atomic<std::shared_ptr<const Policy>> current_;
};

}  // namespace kith::policy
