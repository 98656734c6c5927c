// kithctl events [--follow] [--since TS]: the daemon's recent log records
// (admin.sock), optionally followed live.
#include <cstdio>

#include "command.h"
#include "format.h"
#include "kith/common/clock.h"
#include "kith/common/json.h"
#include "kith/common/log.h"
#include "session.h"

namespace kith::kithctl {
namespace {

struct EventsOptions {
  bool follow = false;
  std::string since;
};

void print(const nlohmann::json& record, bool json) {
  if (!record.is_object()) return;
  std::string line = json ? dumpJson(record)
                          : log::toText(record);
  std::printf("%s\n", line.c_str());
}

int run(const Globals& g, const EventsOptions& o) {
  nlohmann::json req = {{"op", "events"}, {"follow", o.follow}};
  if (!o.since.empty()) {
    auto since = parseSince(o.since, systemClock().nowMicros());
    if (!since) {
      // Validated at parse time; this is a belt for the braces.
      complain("--since: not a time: " + o.since);
      return kExitUsage;
    }
    req["since"] = *since;
  }
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    auto reply = call(c, req);
    if (!reply) return kExitRefused;
    if (auto it = reply->find("events"); it != reply->end() && it->is_array()) {
      for (const auto& rec : *it) print(rec, g.json);
    }
    std::fflush(stdout);
    if (!o.follow) return kExitOk;
    for (;;) {
      std::optional<kith::Event> ev = c.nextEvent(-1);
      if (!ev) continue;
      if (ev->type != "log") continue;
      auto j = parseJson(ev->json);
      if (!j.is_object() || !j.contains("record")) continue;
      print(j["record"], g.json);
      std::fflush(stdout);
    }
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

}  // namespace

Command eventsCommand() {
  return {"events", "Print the daemon's recent events (admin.sock)",
          [](CLI::App* sub, const Globals* g) -> Action {
            auto o = std::make_shared<EventsOptions>();
            sub->add_flag("-f,--follow", o->follow, "Keep printing new events as they happen");
            sub->add_option("--since", o->since,
                            "Only events from TS on: microseconds since the epoch, "
                            "ISO 8601 UTC (2026-11-22T08:05:52Z) or a span back (15m, 2h, 1d)")
                ->type_name("TS")
                ->check([](const std::string& v) -> std::string {
                  return parseSince(v, 0) ? "" : "not a time: " + v;
                });
            return [g, o] { return run(*g, *o); };
          }};
}

}  // namespace kith::kithctl
