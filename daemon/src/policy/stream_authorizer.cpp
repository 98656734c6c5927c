#include "kith/daemon/policy/stream_authorizer.h"

#include "kith/daemon/policy/policy_manager.h"
#include "kith/daemon/registry/registry.h"
#include "kith/daemon/replication/remote_workload.h"

namespace kith::daemon {

StreamTarget StreamTarget::of(const Registration& r) {
  return {r.address, r.row.protocols, r.whitelist, r.targetPort()};
}

StreamTarget StreamTarget::of(const RemoteWorkload& w) {
  // A remote target's port is its own daemon's business: port rules are
  // decided there, where the target is known.
  return {w.address, w.protocols, w.whitelist, std::nullopt};
}

Status StreamAuthorizer::authorize(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                                   std::string_view viaMachine) {
  return decide(src, dst, proto, viaMachine, /*count=*/true);
}

Status StreamAuthorizer::recheck(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                                 std::string_view viaMachine) const {
  return decide(src, dst, proto, viaMachine, /*count=*/false);
}

Status StreamAuthorizer::checkSource(const policy::Address& src, std::string_view viaMachine) {
  if (!viaMachine.empty() && src.machine() != viaMachine) {
    return Status(Code::kUnauthorized, "source " + src.str() + " does not belong to machine " +
                                           std::string(viaMachine) + " (the link's certificate)");
  }
  return Status::ok();
}

Status StreamAuthorizer::decide(const policy::Address& src, const StreamTarget& dst, std::string_view proto,
                                std::string_view viaMachine, bool count) const {
  KITH_RETURN_IF_ERROR(checkSource(src, viaMachine));
  bool speaks = false;
  for (const auto& p : dst.protocols) speaks |= p == proto;
  if (!speaks) return Status(Code::kCannotConnect, dst.address.str() + " does not speak " + std::string(proto));
  const std::string protoText(proto);
  AuthDecision d = count ? policy_.decide(src, dst.address, protoText, dst.port, dst.whitelist)
                         : policy_.explain(src, dst.address, protoText, dst.port, dst.whitelist);
  if (!d.allowed) return Status(Code::kUnauthorized, d.message);
  return Status::ok();
}

}  // namespace kith::daemon
