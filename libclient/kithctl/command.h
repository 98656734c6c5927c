// kithctl's command framework: every subcommand lives in its own cmd_<name>.cpp
// and exports one `Command <name>Command()` declared here; main.cpp lists them.
//
// A Command's setup() adds the subcommand's own options to `sub` (--json and
// --socket are added for it by main) and returns the action that runs after a
// successful parse. Actions return the exit status: kExitOk, kExitRefused (the
// daemon refused or could not be reached; the error is already on stderr).
// Usage errors never reach an action: CLI11 reports them and main exits 2.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace kith::kithctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;

// Options every command takes.
struct Globals {
  std::string socket;  // --socket PATH ("" = lookup order)
  bool json = false;   // --json: the daemon's raw JSON
};

using Action = std::function<int()>;

struct Command {
  const char* name;
  const char* help;
  Action (*setup)(CLI::App* sub, const Globals* globals);
};

Command statusCommand();
Command workloadsCommand();
Command eventsCommand();
Command policyCommand();
Command peersCommand();
Command recordsCommand();
Command caCommand();
Command doctorCommand();
Command forwardCommand();
Command hostCommand();
Command vhostCommand();
Command metricsCommand();

}  // namespace kith::kithctl
