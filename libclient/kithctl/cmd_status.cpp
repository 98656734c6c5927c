// kithctl status: the daemon's status (admin.sock, else api.sock).
#include <cstdio>

#include "command.h"
#include "format.h"
#include "session.h"
#include "table.h"
#include "kith/common/json.h"

namespace kith::kithctl {
namespace {

std::string scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    std::string out;
    for (const auto& [k, x] : v.items()) {
      if (!out.empty()) out += ", ";
      out += k + " " + scalar(x);
    }
    return out;
  }
  return dumpJson(v);
}

int run(const Globals& g) {
  std::string socket;
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/true, &socket);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto reply = call(c, {{"op", "status"}}, &raw);
    if (!reply) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
      return kExitOk;
    }
    const nlohmann::json& r = *reply;
    Table t({"daemon", r.contains("daemon") ? scalar(r["daemon"]) : "?"});
    // Known fields in a readable order, then whatever else the daemon reports.
    static const char* const kOrder[] = {"machine", "trust_domain", "pid", "uptime_ms",
                                         "workloads", "connections"};
    for (const char* key : kOrder) {
      auto it = r.find(key);
      if (it == r.end()) continue;
      std::string label = key;
      std::string value = scalar(*it);
      if (label == "trust_domain") label = "trust domain";
      if (label == "uptime_ms" && it->is_number()) {
        label = "uptime";
        value = formatDuration(it->get<int64_t>());
      }
      t.add({label, value});
    }
    for (const auto& [k, v] : r.items()) {
      if (k == "id" || k == "ok" || k == "daemon") continue;
      bool known = false;
      for (const char* key : kOrder) known = known || k == key;
      if (!known) t.add({k == "version" ? "protocol" : k, scalar(v)});
    }
    t.add({"socket", socket});
    std::fputs(t.render().c_str(), stdout);
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

}  // namespace

Command statusCommand() {
  return {"status", "Show the daemon's status (admin.sock, else api.sock)",
          [](CLI::App*, const Globals* g) -> Action { return [g] { return run(*g); }; }};
}

}  // namespace kith::kithctl
