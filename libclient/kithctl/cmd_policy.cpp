// kithctl policy check SRC DST [--proto tcp|udp] [--port N]
// kithctl policy reload
// kithctl policy test FILE      (offline: parses FILE and runs its [[test]]s)
//
// `check` asks the daemon (admin.sock) to decide and explain without
// connecting; exit 0 when allowed, 1 when denied. `reload` swaps the daemon's
// policy (the old one stays if the file is rejected). `test` needs no daemon.
#include <cstdio>

#include "command.h"
#include "kith/common/json.h"
#include "kith/policy/policy_file.h"
#include "session.h"

namespace kith::kithctl {
namespace {

struct Args {
  std::string src, dst, proto = "tcp", file;
  int port = 0;
};

int check(const Globals& g, const Args& a) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    nlohmann::json req = {{"op", "policy.check"}, {"src", a.src}, {"dst", a.dst}, {"proto", a.proto}};
    if (a.port > 0) req["port"] = a.port;
    std::string raw;
    auto r = call(c, req, &raw);
    if (!r) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
    } else {
      std::string decision = r->value("decision", "?");
      std::printf("%s  %s -> %s (%s)\n", decision.c_str(), a.src.c_str(), a.dst.c_str(), a.proto.c_str());
      std::string where = r->value("where", "");
      std::printf("rule: %s%s\n", r->value("rule", "?").c_str(), where.empty() ? "" : (" (" + where + ")").c_str());
      std::printf("why:  %s\n", r->value("explanation", "").c_str());
      if (!r->value("destination_registered", false)) {
        std::printf("note: %s is not registered here, so no registration whitelist was considered\n",
                    a.dst.c_str());
      }
    }
    return r->value("allowed", false) ? kExitOk : kExitRefused;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

int reload(const Globals& g) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto r = call(c, {{"op", "policy.reload"}}, &raw);
    if (!r) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
    } else {
      std::printf("policy reloaded from %s: %zu rules, %zu tests%s; %zu open streams re-checked, %zu closed\n",
                  r->value("file", "").c_str(), r->value("rules", size_t{0}), r->value("tests", size_t{0}),
                  r->value("audit", false) ? ", AUDIT MODE" : "", r->value("open_streams", size_t{0}),
                  r->value("closed_streams", size_t{0}));
    }
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

int test(const Globals& g, const Args& a) {
  auto p = policy::loadPolicyFile(a.file);
  if (!p.isOk()) {
    if (g.json) {
      std::printf("%s\n", dumpJson(nlohmann::json({{"ok", false}, {"file", a.file}, {"error", p.status().message()}})).c_str());
    } else {
      std::fprintf(stderr, "kithctl: policy rejected:\n%s\n", p.status().message().c_str());
    }
    return kExitRefused;
  }
  const auto& pol = **p;
  if (g.json) {
    std::printf("%s\n", dumpJson(nlohmann::json({{"ok", true}, {"file", a.file}, {"rules", pol.rules().size()},
                                        {"tests", pol.tests().size()}, {"audit", pol.audit()},
                                        {"warnings", pol.warnings()}})).c_str());
  } else {
    for (const auto& w : pol.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s: ok — %zu rules, %zu tests passed%s\n", a.file.c_str(), pol.rules().size(),
                pol.tests().size(), pol.audit() ? " (audit mode)" : "");
  }
  return kExitOk;
}

Action setup(CLI::App* sub, const Globals* g) {
  auto a = std::make_shared<Args>();
  sub->require_subcommand(1);
  CLI::App* chk = sub->add_subcommand("check", "Decide SRC -> DST under the daemon's policy and explain why");
  chk->add_option("SRC", a->src, "source address (five labels)")->required();
  chk->add_option("DST", a->dst, "destination address (five labels)")->required();
  chk->add_option("--proto", a->proto, "tcp or udp")->check(CLI::IsMember({"tcp", "udp"}));
  chk->add_option("--port", a->port, "destination port (for rules with `port`)")->check(CLI::Range(1, 65535));
  chk->fallthrough();
  CLI::App* rel = sub->add_subcommand("reload", "Re-read the policy file; the old policy stays if it is rejected");
  rel->fallthrough();
  CLI::App* tst = sub->add_subcommand("test", "Validate FILE offline and run its [[test]]s");
  tst->add_option("FILE", a->file, "policy file (kith-policy(5))")->required();
  tst->fallthrough();
  return [g, a, chk, rel, tst]() {
    if (chk->parsed()) return check(*g, *a);
    if (rel->parsed()) return reload(*g);
    if (tst->parsed()) return test(*g, *a);
    return kExitUsage;
  };
}

}  // namespace

Command policyCommand() {
  return {"policy", "Check, reload or test policy (kith-policy(5))", &setup};
}

}  // namespace kith::kithctl
