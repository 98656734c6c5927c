// kithctl workloads [--all]: the registrations this daemon holds (admin.sock);
// --all adds every other workload the daemon knows of (other machines).
#include <cstdio>
#include <set>

#include "command.h"
#include "format.h"
#include "kith/common/clock.h"
#include "kith/common/json.h"
#include "session.h"
#include "table.h"

namespace kith::kithctl {
namespace {

std::string str(const nlohmann::json& j, const char* key, const char* dflt = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (it->is_string()) return it->get<std::string>().empty() ? dflt : it->get<std::string>();
  return it->dump();
}

// What serves inbound streams: the target, a libkith listener, or nothing.
std::string serves(const nlohmann::json& w) {
  std::string target = str(w, "target", "");
  if (!target.empty()) return w.value("proxy_protocol", false) ? target + " (proxy)" : target;
  if (w.value("listening", false)) return "listening";
  return "-";
}

std::string age(const nlohmann::json& w, int64_t nowMicros) {
  auto it = w.find("registered_at");
  if (it == w.end() || !it->is_number_integer()) return "-";
  return formatDuration((nowMicros - it->get<int64_t>()) / 1000);
}

int run(const Globals& g, bool all) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto reply = call(c, {{"op", "workloads"}}, &raw);
    if (!reply) return kExitRefused;
    std::optional<nlohmann::json> known;
    if (all) {
      known = call(c, {{"op", "list"}});
      if (!known) return kExitRefused;
    }
    const nlohmann::json empty = nlohmann::json::array();
    const nlohmann::json& local =
        reply->contains("workloads") && (*reply)["workloads"].is_array() ? (*reply)["workloads"]
                                                                         : empty;
    // Workloads of other machines: in `list` but not held here.
    nlohmann::json remote = nlohmann::json::array();
    if (known && known->contains("workloads") && (*known)["workloads"].is_array()) {
      std::set<std::string> here;
      for (const auto& w : local) here.insert(str(w, "address", ""));
      for (const auto& w : (*known)["workloads"]) {
        if (!here.count(str(w, "address", ""))) remote.push_back(w);
      }
    }
    if (g.json) {
      if (!all) {
        std::printf("%s\n", raw.c_str());
      } else {
        nlohmann::json out = *reply;
        for (auto& w : remote) out["workloads"].push_back(w);
        std::printf("%s\n", dumpJson(out).c_str());
      }
      return kExitOk;
    }
    int64_t now = systemClock().nowMicros();
    Table t({"ADDRESS", "PID", "UID", "EXE", "AGE", "SERVES"});
    for (const auto& w : local) {
      t.add({str(w, "address"), str(w, "pid"), str(w, "uid"), str(w, "exe"), age(w, now),
             serves(w)});
    }
    for (const auto& w : remote) {
      t.add({str(w, "address"), "-", "-", "-", "-", "(" + str(w, "machine") + ")"});
    }
    if (t.rows() == 0) {
      std::printf("no workloads\n");
      return kExitOk;
    }
    std::fputs(t.render().c_str(), stdout);
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

}  // namespace

Command workloadsCommand() {
  return {"workloads", "List the workloads registered with this daemon (admin.sock)",
          [](CLI::App* sub, const Globals* g) -> Action {
            auto all = std::make_shared<bool>(false);
            sub->add_flag("--all", *all, "Also list workloads of other machines the daemon knows");
            return [g, all] { return run(*g, *all); };
          }};
}

}  // namespace kith::kithctl
