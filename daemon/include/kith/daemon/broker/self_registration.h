// SelfRegistration: a workload the daemon registers in its own name, for the
// parts of kithd that open mesh streams themselves — an `[[upstream]]`
// listener, the vhost listener — so that policy decides for them as for any
// other source. The daemon's own process is the registering process, so the
// lease lives with the daemon; it heartbeats at a third of its TTL, registers
// again when the lease is lost, and retries every second while registering
// fails (ALREADY_REGISTERED after a restart whose old lease still runs, a
// store hiccup).
//
// `onActive` runs each time the registration becomes active, `onLost` when a
// heartbeat finds it gone (before registering again). Neither runs after the
// object is destroyed. Loop thread only.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "kith/daemon/loop/loop.h"
#include "kith/daemon/registry/registry.h"

namespace kith::daemon {

class SelfRegistration {
 public:
  // `name` has four labels; `app` says which part of the daemon it is.
  SelfRegistration(Loop& loop, Registry& registry, std::string name, std::string app);
  ~SelfRegistration();
  SelfRegistration(const SelfRegistration&) = delete;
  SelfRegistration& operator=(const SelfRegistration&) = delete;

  void start(std::function<void()> onActive, std::function<void()> onLost);

  // The active registration, or null (not yet registered, or lost).
  const Registration* registration() const;
  const std::string& address() const { return address_; }
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }

 private:
  void registerNow();

  Registry& registry_;
  std::string name_;
  std::string app_;
  Timer heartbeat_;
  Timer retry_;
  std::string address_;
  std::string token_;
  uid_t uid_;
  std::function<void()> onActive_, onLost_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace kith::daemon
