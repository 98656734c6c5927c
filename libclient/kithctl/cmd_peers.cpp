// kithctl peers: the daemons this one replicates with (admin.sock): state,
// last seen, records held of each, link encryption; and this daemon's seed
// string for other machines' [replication] seeds.
// kithctl records: every signed record this daemon holds, one per line.
#include <cstdio>

#include "command.h"
#include "session.h"
#include "table.h"

namespace kith::kithctl {
namespace {

std::string field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int peers(const Globals& g) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto r = call(c, {{"op", "peers"}}, &raw);
    if (!r) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
      return kExitOk;
    }
    if (!r->value("replication", false)) {
      std::printf("replication is not configured ([replication] listen in kithd.toml)\n");
      return kExitOk;
    }
    std::printf("this machine: %s  seed: %s\n", field(*r, "machine").c_str(), field(*r, "seed").c_str());
    Table t({"PEER", "STATE", "LAST SEEN", "RTT", "RECORDS", "ENCRYPTED", "ENDPOINT"});
    for (const auto& p : (*r)["peers"]) {
      int64_t ago = p.value("last_seen_ms_ago", int64_t{-1});
      t.add({field(p, "machine"), field(p, "state"), ago < 0 ? "never" : std::to_string(ago) + " ms ago",
             p.value("rtt_ms", -1) < 0 ? "-" : std::to_string(p.value("rtt_ms", -1)) + " ms", field(p, "records"),
             p.value("encrypted", false) ? "curve" : "NO", field(p, "endpoint")});
    }
    std::fputs(t.render().c_str(), stdout);
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

int records(const Globals& g) {
  try {
    kith::Client c = openDaemon(g, /*fallbackToApi=*/false);
    c.setTimeout(kReplyTimeoutMs);
    std::string raw;
    auto r = call(c, {{"op", "records"}}, &raw);
    if (!r) return kExitRefused;
    if (g.json) {
      std::printf("%s\n", raw.c_str());
      return kExitOk;
    }
    for (const auto& line : (*r)["records"]) std::printf("%s\n", line.get<std::string>().c_str());
    return kExitOk;
  } catch (const kith::Error& e) {
    return refused(e);
  }
}

Action setupPeers(CLI::App*, const Globals* g) {
  return [g] { return peers(*g); };
}
Action setupRecords(CLI::App*, const Globals* g) {
  return [g] { return records(*g); };
}

}  // namespace

Command peersCommand() { return {"peers", "Peer daemons: state, last seen, records, encryption", &setupPeers}; }
Command recordsCommand() { return {"records", "Every signed record held (RAINS short assertions)", &setupRecords}; }

}  // namespace kith::kithctl
