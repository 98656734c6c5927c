// Session helpers shared by kithctl's commands: opening the daemon's sockets
// (admin.sock, with api.sock as a fallback where an op allows it), sending a
// request and turning failures into kithctl's error line and exit status.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "kith/kith.hpp"

namespace kith::kithctl {

// Per-reply timeout for one-shot requests (following streams wait forever).
inline constexpr int kReplyTimeoutMs = 10000;

// Prints "kithctl: MESSAGE" on stderr.
void complain(const std::string& message);
// Prints "kithctl: CODE: message" (with a hint for unreachable sockets) and
// returns kExitRefused.
int refused(const kith::Error& e);
int refused(const kith::Reply& r);

// Connects to admin.sock. With `fallbackToApi`, a failure to reach admin.sock
// (missing or not permitted) falls back to api.sock. Throws kith::Error.
kith::Client openDaemon(const Globals& g, bool fallbackToApi, std::string* pathUsed = nullptr);

// Sends `request` and parses the reply. On a refusal or a malformed reply
// prints the error and returns nullopt (exit status kExitRefused). `raw` gets the
// reply line as received.
std::optional<nlohmann::json> call(kith::Client& c, const nlohmann::json& request,
                                   std::string* raw = nullptr);

// One request on admin.sock (no api.sock fallback) with the usual timeout:
// kExitOk with the reply in *out (and printed raw under --json), or the
// refusal already printed and kExitRefused.
int adminCall(const Globals& g, const nlohmann::json& request, nlohmann::json* out);

}  // namespace kith::kithctl
