// kithctl host: FOKS hosts.
//
//   host init NAME --backend PATTERN   a new primary host (admin.sock)
//   host show NAME                     its HostID, keys, hostchain, zone
//   host rotate NAME KEY               KEY: host | tls-ca | merkle | metadata
//   host list                          every host, and the listeners
//   host probe [NAME] [--host-id ID]   ask a probe server over TLS; checks the
//        [--at HOST:PORT] [--pins F]   answer and pins hostname -> HostID and
//                                      the chain (no rollback, no fork)
//   host beacon ID [--at HOST:PORT]    where host ID is served
//   host issue-client NAME --user U --out DIR
//                                      a client certificate for a user of the
//                                      host (key made here, 0600, never sent)
//
// Exit 1 with the reason on stderr for every refusal (a probe whose answer
// does not check out included).
// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <memory>

#include "command.h"
#include "kith/common/json.h"
#include "kith/common/unique_fd.h"
#include "kith/identity/host_probe.h"
#include "kith/identity/keys.h"
#include "session.h"
#include "table.h"

namespace kith::kithctl {
namespace {

using nlohmann::json;



void printHost(const json& h) {
  std::printf("host      %s\nhost id   %s\nshort id  %s\nprimary   %s\nbackend   %s\nseqno     %s\n",
              cell(h, "name").c_str(), cell(h, "host_id").c_str(), cell(h, "short_id").c_str(),
              cell(h, "primary").c_str(), cell(h, "backend").c_str(), cell(h, "seqno").c_str());
}

// --- probe over TLS -----------------------------------------------------------

struct TlsAnswer {
  json reply;
  Bytes leaf, ca;
};

std::optional<TlsAnswer> tlsRequest(const std::string& at, const std::string& sni, const json& req) {
  size_t colon = at.rfind(':');
  if (colon == std::string::npos) {
    complain("--at must be HOST:PORT");
    return std::nullopt;
  }
  std::string host = at.substr(0, colon), port = at.substr(colon + 1);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
    complain("CANNOT_CONNECT: cannot resolve " + at);
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!fd || ::connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0) {
    complain("CANNOT_CONNECT: cannot connect to " + at);
    return std::nullopt;
  }
  wolfSSL_Init();
  std::unique_ptr<WOLFSSL_CTX, decltype(&wolfSSL_CTX_free)> ctx(wolfSSL_CTX_new(wolfSSLv23_client_method()),
                                                                &wolfSSL_CTX_free);
  // The server is authenticated by the hostchain, not by a CA bundle: its
  // certificate is checked against the chain's TLS CA key after the answer.
  wolfSSL_CTX_set_verify(ctx.get(), WOLFSSL_VERIFY_NONE, nullptr);
  std::unique_ptr<WOLFSSL, decltype(&wolfSSL_free)> ssl(wolfSSL_new(ctx.get()), &wolfSSL_free);
  if (!sni.empty()) {
    wolfSSL_UseSNI(ssl.get(), WOLFSSL_SNI_HOST_NAME, sni.data(), static_cast<unsigned short>(sni.size()));
  }
  wolfSSL_set_fd(ssl.get(), fd.get());
  if (wolfSSL_connect(ssl.get()) != WOLFSSL_SUCCESS) {
    complain("UNAUTHORIZED: TLS handshake with " + at + " failed (" +
             std::to_string(wolfSSL_get_error(ssl.get(), 0)) + ")" +
             (sni.empty() ? "" : "; is " + sni + " served there?"));
    return std::nullopt;
  }
  TlsAnswer out;
  if (WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl.get())) {
    auto grab = [&](int i) {
      const unsigned char* d = wolfSSL_get_chain_cert(chain, i);
      int n = wolfSSL_get_chain_length(chain, i);
      return d && n > 0 ? Bytes(d, d + n) : Bytes();
    };
    int count = wolfSSL_get_chain_count(chain);
    if (count >= 1) out.leaf = grab(0);
    if (count >= 2) out.ca = grab(1);
  }
  std::string line = dumpJson(req) + "\n";
  wolfSSL_write(ssl.get(), line.data(), static_cast<int>(line.size()));
  std::string in;
  char buf[16384];
  while (in.find('\n') == std::string::npos && in.size() < (64u << 20)) {
    int n = wolfSSL_read(ssl.get(), buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  wolfSSL_shutdown(ssl.get());
  out.reply = parseJson(in.substr(0, in.find('\n')));
  if (out.reply.is_discarded()) {
    complain("BAD_REQUEST: the probe server's answer is not JSON");
    return std::nullopt;
  }
  return out;
}

// --at, else the local daemon's probe listener.
std::optional<std::string> probeAddress(const Globals& g, const std::string& at) {
  if (!at.empty()) return at;
  Globals quiet = g;
  quiet.json = false;
  json r;
  if (adminCall(quiet, {{"op", "host.list"}}, &r) != kExitOk) return std::nullopt;
  if (!r.contains("probe_listen") || !r["probe_listen"].is_string()) {
    complain("the local daemon has no probe listener ([vhost] probe_listen); give --at HOST:PORT");
    return std::nullopt;
  }
  return r["probe_listen"].get<std::string>();
}

std::string defaultPins() {
  if (const char* h = std::getenv("KITH_HOME")) return std::string(h) + "/foks-pins.json";
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.kith-foks-pins.json";
  return ".kith-foks-pins.json";
}

struct ProbeArgs {
  std::string name, hostId, at, pins;
  bool noPin = false;
};

int probe(const Globals& g, const ProbeArgs& a) {
  if (a.name.empty() && a.hostId.empty()) {
    complain("give a hostname, --host-id ID, or both");
    return kExitUsage;
  }
  std::optional<identity::HostId> askedId;
  if (!a.hostId.empty()) {
    auto id = identity::HostId::parse(a.hostId);
    if (!id) {
      complain("BAD_REQUEST: " + id.status().message());
      return kExitRefused;
    }
    askedId = *id;
  }
  auto at = probeAddress(g, a.at);
  if (!at) return kExitRefused;
  json req = {{"op", "probe"}};
  if (!a.name.empty()) req["hostname"] = a.name;
  if (askedId) req["host_id"] = askedId->toString();
  auto answer = tlsRequest(*at, a.name, req);
  if (!answer) return kExitRefused;
  auto parsed = identity::parseProbeAnswer(answer->reply);
  if (!parsed) {
    complain(std::string(codeName(parsed.status().code())) + ": " + parsed.status().message());
    return kExitRefused;
  }
  std::optional<std::string> askedName;
  if (!a.name.empty()) askedName = a.name;
  auto checked = identity::checkProbeAnswer(*parsed, askedName, askedId);
  if (!checked) {
    complain("UNAUTHORIZED: " + checked.status().message());
    return kExitRefused;
  }
  if (!a.name.empty()) {
    Status cert = identity::checkServerCertificate(answer->leaf, answer->ca, a.name, checked->keys());
    if (!cert.isOk()) {
      complain("UNAUTHORIZED: " + cert.message());
      return kExitRefused;
    }
  }
  std::string pinsPath = a.pins.empty() ? defaultPins() : a.pins;
  if (!a.noPin) {
    auto pins = identity::HostPins::load(pinsPath);
    if (!pins) {
      complain("pins: " + pins.status().message());
      return kExitRefused;
    }
    if (Status st = pins->check(*parsed, checked->state); !st.isOk()) {
      complain("UNAUTHORIZED: " + st.message());
      return kExitRefused;
    }
    pins->record(*parsed, checked->state);
    if (Status st = pins->save(pinsPath); !st.isOk()) {
      complain("pins: " + st.message());
      return kExitRefused;
    }
  }
  if (g.json) {
    std::printf("%s\n", dumpJson(answer->reply).c_str());
    return kExitOk;
  }
  std::printf("host      %s\nhost id   %s\nseqno     %llu\n", parsed->hostname.c_str(),
              parsed->hostId.toString().c_str(), static_cast<unsigned long long>(checked->state.seqno));
  if (parsed->primaryHostname) std::printf("primary   %s\n", parsed->primaryHostname->c_str());
  std::printf("probe     %s\nuser      %s\nreg       %s\nmerkle    %s\nttl       %lld\n", parsed->zone.probe.c_str(),
              parsed->zone.user.c_str(), parsed->zone.reg.c_str(), parsed->zone.merkleQuery.c_str(),
              static_cast<long long>(parsed->zone.ttlSeconds));
  std::printf("verified  hostchain, zone%s; pinned in %s\n", a.name.empty() ? "" : ", server certificate",
              a.noPin ? "(not pinned)" : pinsPath.c_str());
  return kExitOk;
}

int beacon(const Globals& g, const std::string& id, const std::string& atArg) {
  auto at = probeAddress(g, atArg);
  if (!at) return kExitRefused;
  auto answer = tlsRequest(*at, "", {{"op", "beacon"}, {"host_id", id}});
  if (!answer) return kExitRefused;
  const json& r = answer->reply;
  if (!r.value("ok", false)) {
    complain(cell(r["error"], "code") + ": " + cell(r["error"], "message"));
    return kExitRefused;
  }
  if (g.json) std::printf("%s\n", dumpJson(r).c_str());
  else std::printf("%s:%s\n", cell(r, "hostname").c_str(), cell(r, "port").c_str());
  return kExitOk;
}

int issueClient(const Globals& g, const std::string& name, const std::string& user, const std::string& out,
                int days) {
  if (::mkdir(out.c_str(), 0700) != 0 && errno != EEXIST) {
    complain("cannot make " + out + ": " + std::strerror(errno));
    return kExitRefused;
  }
  identity::SigningKey key = identity::SigningKey::generate();
  Globals quiet = g;
  quiet.json = false;
  json r;
  const auto& pk = key.publicKey();
  int rc = adminCall(quiet,
                     {{"op", "host.issue-client"}, {"name", name}, {"user", user},
                      {"public_key", toHex(pk.data(), pk.size())}, {"validity_days", days}},
                     &r);
  if (rc != kExitOk) return rc;
  if (Status st = key.saveKeyFile(out + "/client.key", identity::SigningKey::Write::kCreateOnly); !st.isOk()) {
    complain(st.message());
    return kExitRefused;
  }
  for (auto [file, field] : {std::pair{"/client.crt", "certificate"}, std::pair{"/ca.crt", "ca"}}) {
    std::ofstream f(out + file, std::ios::trunc);
    f << r[field].get<std::string>();
    if (!f) {
      complain("cannot write " + out + file);
      return kExitRefused;
    }
  }
  if (g.json) {
    std::printf("%s\n", dumpJson(json({{"identity", r["identity"]}, {"host_id", r["host_id"]}, {"dir", out}})).c_str());
  } else {
    std::printf("identity  %s\nwritten   %s/client.crt, %s/client.key (0600), %s/ca.crt\n",
                cell(r, "identity").c_str(), out.c_str(), out.c_str(), out.c_str());
  }
  return kExitOk;
}

Action setupHost(CLI::App* app, const Globals* g) {
  app->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto backend = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto pa = std::make_shared<ProbeArgs>();
  auto beaconId = std::make_shared<std::string>();

  CLI::App* init = app->add_subcommand("init", "Create a primary host: HostKey, TLS CA, Merkle and metadata keys");
  init->add_option("NAME", *name, "The host's DNS name")->required();
  init->add_option("--backend", *backend, "Destination pattern of the workloads serving it, e.g. prod.foks.*.*.*")
      ->required();
  CLI::App* show = app->add_subcommand("show", "A host's HostID, live keys, hostchain and zone");
  show->add_option("NAME", *name)->required();
  CLI::App* rotate = app->add_subcommand("rotate", "Replace one of a host's keys (a hostchain link)");
  rotate->add_option("NAME", *name)->required();
  rotate->add_option("KEY", *key, "host | tls-ca | merkle | metadata")->required();
  CLI::App* list = app->add_subcommand("list", "Every host and the vhost/probe listeners");
  CLI::App* probeCmd = app->add_subcommand("probe", "Probe a host over TLS; check and pin what it says");
  probeCmd->add_option("NAME", pa->name, "The hostname");
  probeCmd->add_option("--host-id", pa->hostId, "The HostID (with NAME: both must agree)");
  probeCmd->add_option("--at", pa->at, "Probe server HOST:PORT (default: the local daemon's)");
  probeCmd->add_option("--pins", pa->pins, "Pins file (default $KITH_HOME/foks-pins.json)");
  probeCmd->add_flag("--no-pin", pa->noPin, "Check the answer but neither consult nor update the pins");
  CLI::App* beaconCmd = app->add_subcommand("beacon", "Where a HostID is served (hostname:port)");
  beaconCmd->add_option("ID", *beaconId)->required();
  beaconCmd->add_option("--at", pa->at, "Probe server HOST:PORT (default: the local daemon's)");
  auto user = std::make_shared<std::string>();
  auto outDir = std::make_shared<std::string>();
  auto days = std::make_shared<int>(90);
  CLI::App* issue = app->add_subcommand("issue-client", "A client certificate naming a user of the host");
  issue->add_option("NAME", *name, "The host (or vhost)")->required();
  issue->add_option("--user", *user, "The user name in the certificate's foks:// URI")->required();
  issue->add_option("--out", *outDir, "Directory for client.crt, client.key (0600) and ca.crt")->required();
  issue->add_option("--validity-days", *days, "Validity (default 90)")->check(CLI::Range(1, 3650));
  for (CLI::App* s : {init, show, rotate, list, probeCmd, beaconCmd, issue}) {
    s->add_flag("--json", const_cast<Globals*>(g)->json, "Print raw JSON");
    s->add_option("--socket", const_cast<Globals*>(g)->socket, "The daemon's api.sock")->type_name("PATH");
  }

  return [=] {
    json r;
    if (init->parsed()) {
      int rc = adminCall(*g, {{"op", "host.init"}, {"name", *name}, {"backend", *backend}}, &r);
      if (rc == kExitOk && !g->json) printHost(r);
      return rc;
    }
    if (show->parsed()) {
      int rc = adminCall(*g, {{"op", "host.show"}, {"name", *name}}, &r);
      if (rc != kExitOk || g->json) return rc;
      printHost(r);
      for (auto& [role, keys] : r["keys"].items()) {
        for (auto& k : keys) std::printf("key       %-9s %s\n", role.c_str(), k.get<std::string>().c_str());
      }
      std::printf("hostchain:\n");
      for (auto& l : r["chain"]) {
        std::string changes;
        for (auto& c : l["changes"]) {
          std::string op = cell(c, "op");
          changes += " " + op + (op == "add" ? ":" + cell(c, "role") : "") +
                     (op == "alias" ? ":" + cell(c, "primary").substr(0, 12) : ":" + cell(c, "key").substr(0, 12));
        }
        std::printf("  %3s  signer %s…%s\n", cell(l, "seqno").c_str(), cell(l, "signer").substr(0, 12).c_str(),
                    changes.c_str());
      }
      std::printf("zone      probe %s user %s ttl %s\n", cell(r["zone"], "probe").c_str(),
                  cell(r["zone"], "user").c_str(), cell(r["zone"], "ttl").c_str());
      return rc;
    }
    if (rotate->parsed()) {
      int rc = adminCall(*g, {{"op", "host.rotate"}, {"name", *name}, {"key", *key}}, &r);
      if (rc == kExitOk && !g->json) std::printf("%s: %s key rotated; hostchain at link %s\n", name->c_str(),
                                                 key->c_str(), cell(r, "seqno").c_str());
      return rc;
    }
    if (list->parsed()) {
      int rc = adminCall(*g, {{"op", "host.list"}}, &r);
      if (rc != kExitOk || g->json) return rc;
      std::printf("vhost listener: %s  probe listener: %s\n", cell(r, "listen").c_str(),
                  cell(r, "probe_listen").c_str());
      Table t({"HOST", "SHORT", "PRIMARY", "BACKEND", "HOST ID"});
      for (auto& h : r["hosts"]) {
        t.add({cell(h, "name"), cell(h, "short_id"), cell(h, "primary"), cell(h, "backend"), cell(h, "host_id")});
      }
      std::fputs(t.render().c_str(), stdout);
      return rc;
    }
    if (probeCmd->parsed()) return probe(*g, *pa);
    if (issue->parsed()) return issueClient(*g, *name, *user, *outDir, *days);
    return beacon(*g, *beaconId, pa->at);
  };
}

}  // namespace

Command hostCommand() {
  return {"host", "FOKS hosts: init, show, rotate, list, probe, beacon, issue-client", &setupHost};
}

}  // namespace kith::kithctl
