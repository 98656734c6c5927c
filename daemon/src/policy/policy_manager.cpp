#include "kith/daemon/policy/policy_manager.h"

#include "kith/common/log.h"
#include "kith/policy/policy_file.h"

namespace kith::daemon {
namespace {
constexpr const char* kMod = "policy";
}

PolicyManager::PolicyManager(std::string file) : file_(std::move(file)) {}

Status PolicyManager::load() {
  if (file_.empty()) {
    log::info(kMod, "no policy file: default deny, registration whitelists decide");
    return Status::ok();
  }
  auto p = policy::loadPolicyFile(file_);
  if (!p.isOk()) return Status::config("policy " + p.status().message());
  slot_.replace(*p);
  log::info(kMod, "policy loaded", {{"file", file_}, {"rules", (*p)->rules().size()},
                                    {"tests", (*p)->tests().size()}, {"audit", (*p)->audit()}});
  return Status::ok();
}

Status PolicyManager::reload() {
  if (file_.empty()) return Status::config("no policy file is configured ([policy] file)");
  auto p = policy::loadPolicyFile(file_);
  if (!p.isOk()) {
    ++stats_.rejectedReloads;
    log::error(kMod, "policy reload rejected; the previous policy stays in force",
               {{"file", file_}, {"error", p.status().message()}});
    lastError_ = p.status().message();
    auto rejected = rejectListeners_;
    for (auto& fn : rejected) fn();
    return Status::config(p.status().message());
  }
  slot_.replace(*p);
  ++stats_.reloads;
  lastError_.clear();
  log::info(kMod, "policy reloaded", {{"file", file_}, {"rules", (*p)->rules().size()},
                                      {"tests", (*p)->tests().size()}, {"audit", (*p)->audit()}});
  auto listeners = listeners_;
  for (auto& fn : listeners) fn();
  return Status::ok();
}

AuthDecision PolicyManager::explain(const policy::Address& src, const policy::Address& dst,
                                    const std::string& proto, std::optional<uint16_t> port,
                                    const std::vector<policy::Pattern>& whitelist) const {
  AuthDecision out;
  auto pr = policy::parseProto(proto);
  if (!pr) {
    out.message = "unknown protocol '" + proto + "'";
    return out;
  }
  policy::Decision d = current()->decide(src, dst, *pr, port, whitelist);
  out.allowed = d.allowed;
  out.audited = d.audited;
  out.rule = d.rule;
  out.where = d.where;
  out.message = d.explainFor(src, dst);
  return out;
}

AuthDecision PolicyManager::decide(const policy::Address& src, const policy::Address& dst,
                                   const std::string& proto, std::optional<uint16_t> port,
                                   const std::vector<policy::Pattern>& whitelist) {
  AuthDecision d = explain(src, dst, proto, port, whitelist);
  if (d.audited) {
    ++stats_.audited;
    log::warn(kMod, "audit: would deny", {{"src", src.str()}, {"dst", dst.str()}, {"proto", proto},
                                          {"rule", d.rule}, {"reason", d.message}});
  } else if (d.allowed) {
    ++stats_.allowed;
  } else {
    ++stats_.denied;
    log::info(kMod, "denied", {{"src", src.str()}, {"dst", dst.str()}, {"proto", proto},
                               {"rule", d.rule}, {"where", d.where}, {"reason", d.message}});
  }
  return d;
}

}  // namespace kith::daemon
