#include "kith/daemon/vhost/vhost_probe.h"

#include "kith/common/status.h"

namespace kith::daemon {
namespace {

using nlohmann::json;

json error(Code code, const std::string& message) {
  return {{"ok", false}, {"error", {{"code", std::string(codeName(code))}, {"message", message}}}};
}

}  // namespace

json answerProbe(const VhostHosts& hosts, const json& req, uint16_t userPort) {
  if (!req.is_object() || !req.contains("op") || !req["op"].is_string()) {
    return error(Code::kBadRequest, "a request is {\"op\":\"probe\"|\"beacon\",...}");
  }
  std::string op = req["op"].get<std::string>();
  const VhostHost* byId = nullptr;
  bool haveId = req.contains("host_id");
  if (haveId) {
    if (!req["host_id"].is_string()) return error(Code::kBadRequest, "host_id must be a string");
    auto id = identity::HostId::parse(req["host_id"].get<std::string>());
    if (!id) return error(Code::kBadRequest, id.status().message());
    byId = hosts.byId(*id);
    if (!byId) return error(Code::kDestinationNotFound, "no host has ID " + id->toString());
  }
  if (op == "beacon") {
    if (!haveId) return error(Code::kBadRequest, "beacon needs host_id");
    return {{"ok", true}, {"host_id", byId->id.toString()}, {"hostname", byId->name}, {"port", userPort}};
  }
  if (op != "probe") return error(Code::kBadRequest, "unknown op '" + op + "' (probe or beacon)");
  const VhostHost* byName = nullptr;
  bool haveName = req.contains("hostname");
  if (haveName) {
    if (!req["hostname"].is_string()) return error(Code::kBadRequest, "hostname must be a string");
    std::string name = req["hostname"].get<std::string>();
    byName = hosts.byName(name);
    if (!byName) return error(Code::kDestinationNotFound, "no host is named " + name);
  }
  if (!haveName && !haveId) return error(Code::kBadRequest, "probe needs hostname, host_id or both");
  if (byName && byId && byName != byId) {
    return error(Code::kUnauthorized, "hostname " + byName->name + " is host " + byName->id.toString() +
                                          ", not " + byId->id.toString());
  }
  const VhostHost* h = byName ? byName : byId;
  json out = {{"ok", true},
              {"hostname", h->name},
              {"host_id", h->id.toString()},
              {"chain", identity::chainToJson(h->dir->chain())},
              {"zone", h->zone.toJson()}};
  if (!h->primary.empty()) {
    const VhostHost* p = hosts.byName(h->primary);
    if (p) {
      out["primary"] = {{"hostname", p->name},
                        {"host_id", p->id.toString()},
                        {"chain", identity::chainToJson(p->dir->chain())}};
    }
  }
  return out;
}

}  // namespace kith::daemon
