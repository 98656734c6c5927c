// kithctl vhost: FOKS virtual hosts (admin.sock).
//
//   vhost add NAME --primary NAME [--backend PATTERN]
//        a vhost: its own HostKey and HostID, a ShortHostID, an Alias link to
//        the primary (whose TLS CA, Merkle and metadata keys it uses), and the
//        probe/beacon mappings; backend defaults to the primary's
//   vhost list
//   vhost remove NAME
#include <cstdio>

#include "command.h"
#include "session.h"
#include "table.h"

namespace kith::kithctl {
namespace {

using nlohmann::json;



Action setupVhost(CLI::App* app, const Globals* g) {
  app->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto primary = std::make_shared<std::string>();
  auto backend = std::make_shared<std::string>();
  CLI::App* add = app->add_subcommand("add", "Create a vhost of a primary (ShortHostID, HostKey, Alias link)");
  add->add_option("NAME", *name, "The vhost's DNS name")->required();
  add->add_option("--primary", *primary, "The primary host it aliases")->required();
  add->add_option("--backend", *backend, "Destination pattern of its backends (default: the primary's)");
  CLI::App* list = app->add_subcommand("list", "The vhosts and their primaries");
  CLI::App* remove = app->add_subcommand("remove", "Remove a vhost (its keys and ShortHostID)");
  remove->add_option("NAME", *name)->required();
  for (CLI::App* s : {add, list, remove}) {
    s->add_flag("--json", const_cast<Globals*>(g)->json, "Print raw JSON");
    s->add_option("--socket", const_cast<Globals*>(g)->socket, "The daemon's api.sock")->type_name("PATH");
  }
  return [=] {
    json r;
    if (add->parsed()) {
      json req = {{"op", "vhost.add"}, {"name", *name}, {"primary", *primary}};
      if (!backend->empty()) req["backend"] = *backend;
      int rc = adminCall(*g, req, &r);
      if (rc == kExitOk && !g->json) {
        std::printf("vhost     %s\nhost id   %s\nshort id  %s\nprimary   %s\nbackend   %s\n", cell(r, "name").c_str(),
                    cell(r, "host_id").c_str(), cell(r, "short_id").c_str(), cell(r, "primary").c_str(),
                    cell(r, "backend").c_str());
      }
      return rc;
    }
    if (list->parsed()) {
      int rc = adminCall(*g, {{"op", "vhost.list"}}, &r);
      if (rc != kExitOk || g->json) return rc;
      Table t({"VHOST", "SHORT", "PRIMARY", "BACKEND", "HOST ID"});
      for (auto& h : r["vhosts"]) {
        t.add({cell(h, "name"), cell(h, "short_id"), cell(h, "primary"), cell(h, "backend"), cell(h, "host_id")});
      }
      std::fputs(t.render().c_str(), stdout);
      return rc;
    }
    int rc = adminCall(*g, {{"op", "vhost.remove"}, {"name", *name}}, &r);
    if (rc == kExitOk && !g->json) std::printf("%s removed\n", name->c_str());
    return rc;
  };
}

}  // namespace

Command vhostCommand() { return {"vhost", "FOKS virtual hosts: add, list, remove", &setupVhost}; }

}  // namespace kith::kithctl
