// kithctl — the operator's control tool. main only wires: each subcommand lives
// in cmd_<name>.cpp (see command.h); adding one is a new file plus a line in
// kCommands below.
//
// Exit status: 0 success, 1 the daemon refused (its error code on stderr) or
// could not be reached, 2 usage. See kithctl(8).
#include <cstdio>
#include <vector>

#include <CLI/CLI.hpp>

#include "command.h"

namespace kith::kithctl {
namespace {

const Command kCommands[] = {
    statusCommand(),
    workloadsCommand(),
    eventsCommand(),
    policyCommand(),
    peersCommand(),
    recordsCommand(),
    caCommand(),
    doctorCommand(),
    forwardCommand(),
    hostCommand(),
    vhostCommand(),
    metricsCommand(),
};

void addCommonOptions(CLI::App* app, Globals* g) {
  app->add_flag("--json", g->json, "Print the daemon's raw JSON");
  app->add_option("--socket", g->socket,
                  "The daemon's api.sock (admin.sock is beside it; default: $KITH_SOCKET, "
                  "$KITH_HOME/run/api.sock, /run/kith/api.sock)")
      ->type_name("PATH");
}

}  // namespace

int run(int argc, char** argv) {
  Globals globals;
  CLI::App app{"kithctl - control a kith daemon", "kithctl"};
  app.set_version_flag("--version", "kithctl " KITH_VERSION);
  app.require_subcommand(1);
  addCommonOptions(&app, &globals);
  app.footer("Exit status: 0 success, 1 refused (error code on stderr), 2 usage. See kithctl(8).");

  std::vector<std::pair<CLI::App*, Action>> actions;
  for (const Command& cmd : kCommands) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    addCommonOptions(sub, &globals);
    actions.emplace_back(sub, cmd.setup(sub, &globals));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  // SIGPIPE keeps its default: `kithctl events --follow | head` ends with head.
  for (auto& [sub, action] : actions) {
    if (sub->parsed()) return action();
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace kith::kithctl

int main(int argc, char** argv) { return kith::kithctl::run(argc, argv); }
