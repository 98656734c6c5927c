// bench_replication: replication figures with real daemons of one trust
// domain (`kithctl ca`), on loopback, ZeroMQ CURVE:
//   1. register-to-visible: 10 daemons; register on one, time until a
//      `watch` on each of the other nine has the event (p50, p99; goal p99 <= 50 ms);
//   2. catch-up: a fresh daemon seeded with one that holds 100,000 records,
//      time until it holds them all (goal <= 2 s); bytes it received on its
//      TCP connections per record (ss -ti bytes_received); its RSS per record
//      over a fresh daemon's;
//   3. restart: that daemon stopped and started again, time until it serves
//      and how many of the records it holds then.
// --quick: 4 daemons, 20 registrations, 10,000 records. Bounded: every wait
// has a deadline; the whole run takes about a minute.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "kithd_process.h"
#include "register_load.h"
#include "kith/common/json.h"

using namespace kith;
using namespace kith::bench;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    if (out) out->append(buf, n);
  }
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

// The 1-minute load average (/proc/loadavg): printed with every figure, the
// machine is shared.
std::string loadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one.empty() ? "?" : one;
}

// CPU seconds (user + system, all threads) a process has used so far.
double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = all.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields;
  size_t pos = paren + 2;
  while (pos < all.size()) {
    size_t sp = all.find(' ', pos);
    if (sp == std::string::npos) sp = all.size();
    fields.push_back(all.substr(pos, sp - pos));
    pos = sp + 1;
  }
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  if (fields.size() < 13) return -1;
  return static_cast<double>(std::atoll(fields[11].c_str()) + std::atoll(fields[12].c_str())) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Mesh {
  BenchDir dir;
  std::string bin = selfDir();
  std::string seed;
  std::map<std::string, std::unique_ptr<KithdProcess>> d;

  bool init() {
    std::string out;
    if (sh(bin + "/kithctl ca init --trust-domain bench.kith --out " + dir.path() + "/ca", &out) != 0) {
      std::fprintf(stderr, "kithctl ca init: %s\n", out.c_str());
      return false;
    }
    return true;
  }
  std::string home(const std::string& m) const { return dir.path() + "/" + m; }
  KithdProcess* start(const std::string& m, bool seeded = true) {
    std::string out;
    if (sh(bin + "/kithctl ca issue-node " + m + " --ca " + dir.path() + "/ca --out " + home(m) + "/node", &out) != 0) {
      std::fprintf(stderr, "issue-node %s: %s\n", m.c_str(), out.c_str());
      return nullptr;
    }
    std::string cfg = home(m) + ".toml";
    std::ofstream f(cfg);
    f << "machine = \"" << m << "\"\ntrust_domain = \"bench.kith\"\nhome = \"" << home(m)
      << "\"\n[log]\nlevel = \"warn\"\n[replication]\nlisten = \"tcp://127.0.0.1:0\"\n";
    if (seeded && !seed.empty()) f << "seeds = [\"" << seed << "\"]\n";
    f.close();
    auto p = std::make_unique<KithdProcess>(bin + "/kithd", home(m), std::vector<std::string>{"--config", cfg});
    p->setDev(false);
    if (Status st = p->start(); !st.isOk()) {
      std::fprintf(stderr, "kithd %s: %s %s\n", m.c_str(), st.message().c_str(), p->logTail().c_str());
      return nullptr;
    }
    KithdProcess* raw = p.get();
    d[m] = std::move(p);
    if (seed.empty()) seed = admin(m).value("seed", "");
    return raw;
  }
  json adminReq(const std::string& m, json req) {
    auto c = ApiClient::connect(home(m) + "/run/admin.sock");
    if (!c.isOk()) return json::object();
    auto r = c->request(std::move(req), 10000);
    return r.isOk() ? r->json : json::object();
  }
  json admin(const std::string& m) { return adminReq(m, {{"op", "peers"}}); }
  size_t upPeers(const std::string& m) {
    size_t up = 0;
    json peers = admin(m)["peers"];  // a copy: the reply is a temporary
    for (auto& p : peers) up += p.value("state", "") == "up";
    return up;
  }
  uint64_t records(const std::string& m) {
    json st = adminReq(m, {{"op", "status"}});
    return st.contains("replication") && st["replication"].is_object() ? st["replication"].value("records", 0ull) : 0;
  }
};

bool waitUntil(const std::function<bool()>& cond, int timeoutMs) {
  auto end = Clock::now() + std::chrono::milliseconds(timeoutMs);
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// bytes_received summed over the TCP sockets of `pid` (ss -tinp).
long long tcpBytesReceived(pid_t pid) {
  std::string out;
  if (sh("ss -tinpH", &out) != 0) return -1;
  long long total = 0;
  std::string tag = "pid=" + std::to_string(pid) + ",";
  size_t pos = 0;
  bool mine = false;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    std::string line = out.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.find("users:(") != std::string::npos) {
      mine = line.find(tag) != std::string::npos;
      continue;
    }
    size_t b = line.find("bytes_received:");
    if (mine && b != std::string::npos) total += std::atoll(line.c_str() + b + 15);
  }
  return total;
}

int latencyPhase(int daemons, int regs) {
  Mesh mesh;
  if (!mesh.init()) return 1;
  std::vector<std::string> names;
  for (int i = 0; i < daemons; ++i) {
    names.push_back("m" + std::to_string(i));
    if (!mesh.start(names.back())) return 1;
  }
  if (!waitUntil([&] {
        for (auto& n : names) {
          if (mesh.upPeers(n) < static_cast<size_t>(daemons - 1)) return false;
        }
        return true;
      }, 60000)) {
    std::printf("register-to-visible: the %d daemons did not all see each other within 60 s:", daemons);
    for (auto& n : names) std::printf(" %s sees %zu up;", n.c_str(), mesh.upPeers(n));
    std::printf("\n%s\n", dumpJson(mesh.admin(names[0])).c_str());
    return 1;
  }
  std::vector<ApiClient> watchers;
  for (int i = 1; i < daemons; ++i) {
    auto c = ApiClient::connect(mesh.home(names[i]) + "/run/api.sock");
    if (!c.isOk()) return 1;
    if (!c->request({{"op", "watch"}, {"pattern", "bench.lat.*.*.*"}}).isOk()) return 1;
    watchers.push_back(std::move(c).value());
  }
  auto reg = ApiClient::connect(mesh.home(names[0]) + "/run/api.sock");
  if (!reg.isOk()) return 1;
  std::vector<double> lat;
  int lost = 0;
  std::string loadAt = loadAverage();
  for (int i = 0; i < regs; ++i) {
    std::string address = "bench.lat.r" + std::to_string(i) + ".default." + names[0];
    auto t0 = Clock::now();
    auto r = reg->request({{"op", "register"}, {"name", "bench.lat.r" + std::to_string(i) + ".default"}});
    if (!r.isOk() || !r->json.value("ok", false)) return 1;
    std::vector<bool> seen(watchers.size(), false);
    size_t left = watchers.size();
    double worst = 0;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (left > 0 && Clock::now() < deadline) {
      for (size_t w = 0; w < watchers.size(); ++w) {
        if (seen[w]) continue;
        (void)watchers[w].readAvailable();  // non-blocking; nextEvent(0) only takes what is read
        auto ev = watchers[w].nextEvent(0);
        while (ev.isOk()) {
          if (ev->json.value("address", "") == address) {
            seen[w] = true;
            --left;
            worst = std::max(worst, msSince(t0));
            break;
          }
          ev = watchers[w].nextEvent(0);
        }
      }
      if (left > 0) {
        std::vector<pollfd> fds;
        for (size_t w = 0; w < watchers.size(); ++w) {
          if (!seen[w]) fds.push_back({watchers[w].fd(), POLLIN, 0});
        }
        ::poll(fds.data(), fds.size(), 5);
      }
    }
    if (left > 0) ++lost;
    else lat.push_back(worst);
  }
  bool pass = lost == 0 && pct(lat, 0.99) <= 50;
  std::printf("%-44s %8s -> %s\n", "load average (1 min) during the samples", loadAt.c_str(), loadAverage().c_str());
  std::printf("%-44s %8.1f ms\n", "register -> visible on all, p50", pct(lat, 0.5));
  std::printf("%-44s %8.1f ms   goal <= 50 ms: %s\n", "register -> visible on all, p99", pct(lat, 0.99),
              pass ? "PASS" : "FAIL");
  std::printf("%-44s %8d     (%d registrations, %d daemons, %d not seen within 5 s)\n", "samples",
              static_cast<int>(lat.size()), regs, daemons, lost);
  for (auto& [n, p] : mesh.d) p->stop();
  return 0;
}

int catchUpPhase(int64_t total) {
  Mesh mesh;
  if (!mesh.init()) return 1;
  KithdProcess* a = mesh.start("src");
  if (!a) return 1;
  std::vector<ApiClient> keep;
  LoadResult load = registerLoad(a->apiSocket(), 4, total, 256, 120000, "catch", &keep);
  if (load.acked < total) {
    std::printf("catch-up: only %lld of %lld registrations acknowledged (%s)\n", static_cast<long long>(load.acked),
                static_cast<long long>(total), load.firstError.c_str());
    return 1;
  }
  if (!waitUntil([&] { return mesh.records("src") >= static_cast<uint64_t>(total); }, 60000)) {
    std::printf("catch-up: the source daemon did not publish every record within 60 s\n");
    return 1;
  }
  uint64_t want = mesh.records("src");
  // A fresh daemon without peers: the RSS baseline.
  KithdProcess* base = mesh.start("base", /*seeded=*/false);
  if (!base) return 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long baseRss = base->rssKiB();
  base->stop();
  std::string loadAt = loadAverage();
  double srcCpu0 = cpuSeconds(a->pid());
  auto t0 = Clock::now();
  KithdProcess* b = mesh.start("fresh");
  if (!b) return 1;
  double startMs = msSince(t0);
  bool done = waitUntil([&] { return mesh.records("fresh") >= want; }, 120000);
  double ms = msSince(t0);
  double freshCpu = cpuSeconds(b->pid()), srcCpu = cpuSeconds(a->pid()) - srcCpu0;
  long long bytes = tcpBytesReceived(b->pid());
  long rss = b->rssKiB();
  double perRecordB = bytes > 0 ? static_cast<double>(bytes) / static_cast<double>(total) : -1;
  std::printf("%-44s %8.0f ms   goal <= 2000 ms: %s   (%lld records held by the source, daemon start %.0f ms)\n",
              "catch-up of a fresh daemon", ms, done && ms <= 2000 ? "PASS" : "FAIL",
              static_cast<long long>(want), startMs);
  std::printf("%-44s %8s -> %s\n", "load average (1 min) during the catch-up", loadAt.c_str(), loadAverage().c_str());
  std::printf("%-44s %8.2f s    (the source daemon meanwhile: %.2f s; %ld CPUs)\n",
              "CPU used by the fresh daemon (user + sys)", freshCpu, srcCpu, ::sysconf(_SC_NPROCESSORS_ONLN));
  if (!done) std::printf("  (it held %llu records at the deadline)\n", static_cast<unsigned long long>(mesh.records("fresh")));
  std::printf("%-44s %8.0f B    (%lld B received on its TCP connections, ss -ti)\n", "bytes on the wire per record",
              perRecordB, bytes);
  std::printf("%-44s %8.0f B    (RSS %ld KiB vs %ld KiB for a fresh daemon)\n", "RSS per replicated record",
              static_cast<double>(rss - baseRss) * 1024.0 / static_cast<double>(total), rss, baseRss);
  {
    json st = mesh.adminReq("fresh", {{"op", "status"}});
    json r = st.contains("replication") && st["replication"].is_object() ? st["replication"] : json::object();
    std::printf("%-44s %8llu      (stored %llu, duplicates %llu, rejected %llu; transport send_dropped %llu, unverified_dropped %llu)\n",
                "records received by the fresh daemon", r.value("received", 0ull), r.value("stored", 0ull),
                r.value("replayed", 0ull), r.value("rejected", 0ull),
                r.contains("transport") && r["transport"].is_object() ? r["transport"].value("send_dropped", 0ull) : 0ull,
                r.contains("transport") && r["transport"].is_object() ? r["transport"].value("unverified_dropped", 0ull) : 0ull);
  }
  if (std::getenv("KITH_BENCH_DEBUG")) {
    std::fprintf(stderr, "fresh: %s\nsrc: %s\n", dumpJson(mesh.adminReq("fresh", {{"op", "status"}})["replication"]).c_str(),
                 dumpJson(mesh.adminReq("src", {{"op", "status"}})["replication"]).c_str());
  }
  std::printf("%-44s %8.0f /s   (%lld registrations on the source)\n", "source: durable registrations", load.perSecond(),
              static_cast<long long>(load.acked));
  // A restart of the caught-up daemon: it serves what it knew from its
  // database (re-verified at start) before anything arrives from the source.
  b->stop();
  auto r0 = Clock::now();
  if (Status st = b->start(); !st.isOk()) {
    std::printf("restart: %s\n", st.message().c_str());
    return 1;
  }
  double serveMs = msSince(r0);
  uint64_t heldAtServe = mesh.records("fresh");
  bool all = waitUntil([&] { return mesh.records("fresh") >= want; }, 60000);
  std::printf("%-44s %8.0f ms   (holding %llu of %llu records then; all of them after %.0f ms%s)\n",
              "restart of the caught-up daemon: serving", serveMs, static_cast<unsigned long long>(heldAtServe),
              static_cast<unsigned long long>(want), msSince(r0), all ? "" : ": NOT within 60 s");
  b->stop();
  a->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  ::signal(SIGPIPE, SIG_IGN);
  std::printf("replication, real daemons on loopback (ZeroMQ CURVE, Ed25519 records)%s\n", quick ? " [quick]" : "");
  int rc = latencyPhase(quick ? 4 : 10, quick ? 20 : 200);
  rc |= catchUpPhase(quick ? 10000 : 100000);
  return rc;
}
