#include "kith/policy/policy_slot.h"

#include "kith/policy/policy_file.h"

namespace kith::policy {

PolicySlot::PolicySlot(std::shared_ptr<const Policy> initial) : current_(std::move(initial)) {}

std::shared_ptr<const Policy> PolicySlot::replace(std::shared_ptr<const Policy> next) {
  return current_.exchange(std::move(next));
}

Result<std::shared_ptr<const Policy>> PolicySlot::reload(const std::string& path) {
  auto loaded = loadPolicyFile(path);
  if (!loaded.isOk()) return loaded.status();
  replace(*loaded);
  return loaded;
}

}  // namespace kith::policy
