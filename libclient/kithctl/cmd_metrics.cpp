// kithctl metrics: the daemon's metrics in the Prometheus text exposition
// format (admin op `metrics`), for a node exporter's textfile collector or a
// quick look. --json prints the daemon's reply (the text, its content type and
// the HTTP listener's address, if one is configured).
#include <cstdio>

#include "command.h"
#include "session.h"

namespace kith::kithctl {
namespace {

int run(const Globals& g) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto reply = call(c, {{"op", "metrics"}}, &raw);
    if (!reply) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
      return kExitOk;
    }
    std::fputs(reply->value("text", std::string()).c_str(), stdout);
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

}  // namespace

Command metricsCommand() {
  return {"metrics", "Print the daemon's metrics in Prometheus text format (admin.sock)",
          [](CLI::App* sub, const Globals* g) -> Action {
            sub->footer("Also served over HTTP at /metrics when [metrics] listen is set in kithd.toml.");
            return [g] { return run(*g); };
          }};
}

}  // namespace kith::kithctl
