#include "session.h"

#include <cstdio>

#include "kith/common/json.h"
#include "kith/socket-api/socket_path.h"

namespace kith::kithctl {

void complain(const std::string& message) {
  std::fprintf(stderr, "kithctl: %s\n", message.c_str());
}

int refused(const kith::Error& e) {
  std::string msg = e.code() + ": " + e.message();
  if (e.status() == KITH_IO && e.message().find("cannot connect to") != std::string::npos) {
    if (e.message().find("admin.sock") != std::string::npos &&
        e.message().find("ermission denied") != std::string::npos) {
      msg += " (admin ops need root or the daemon's admin group)";
    } else {
      msg += " (is kithd running? see --socket and $KITH_SOCKET)";
    }
  }
  complain(msg);
  return kExitRefused;
}

int refused(const kith::Reply& r) {
  complain(r.code + ": " + r.message);
  return kExitRefused;
}

kith::Client openDaemon(const Globals& g, bool fallbackToApi, std::string* pathUsed) {
  std::string admin = api::resolveAdminSocket(g.socket);
  try {
    kith::Client c = kith::Client::openAdmin(g.socket);
    if (pathUsed) *pathUsed = admin;
    return c;
  } catch (const kith::Error&) {
    if (!fallbackToApi) throw;
  }
  // api.sock beside admin.sock: an explicit --socket naming admin.sock still
  // finds its sibling.
  std::string apiPath = api::resolveApiSocket(g.socket);
  if (apiPath == admin) apiPath = admin.substr(0, admin.size() - 10) + "api.sock";
  kith::Client c = kith::Client::open(apiPath);
  if (pathUsed) *pathUsed = apiPath;
  return c;
}

std::optional<nlohmann::json> call(kith::Client& c, const nlohmann::json& request,
                                   std::string* raw) {
  kith::Reply r = c.request(dumpJson(request));
  if (r.status != KITH_OK) {
    refused(r);
    return std::nullopt;
  }
  auto j = parseJson(r.json);
  if (!j.is_object()) {
    complain("IO: malformed reply from kithd");
    return std::nullopt;
  }
  if (raw) *raw = std::move(r.json);
  return j;
}

int adminCall(const Globals& g, const nlohmann::json& request, nlohmann::json* out) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto r = call(c, request, &raw);
    if (!r) return kExitRefused;
    if (g.json) std::printf("%s\n", raw.c_str());
    *out = std::move(*r);
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

}  // namespace kith::kithctl
