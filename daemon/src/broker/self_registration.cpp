#include "kith/daemon/broker/self_registration.h"

#include <unistd.h>

#include <algorithm>

#include "kith/common/log.h"
#include "kith/socket-api/peer_cred.h"

namespace kith::daemon {
namespace {
constexpr const char* kMod = "broker";
}  // namespace

SelfRegistration::SelfRegistration(Loop& loop, Registry& registry, std::string name, std::string app)
    : registry_(registry), name_(std::move(name)), app_(std::move(app)), heartbeat_(loop),
      retry_(loop), uid_(::getuid()) {}

SelfRegistration::~SelfRegistration() { *alive_ = false; }

void SelfRegistration::start(std::function<void()> onActive, std::function<void()> onLost) {
  onActive_ = std::move(onActive);
  onLost_ = std::move(onLost);
  registerNow();
}

const Registration* SelfRegistration::registration() const {
  return address_.empty() ? nullptr : registry_.find(address_);
}

void SelfRegistration::registerNow() {
  Caller caller;
  caller.cred.pid = ::getpid();
  caller.cred.uid = uid_;
  caller.cred.gid = ::getgid();
  caller.startTime = api::processStartTime(caller.cred.pid).value_or(0);
  caller.exe = api::processExe(caller.cred.pid);
  RegisterRequest req;
  req.name = name_;
  req.app = app_;
  std::weak_ptr<bool> alive = alive_;
  Status st = registry_.registerWorkload(caller, std::move(req), [this, alive](Result<RegisterResult> r) {
    if (alive.expired()) return;
    if (!r.isOk()) {
      log::warn(kMod, "cannot register the daemon's own workload; retrying",
                {{"name", name_}, {"app", app_}, {"error", r.status().toString()}});
      retry_.start(1000, 0, [this] { registerNow(); });
      return;
    }
    address_ = r->address;
    token_ = r->token;
    uint64_t every = static_cast<uint64_t>(std::max<int64_t>(r->ttlMs / 3, 100));
    heartbeat_.start(every, every, [this] {
      if (registry_.heartbeat(token_, uid_).isOk()) return;
      heartbeat_.stop();
      address_.clear();
      log::warn(kMod, "the daemon's own workload lost its registration; registering again", {{"name", name_}});
      if (onLost_) onLost_();
      registerNow();
    });
    if (onActive_) onActive_();
  });
  if (!st.isOk()) {
    // A name the registry refuses outright (config checks four labels, so
    // this is a bug or an impossible machine name): logged, not retried.
    log::error(kMod, "cannot register the daemon's own workload", {{"name", name_}, {"error", st.toString()}});
  }
}

}  // namespace kith::daemon
