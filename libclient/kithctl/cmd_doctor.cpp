// kithctl doctor [--home DIR] [--node-dir DIR]: checks what an operator would
// check by hand and says what to do about each failure.
//
// One line per check:  ok|warn|fail|skip  CHECK  DETAIL  [fix: WHAT TO DO]
// Checks: api.sock and admin.sock answer; socket modes (api 0666, admin 0600 or
// 0660, never open to others); the wall clock is sane and NTP-synchronised
// (when timedatectl can tell); the node identity's certificates (node.crt,
// node-ca.crt, ca.crt) are valid for more than 30 days (identity::
// kRenewBeforeSeconds: warn inside it, fail once expired or not yet valid) and
// the node directory loads as kithd would load it; the policy is loaded and no
// reload was rejected; peers (skipped until the daemon reports replication).
//
// The node directory: --node-dir, else --home DIR/node, else what `status`
// reports (node_dir, or home), else $KITH_HOME/node, else /var/lib/kith/node.
// Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "kith/common/clock.h"
#include "kith/common/json.h"
#include "kith/common/unique_fd.h"
#include "kith/identity/ca_dir.h"
#include "kith/identity/cert.h"
#include "kith/socket-api/socket_path.h"
#include "session.h"

namespace kith::kithctl {
namespace {

namespace id = kith::identity;
using nlohmann::json;

inline constexpr const char* kDefaultHome = "/var/lib/kith";
// A wall clock before this (2024-01-01T00:00:00Z) or after kLatestSaneSeconds
// (2100-01-01) is wrong, whatever NTP says.
inline constexpr int64_t kEarliestSaneSeconds = 1'704'067'200;
inline constexpr int64_t kLatestSaneSeconds = 4'102'444'800;

struct Args {
  std::string home, nodeDir;
};

enum class Outcome { kOk, kWarn, kFail, kSkip };

const char* resultName(Outcome r) {
  switch (r) {
    case Outcome::kOk: return "ok";
    case Outcome::kWarn: return "warn";
    case Outcome::kFail: return "fail";
    case Outcome::kSkip: return "skip";
  }
  return "?";
}

struct Check {
  Outcome result;
  std::string name, detail, fix;
};

class Report {
 public:
  void add(Outcome r, std::string name, std::string detail, std::string fix = "") {
    checks_.push_back({r, std::move(name), std::move(detail), std::move(fix)});
  }
  bool failed() const {
    for (const auto& c : checks_) {
      if (c.result == Outcome::kFail) return true;
    }
    return false;
  }
  int count(Outcome r) const {
    int n = 0;
    for (const auto& c : checks_) n += c.result == r;
    return n;
  }
  void print(bool asJson, const json& context) const {
    if (asJson) {
      json out = context;
      out["ok"] = !failed();
      out["checks"] = json::array();
      for (const auto& c : checks_) {
        json j = {{"check", c.name}, {"result", resultName(c.result)}, {"detail", c.detail}};
        if (!c.fix.empty()) j["fix"] = c.fix;
        out["checks"].push_back(std::move(j));
      }
      std::printf("%s\n", dumpJson(out).c_str());
      return;
    }
    size_t w = 0;
    for (const auto& c : checks_) w = std::max(w, c.name.size());
    for (const auto& c : checks_) {
      std::printf("%-4s  %-*s  %s%s%s\n", resultName(c.result), static_cast<int>(w), c.name.c_str(),
                  c.detail.c_str(), c.fix.empty() ? "" : "  fix: ", c.fix.c_str());
    }
    std::printf("%d ok, %d warn, %d fail, %d skipped\n", count(Outcome::kOk), count(Outcome::kWarn),
                count(Outcome::kFail), count(Outcome::kSkip));
  }

 private:
  std::vector<Check> checks_;
};

// "10 days" (to the nearest day), "5 hours" under a day.
std::string days(int64_t seconds) {
  int64_t d = (seconds + id::kDaySeconds / 2) / id::kDaySeconds;
  if (d >= 1) return std::to_string(d) + (d == 1 ? " day" : " days");
  return std::to_string(seconds / 3600) + " hours";
}

std::string modeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// connect(2) to a Unix socket: 0 or the errno.
int probe(const std::string& path) {
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) return ENAMETOOLONG;
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return errno;
  return 0;
}

// Sends one request on a fresh connection; nullopt (with `why`) on any failure.
std::optional<json> ask(const std::string& path, bool admin, const json& request, std::string* why) {
  try {
    // Client::open takes the api.sock path; openAdmin finds admin.sock beside it.
    kith::Client c = admin ? kith::Client::openAdmin(path) : kith::Client::open(path);
    c.setTimeout(kReplyTimeoutMs);
    kith::Reply r = c.request(dumpJson(request));
    if (r.status != KITH_OK) {
      *why = r.code + ": " + r.message;
      return std::nullopt;
    }
    auto j = parseJson(r.json);
    if (!j.is_object()) {
      *why = "malformed reply";
      return std::nullopt;
    }
    return j;
  } catch (const kith::Error& e) {
    *why = e.code() + ": " + e.message();
    return std::nullopt;
  }
}

// ---- sockets ------------------------------------------------------------------

struct Sockets {
  std::string api, admin;
  bool apiUp = false, adminUp = false;
  std::optional<json> status;  // the daemon's status reply
};

const char* const kStartFix =
    "start kithd (systemctl start kithd, or kithd --dev), or point --socket / $KITH_SOCKET / $KITH_HOME "
    "at the daemon's api.sock";

void checkApi(Report& rep, Sockets& s) {
  int err = probe(s.api);
  if (err != 0) {
    std::string why = std::strerror(err);
    if (err == ECONNREFUSED) why += " (a stale socket: no daemon is listening)";
    rep.add(Outcome::kFail, "api.sock", "cannot connect to " + s.api + ": " + why,
            err == EACCES ? "the directory holding api.sock must be searchable by every user (kithd makes "
                            "its home 0711); check the path's permissions"
                          : kStartFix);
    return;
  }
  std::string why;
  auto status = ask(s.api, false, {{"op", "status"}}, &why);
  if (!status) {
    rep.add(Outcome::kFail, "api.sock", s.api + " accepts connections but does not answer status: " + why,
            "look at kithd's log (journalctl -u kithd) and restart it");
    return;
  }
  s.apiUp = true;
  s.status = std::move(status);
  rep.add(Outcome::kOk, "api.sock",
          s.status->value("daemon", std::string("kithd")) + " answers at " + s.api + " (machine " +
              s.status->value("machine", std::string("?")) + ", trust domain " +
              s.status->value("trust_domain", std::string("?")) + ")");
}

void checkAdmin(Report& rep, Sockets& s) {
  int err = probe(s.admin);
  if (err == EACCES || err == EPERM) {
    rep.add(Outcome::kWarn, "admin.sock", "permission denied on " + s.admin + "; admin checks are limited",
            "run as root or as a member of the daemon's admin group ([api] admin_group in kithd.toml)");
    return;
  }
  if (err != 0) {
    if (!s.apiUp) {
      rep.add(Outcome::kSkip, "admin.sock", "daemon not reachable");
      return;
    }
    rep.add(Outcome::kFail, "admin.sock", "cannot connect to " + s.admin + ": " + std::strerror(err),
            "kithd creates admin.sock beside api.sock; restart kithd, and check [api] admin_socket in "
            "kithd.toml");
    return;
  }
  std::string why;
  auto status = ask(s.admin, true, {{"op", "status"}}, &why);
  if (!status) {
    rep.add(Outcome::kFail, "admin.sock", s.admin + " does not answer: " + why,
            "look at kithd's log (journalctl -u kithd) and restart it");
    return;
  }
  s.adminUp = true;
  if (!s.status) s.status = std::move(status);
  rep.add(Outcome::kOk, "admin.sock", "answers at " + s.admin);
}

void checkModes(Report& rep, const Sockets& s) {
  struct stat a{}, b{};
  bool haveApi = ::stat(s.api.c_str(), &a) == 0 && S_ISSOCK(a.st_mode);
  bool haveAdmin = ::stat(s.admin.c_str(), &b) == 0 && S_ISSOCK(b.st_mode);
  if (!haveApi && !haveAdmin) {
    rep.add(Outcome::kSkip, "socket modes", "no sockets to check");
    return;
  }
  const char* restartFix = "kithd sets these modes when it starts: restart it, and make sure nothing "
                           "else chmods its run directory";
  std::vector<std::string> problems;
  Outcome worst = Outcome::kOk;
  std::string detail;
  if (haveApi) {
    mode_t m = a.st_mode & 0777;
    detail = "api.sock " + modeString(m);
    if (m != 0666) {
      problems.push_back("api.sock is " + modeString(m) + ", not 0666: local users cannot all register");
      worst = Outcome::kWarn;
    }
  }
  if (haveAdmin) {
    mode_t m = b.st_mode & 0777;
    std::string owner = "";
    if (m == 0660) {
      group* g = ::getgrgid(b.st_gid);
      owner = std::string(" group ") + (g ? g->gr_name : std::to_string(b.st_gid));
    }
    detail += (detail.empty() ? "" : ", ") + std::string("admin.sock ") + modeString(m) + owner;
    if ((m & 0007) != 0) {
      problems.push_back("admin.sock is " + modeString(m) + ": any local user can administer kithd");
      worst = Outcome::kFail;
    } else if (m != 0600 && m != 0660) {
      problems.push_back("admin.sock is " + modeString(m) + ", expected 0600 or 0660");
      if (worst == Outcome::kOk) worst = Outcome::kWarn;
    }
  }
  if (problems.empty()) {
    rep.add(Outcome::kOk, "socket modes", detail);
    return;
  }
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
  rep.add(worst, "socket modes", text, restartFix);
}

// ---- clock ----------------------------------------------------------------------

int64_t nowNanos(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void checkClock(Report& rep) {
  // The wall clock must advance with the monotonic clock (it is not being
  // stepped under us) and read a plausible date.
  int64_t w0 = nowNanos(CLOCK_REALTIME), m0 = nowNanos(CLOCK_MONOTONIC);
  timespec pause{0, 20'000'000};
  ::nanosleep(&pause, nullptr);
  int64_t w1 = nowNanos(CLOCK_REALTIME), m1 = nowNanos(CLOCK_MONOTONIC);
  int64_t drift = (w1 - w0) - (m1 - m0);
  int64_t now = w1 / 1'000'000'000;
  std::string reads = "wall clock reads " + formatSecondsIso(now);
  const char* setFix = "set the clock: enable NTP (timedatectl set-ntp true, or chrony/systemd-timesyncd)";
  if (now < kEarliestSaneSeconds || now >= kLatestSaneSeconds) {
    rep.add(Outcome::kFail, "clock", reads + ": not a plausible date; certificates and records will be "
                                            "judged wrongly", setFix);
  } else if (drift > 1'000'000'000 || drift < -1'000'000'000) {
    rep.add(Outcome::kWarn, "clock", reads + "; it jumped by " + std::to_string(drift / 1'000'000) +
                                        " ms against the monotonic clock during the check", setFix);
  } else {
    rep.add(Outcome::kOk, "clock", reads + ", advancing with the monotonic clock");
  }

  // NTP: only where timedatectl can say (systemd); otherwise skipped.
  std::string out;
  int rc = -1;
  if (FILE* p = ::popen("timeout 5 timedatectl show -p NTPSynchronized --value 2>/dev/null", "r")) {
    char buf[64];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    rc = ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (rc == 0 && out == "yes") {
    rep.add(Outcome::kOk, "time sync", "NTP synchronized (timedatectl)");
  } else if (rc == 0 && out == "no") {
    rep.add(Outcome::kWarn, "time sync", "the clock is not NTP-synchronized (timedatectl)",
            "timedatectl set-ntp true, or run chrony/systemd-timesyncd");
  } else {
    rep.add(Outcome::kSkip, "time sync", "NTP state unknown (timedatectl not available)");
  }
}

// ---- certificates -----------------------------------------------------------------

std::string nodeDirFor(const Args& a, const Sockets& s, std::string* source) {
  if (!a.nodeDir.empty()) {
    *source = "--node-dir";
    return a.nodeDir;
  }
  if (!a.home.empty()) {
    *source = "--home";
    return a.home + "/node";
  }
  if (s.status) {
    const json& st = *s.status;
    if (auto it = st.find("identity"); it != st.end() && it->is_object() && it->contains("node_dir") &&
                                       (*it)["node_dir"].is_string()) {
      *source = "status";
      return (*it)["node_dir"].get<std::string>();
    }
    if (auto it = st.find("node_dir"); it != st.end() && it->is_string()) {
      *source = "status";
      return it->get<std::string>();
    }
    if (auto it = st.find("home"); it != st.end() && it->is_string()) {
      *source = "status";
      return it->get<std::string>() + "/node";
    }
  }
  if (const char* h = std::getenv("KITH_HOME"); h && *h) {
    *source = "$KITH_HOME";
    return std::string(h) + "/node";
  }
  *source = "default";
  return std::string(kDefaultHome) + "/node";
}

std::string renewFix(const std::string& dir, const std::string& machine) {
  std::string m = machine.empty() ? "MACHINE" : machine;
  return "renew: kithctl ca issue-node " + m + " --ca CA_DIR --out " + dir +
         " --replace (or ca csr --reuse-key + ca sign-csr), then restart kithd; a --dev daemon renews its "
         "own at start";
}

// One certificate file: validity against now and the 30-day horizon.
void checkCertFile(Report& rep, const std::string& dir, std::string_view file, bool required,
                   const std::string& machine, int64_t now) {
  std::string name = "cert " + std::string(file);
  std::string path = dir + "/" + std::string(file);
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) {
    int err = errno;
    if (err == ENOENT && !required) {
      rep.add(Outcome::kSkip, name, path + " not present");
    } else {
      rep.add(Outcome::kFail, name, "cannot read " + path + ": " + std::strerror(err),
              err == EACCES ? "run as root (the node directory is 0700)" : renewFix(dir, machine));
    }
    return;
  }
  std::string pem;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && pem.size() < (1u << 20)) pem.append(buf, n);
  std::fclose(f);
  auto info = id::parseCertificatePem(pem);
  if (!info) {
    rep.add(Outcome::kFail, name, path + ": " + info.status().message(), renewFix(dir, machine));
    return;
  }
  bool isRoot = file == id::kBundleFile;
  std::string fix = isRoot ? "the trust domain's root certificate: create a new root (kithctl ca init) and "
                             "reissue every node before it expires"
                           : renewFix(dir, machine);
  std::string until = formatSecondsIso(info->notAfter);
  if (info->notAfter <= now) {
    rep.add(Outcome::kFail, name, "expired at " + until, fix);
  } else if (info->notBefore > now) {
    rep.add(Outcome::kFail, name, "not valid before " + formatSecondsIso(info->notBefore),
            "is this machine's clock behind? check `clock` above, or reissue the certificate");
  } else if (info->notAfter - now < id::kRenewBeforeSeconds) {
    rep.add(Outcome::kWarn, name, "expires in " + days(info->notAfter - now) + " (" + until + ")", fix);
  } else {
    rep.add(Outcome::kOk, name, "valid until " + until + " (" + days(info->notAfter - now) + ")");
  }
}

void checkIdentity(Report& rep, const Args& a, const Sockets& s, std::string* nodeDirOut) {
  std::string source;
  std::string dir = nodeDirFor(a, s, &source);
  *nodeDirOut = dir;
  std::string daemonMachine = s.status ? s.status->value("machine", std::string()) : std::string();
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) {
    int err = errno;
    if (err == EACCES) {
      rep.add(Outcome::kWarn, "node identity", "cannot look into " + dir + ": permission denied",
              "run as root (the node directory is 0700)");
    } else {
      rep.add(Outcome::kWarn, "node identity",
              "no node identity at " + dir + " (from " + source + "): this machine cannot join a mesh",
              "kithctl ca issue-node " + (daemonMachine.empty() ? "MACHINE" : daemonMachine) +
                  " --ca CA_DIR --out " + dir + ", or point doctor at it with --home / --node-dir");
    }
    return;
  }
  std::string keyPath = dir + "/" + std::string(id::kNodeKeyFile);
  if (::access(dir.c_str(), R_OK | X_OK) != 0) {
    rep.add(Outcome::kWarn, "node identity", "cannot read " + dir + ": " + std::strerror(errno),
            "run as root (the node directory is 0700)");
    return;
  }
  // The machine the directory is for (renewal hints name it), else the daemon's.
  std::string machine = daemonMachine;
  if (FILE* f = std::fopen((dir + "/" + std::string(id::kMachineFile)).c_str(), "re")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f) != nullptr) {
      std::string m = line;
      while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
      if (!m.empty()) machine = m;
    }
    std::fclose(f);
  }
  int64_t now = systemClock().nowMicros() / 1'000'000;
  checkCertFile(rep, dir, id::kNodeCertFile, true, machine, now);
  checkCertFile(rep, dir, id::kNodeCaCertFile, false, machine, now);
  checkCertFile(rep, dir, id::kBundleFile, true, machine, now);

  // What kithd does with the directory: key mode, key/cert match, chain, names.
  struct stat ks{};
  if (::stat(keyPath.c_str(), &ks) == 0 && (ks.st_mode & 077) != 0) {
    rep.add(Outcome::kFail, "node identity", keyPath + " is mode " + modeString(ks.st_mode) +
                                                ": readable by others, and kithd refuses it",
            "chmod 600 " + keyPath + " (and consider the key exposed: reissue it)");
    return;
  }
  auto node = id::NodeIdentity::load(dir);
  if (!node) {
    rep.add(Outcome::kFail, "node identity", node.status().message(), renewFix(dir, machine));
    return;
  }
  if (!daemonMachine.empty() && node->machine != daemonMachine) {
    rep.add(Outcome::kFail, "node identity",
            dir + " is the identity of " + node->machine + ", but the daemon is " + daemonMachine,
            "issue an identity for " + daemonMachine + " or set machine in kithd.toml");
    return;
  }
  rep.add(Outcome::kOk, "node identity", node->spiffeId + " in " + dir + ": key 0600, chain verifies");
}

// ---- policy and peers -----------------------------------------------------------

void checkPolicy(Report& rep, const Sockets& s) {
  if (!s.status) {
    rep.add(Outcome::kSkip, "policy", "daemon not reachable");
    return;
  }
  auto it = s.status->find("policy");
  if (it == s.status->end() || !it->is_object()) {
    rep.add(Outcome::kWarn, "policy", "the daemon's status reports no policy", "upgrade kithd");
    return;
  }
  const json& p = *it;
  std::string file = p.value("file", std::string());
  size_t rules = p.value("rules", size_t{0});
  int64_t rejected = p.value("rejected_reloads", int64_t{0});
  std::string what = file.empty() ? "no policy file: default deny plus registration whitelists"
                                  : file + ": " + std::to_string(rules) + " rules loaded";
  if (rejected > 0) {
    rep.add(Outcome::kWarn, "policy",
            what + "; " + std::to_string(rejected) +
                " reload(s) were rejected since start, so the running policy may be older than the file",
            "kithctl policy test " + (file.empty() ? std::string("FILE") : file) +
                ", fix what it reports, then kithctl policy reload");
  } else if (p.value("audit", false)) {
    rep.add(Outcome::kWarn, "policy", what + "; AUDIT MODE: denials are logged, not enforced",
            "set audit = false in the policy file once the logs look right, then kithctl policy reload");
  } else {
    rep.add(Outcome::kOk, "policy", what);
  }
}

void checkPeers(Report& rep, const Sockets& s) {
  if (!s.status || !s.status->contains("peers") || (*s.status)["peers"].is_null()) {
    rep.add(Outcome::kSkip, "peers", "skipped: replication not configured");
    return;
  }
  const json& p = (*s.status)["peers"];
  if (p.is_object() && p.contains("up") && p.contains("down")) {
    int64_t up = p.value("up", int64_t{0}), down = p.value("down", int64_t{0});
    std::string detail = std::to_string(up) + " up, " + std::to_string(down) + " down";
    if (down > 0) {
      rep.add(Outcome::kWarn, "peers", detail, "kithctl peers shows which; check the network and their daemons");
    } else {
      rep.add(Outcome::kOk, "peers", detail);
    }
    return;
  }
  rep.add(Outcome::kOk, "peers", dumpJson(p));
}

// What the daemon's own health monitor says needs a human (kithd(8), HEALTH).
void checkHealth(Report& rep, const Sockets& s) {
  if (!s.status) {
    rep.add(Outcome::kSkip, "health", "daemon not reachable");
    return;
  }
  auto it = s.status->find("health");
  if (it == s.status->end() || !it->is_object()) {
    rep.add(Outcome::kSkip, "health", "the daemon reports no health (older kithd)");
    return;
  }
  const json& h = *it;
  if (h.value("healthy", false)) {
    rep.add(Outcome::kOk, "health", "the daemon reports nothing that needs attention");
    return;
  }
  for (const auto& c : h.value("action_required", json::array())) {
    std::string id = c.value("id", std::string("?"));
    // A failing store refuses registrations: that is broken, not a warning.
    rep.add(id == "storage" ? Outcome::kFail : Outcome::kWarn, "health " + id, c.value("what", std::string()),
            c.value("do", std::string()));
  }
  for (const auto& c : h.value("working_on_it", json::array())) {
    rep.add(Outcome::kWarn, "health " + c.value("id", std::string("?")),
            c.value("what", std::string()) + " (the daemon is handling it)");
  }
}

int run(const Globals& g, const Args& a) {
  Sockets s;
  s.admin = api::resolveAdminSocket(g.socket);
  s.api = api::resolveApiSocket(g.socket);
  if (s.api == s.admin) s.api = s.admin.substr(0, s.admin.size() - 10) + "api.sock";

  Report rep;
  checkApi(rep, s);
  checkAdmin(rep, s);
  checkModes(rep, s);
  checkClock(rep);
  std::string nodeDir;
  checkIdentity(rep, a, s, &nodeDir);
  checkPolicy(rep, s);
  checkPeers(rep, s);
  checkHealth(rep, s);
  rep.print(g.json, {{"socket", s.api}, {"admin_socket", s.admin}, {"node_dir", nodeDir}});
  return rep.failed() ? kExitRefused : kExitOk;
}

Action setup(CLI::App* sub, const Globals* g) {
  auto a = std::make_shared<Args>();
  sub->add_option("--home", a->home, "the daemon's home: check DIR/node (default: $KITH_HOME, /var/lib/kith)")
      ->type_name("DIR");
  sub->add_option("--node-dir", a->nodeDir, "the node directory to check ([identity] node_dir)")
      ->type_name("DIR");
  sub->footer(
      "Prints one line per check: ok|warn|fail|skip CHECK DETAIL [fix: ...].\n"
      "Exit status 0 when no check failed (warnings allowed), 1 otherwise.");
  return [g, a] { return run(*g, *a); };
}

}  // namespace

Command doctorCommand() {
  return {"doctor", "Check sockets, permissions, clock, certificate expiry, policy, peers and health", &setup};
}

}  // namespace kith::kithctl
