// api_bench: the figures of the daemon's foundation (issue 2), measured against
// a real `kithd --dev` started by this program, printed as one table.
//
//   build/bin/bench_api [--quick] [--kithd PATH] [--phase register|rtt|memory|connect]...
//
// --quick divides the counts by ten (a smoke run); --phase runs only the named
// phases (e.g. to profile one: perf record -g -p <kithd pid>).
//
// Phases (each on a fresh daemon in its own temporary home, each bounded in
// request count and in time):
//   1. durable registrations per second: 1, 8 and 64 connections from this
//      process, each pipelining `register` with distinct names; a reply means
//      the row is committed (SQLite WAL, synchronous=FULL, group commit);
//   2. round trip of `hello` and of `register`, one client, one request at a time;
//   3. kithd's VmRSS idle, and per registered workload at 10,000 and 50,000;
//   4. connect + 1-byte echo through kith (`connect` returns the stream fd, a
//      listening workload gets the other end in an `incoming` event), side by
//      side with a plain Unix-socket and a plain TCP 127.0.0.1 connect, in
//      interleaved rounds so that machine noise falls on all three alike.
// This process stays alive throughout, so the registrations' leases hold.
// Goals come from issue 2; a missed goal prints FAIL but still exits 0 (these
// are figures, not tests). Exit 1 means a phase could not run.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api_client.h"
#include "echo_servers.h"
#include "kithd_process.h"
#include "register_load.h"
#include "kith/common/json.h"

using namespace kith;
using namespace kith::bench;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kGoalRegsPerSec = 20000;
constexpr double kGoalIdleMiB = 15;
constexpr double kGoalBytesPerWorkload = 2048;
constexpr int kPhaseBudgetMs = 20000;
constexpr int kWindow = 128;  // requests in flight per connection (daemon stops reading at 256)
constexpr int64_t kRegsPerTrial = 15000;
constexpr int kTrialBudgetMs = 2000;  // 3 trials x 3 rows: the phase stays near 20 s

struct Options {
  bool quick = false;
  std::string kithd;
  std::vector<std::string> phases;  // empty: all
  bool wants(const std::string& p) const {
    return phases.empty() || std::find(phases.begin(), phases.end(), p) != phases.end();
  }
};

struct Row {
  std::string figure, value, p50, p99, goal, verdict, note;
};

struct Bench {
  Options opts;
  BenchDir dir;
  std::vector<Row> rows;
  std::string daemonVersion;
  bool phaseFailed = false;
  int daemons = 0;

  int64_t scaled(int64_t n) const { return opts.quick ? std::max<int64_t>(n / 10, 1) : n; }
  int trials() const { return opts.quick ? 1 : 3; }
  std::string nextHome() { return dir.path() + "/kithd" + std::to_string(++daemons); }
  void section(const std::string& title) { rows.push_back({"[" + title + "]", "", "", "", "", "", ""}); }
  void failPhase(const std::string& figure, const std::string& why) {
    phaseFailed = true;
    rows.push_back({figure, "-", "", "", "", "ERROR", why});
    std::fprintf(stderr, "bench_api: %s: %s\n", figure.c_str(), why.c_str());
  }
};

std::string thousands(double v) {
  long long n = std::llround(v);
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return n < 0 ? "-" + s : s;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string micros(double us) {
  if (us >= 10000) return fmt("%.1f ms", us / 1000);
  if (us >= 1000) return fmt("%.2f ms", us / 1000);
  return fmt("%.0f us", us);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
  return v[std::min(i, v.size() - 1)];
}

std::string verdict(bool ok) { return ok ? "pass" : "FAIL"; }

// CPU time (user + system) this process has used, in milliseconds.
double selfCpuMs() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1000 + static_cast<double>(t.tv_usec) / 1000; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs body against a fresh daemon, then stops the daemon. Everything body
// opened (API connections, echo servers) is closed by then.
void withDaemon(Bench& b, const std::string& what, const std::function<void(KithdProcess&)>& body) {
  KithdProcess d(b.opts.kithd, b.nextHome());
  if (Status st = d.start(); !st.isOk()) return b.failPhase(what, st.message());
  b.daemonVersion = d.version();
  body(d);
  if (!d.stop()) std::fprintf(stderr, "bench_api: %s: kithd did not exit 0 on SIGTERM: %s\n", what.c_str(), d.logTail().c_str());
}

// ---- 1. durable registrations per second ---------------------------------------

// One trial: a fresh daemon, a warm-up, then the measured load.
struct RegTrial {
  LoadResult load;
  double kithdCpuMs = 0, loopCpuMs = 0, selfCpuMs = 0;
  int64_t warmFailed = 0;
  std::string warmError;
};

RegTrial registrationTrial(Bench& b, KithdProcess& d, int conns, int trial) {
  RegTrial t;
  const std::string tag = std::to_string(conns) + "t" + std::to_string(trial);
  // Warm-up: the first writes create the WAL and grow the file; not counted.
  LoadResult warm = registerLoad(d.apiSocket(), 1, 500, kWindow, 5000, "w" + tag, nullptr);
  t.warmFailed = warm.failed;
  t.warmError = warm.firstError;
  std::vector<ApiClient> keep;  // the leases live while these stay open
  double cpu0 = d.cpuMs(), loop0 = d.loopThreadCpuMs(), self0 = selfCpuMs();
  t.load = registerLoad(d.apiSocket(), conns, b.scaled(kRegsPerTrial), kWindow, kTrialBudgetMs, "r" + tag, &keep);
  t.kithdCpuMs = d.cpuMs() - cpu0;
  t.loopCpuMs = d.loopThreadCpuMs() - loop0;
  t.selfCpuMs = selfCpuMs() - self0;
  return t;
}

void registrationThroughput(Bench& b) {
  b.section("durable registrations, pipelined (" + std::to_string(kWindow) + " in flight per connection); " +
            (b.trials() == 1 ? std::string("1 trial") : "median of " + std::to_string(b.trials()) + " trials"));
  const std::vector<int> connCounts = {1, 8, 64};
  std::vector<std::vector<RegTrial>> trials(connCounts.size());
  // Trials outermost, so that a noisy stretch of the machine's time falls on
  // every row alike rather than on one.
  for (int trial = 0; trial < b.trials(); ++trial) {
    for (size_t k = 0; k < connCounts.size(); ++k) {
      int conns = connCounts[k];
      std::fprintf(stderr, "bench_api: register/s, %d connection(s), trial %d ...\n", conns, trial + 1);
      withDaemon(b, "register/s", [&](KithdProcess& d) { trials[k].push_back(registrationTrial(b, d, conns, trial)); });
    }
  }
  for (size_t k = 0; k < connCounts.size(); ++k) {
    int conns = connCounts[k];
    std::string figure = "register/s, " + std::to_string(conns) + (conns == 1 ? " connection" : " connections");
    if (trials[k].empty()) continue;  // failPhase already said why
    std::vector<double> rates, latency;
    double acked = 0, kithd = 0, loop = 0, self = 0;
    int64_t failed = 0;
    std::string firstError;
    for (const RegTrial& t : trials[k]) {
      rates.push_back(t.load.perSecond());
      latency.insert(latency.end(), t.load.latencyUs.begin(), t.load.latencyUs.end());
      acked += static_cast<double>(t.load.acked);
      kithd += t.kithdCpuMs;
      loop += t.loopCpuMs;
      self += t.selfCpuMs;
      failed += t.load.failed + t.warmFailed;
      if (firstError.empty()) firstError = !t.load.firstError.empty() ? t.load.firstError : t.warmError;
    }
    double median = percentile(rates, 0.5);
    std::string note = "trials";
    for (double r : rates) note += " " + thousands(r);
    note += " /s";
    if (acked > 0) {
      // Where the two cores went: the daemon's CPU (all its threads, and its
      // loop thread alone) and this driver's, per registration.
      note += "; CPU per reg: kithd " + fmt("%.0f us", 1000 * kithd / acked) + " (loop thread " +
              fmt("%.0f us", 1000 * loop / acked) + "), bench client " + fmt("%.0f us", 1000 * self / acked);
    }
    if (failed > 0) note += "; " + thousands(static_cast<double>(failed)) + " failed (" + firstError + ")";
    b.rows.push_back({figure, thousands(median) + " /s", micros(percentile(latency, 0.5)),
                      micros(percentile(latency, 0.99)), ">= 20,000 /s",
                      verdict(failed == 0 && median >= kGoalRegsPerSec), note});
  }
}

// ---- 2. sequential round trips -------------------------------------------------

// Sends `count` lines made by makeLine one at a time, each after the previous
// reply, within budgetMs. Returns latencies; sets *error on the first failure.
std::vector<double> sequential(ApiClient& c, int64_t count, int budgetMs,
                               const std::function<std::string(int64_t)>& makeLine, std::string* error,
                               double* seconds) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  std::string line;
  auto start = Clock::now();
  auto deadline = start + std::chrono::milliseconds(budgetMs);
  for (int64_t i = 0; i < count && Clock::now() < deadline; ++i) {
    auto t0 = Clock::now();
    if (Status st = c.sendAll(makeLine(i)); !st.isOk()) {
      *error = st.message();
      break;
    }
    auto m = c.next(5000);
    auto t1 = Clock::now();
    if (!m.isOk()) {
      *error = m.status().message();
      break;
    }
    if (!m->json.value("ok", false)) {
      *error = dumpJson(m->json).substr(0, 300);
      break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  *seconds = secondsSince(start);
  return us;
}

void roundTripRows(Bench& b, KithdProcess& d) {
  auto c = ApiClient::connect(d.apiSocket());
  if (!c.isOk()) return b.failPhase("round trips", c.status().message());

  struct Op {
    std::string figure;
    int budgetMs;  // the two together stay within the phase's 20 s
    std::function<std::string(int64_t)> line;
  };
  std::vector<Op> ops = {
      {"hello", 5000, [](int64_t i) { return "{\"id\":" + std::to_string(i) + ",\"op\":\"hello\"}\n"; }},
      {"register (durable)", 15000,
       [](int64_t i) { return registerLine(i, "bench.rtt.n" + std::to_string(i) + ".default"); }},
  };
  for (const Op& op : ops) {
    std::string error;
    double seconds = 0;
    // Warm-up (not counted) with other names than the measured ones.
    sequential(*c, 200, 5000, [&](int64_t i) { return op.line(1000000 + i); }, &error, &seconds);
    std::vector<double> us = sequential(*c, b.scaled(20000), op.budgetMs, op.line, &error, &seconds);
    std::string note = thousands(static_cast<double>(us.size())) + " samples in " + fmt("%.1f s", seconds);
    if (!error.empty()) note += "; stopped: " + error;
    b.rows.push_back({op.figure + " round trip",
                      thousands(static_cast<double>(us.size()) / std::max(seconds, 1e-9)) + " /s",
                      micros(percentile(us, 0.5)), micros(percentile(us, 0.99)), "", error.empty() ? "" : "ERROR",
                      note});
    if (!error.empty()) b.phaseFailed = true;
  }
}

void roundTrips(Bench& b) {
  b.section("API round trip, 1 client, one request at a time");
  std::fprintf(stderr, "bench_api: round trips ...\n");
  withDaemon(b, "round trips", [&](KithdProcess& d) { roundTripRows(b, d); });
}

// ---- 3. memory -----------------------------------------------------------------

void memoryRows(Bench& b, KithdProcess& d) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long idle = d.rssKiB();
  double idleMiB = static_cast<double>(idle) / 1024;
  b.rows.push_back({"RSS idle", fmt("%.1f MiB", idleMiB), "", "", "<= 15 MiB", verdict(idleMiB <= kGoalIdleMiB),
                    "after start (" + fmt("%.0f ms", d.startMs()) + " to first hello) + 0.5 s"});
  std::vector<ApiClient> keep;  // the leases live while these stay open
  int64_t registered = 0;
  long prevRss = idle;
  int64_t prevRegistered = 0;
  int step = 0;
  for (int64_t target : {b.scaled(10000), b.scaled(50000)}) {
    LoadResult r = registerLoad(d.apiSocket(), 8, target - registered, kWindow, kPhaseBudgetMs / 2,
                                "m" + std::to_string(++step), &keep);
    registered += r.acked;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    long rss = d.rssKiB();
    double perWorkload = registered > 0 ? static_cast<double>(rss - idle) * 1024 / static_cast<double>(registered) : 0;
    std::string note = "RSS " + fmt("%.1f MiB", static_cast<double>(rss) / 1024) + " with " +
                       thousands(static_cast<double>(registered)) + " registered over 8 connections";
    if (prevRegistered > 0 && registered > prevRegistered) {
      // The first registrations also fill fixed-size structures (the event
      // window, SQLite's page cache): the marginal cost shows what each adds.
      note += "; marginal " +
              thousands(static_cast<double>(rss - prevRss) * 1024 / static_cast<double>(registered - prevRegistered)) +
              " B each after " + thousands(static_cast<double>(prevRegistered));
    }
    prevRss = rss;
    prevRegistered = registered;
    if (r.failed > 0) note += "; " + thousands(static_cast<double>(r.failed)) + " failed (" + r.firstError + ")";
    b.rows.push_back({"RSS per workload, " + thousands(static_cast<double>(target)) + " registered",
                      thousands(perWorkload) + " B", "", "", "<= 2,048 B",
                      verdict(r.failed == 0 && perWorkload <= kGoalBytesPerWorkload), note});
  }
}

void memory(Bench& b) {
  b.section("kithd memory (VmRSS)");
  std::fprintf(stderr, "bench_api: memory ...\n");
  withDaemon(b, "RSS", [&](KithdProcess& d) { memoryRows(b, d); });
}

// ---- 4. connect + 1-byte echo ----------------------------------------------------

struct Variant {
  Variant(std::string f, std::function<Status()> fn) : figure(std::move(f)), once(std::move(fn)) {}
  std::string figure;
  std::function<Status()> once;
  std::vector<double> us;          // every op, all rounds
  std::vector<double> roundRates;  // ops/s of each round (0: did not run)
  double seconds = 0;
  const KithdProcess* daemon = nullptr;  // kith variants: whose CPU to count
  double daemonCpuMs = 0;
  std::string error;
};

// Median over the rounds both ran of a's round rate / b's: a stretch of noise
// that hits one round moves one ratio, not the median.
double medianRatio(const Variant& a, const Variant& b) {
  std::vector<double> r;
  for (size_t i = 0; i < a.roundRates.size() && i < b.roundRates.size(); ++i) {
    if (a.roundRates[i] > 0 && b.roundRates[i] > 0) r.push_back(a.roundRates[i] / b.roundRates[i]);
  }
  return percentile(r, 0.5);
}

// A listening echo workload and a registered client on one daemon.
struct KithPair {
  std::unique_ptr<KithEchoServer> server;
  std::unique_ptr<ApiClient> client;
  std::string token;
};

Status startKithPair(const std::string& socket, KithPair* p) {
  auto server = KithEchoServer::start(socket, "bench.echo.srv.default", "bench.*.*.*.*");
  if (!server.isOk()) return Status::internal("echo workload: " + server.status().message());
  p->server = std::move(server).value();
  auto client = ApiClient::connect(socket);
  if (!client.isOk()) return client.status();
  p->client = std::make_unique<ApiClient>(std::move(client).value());
  auto reg = p->client->request({{"op", "register"}, {"name", "bench.cli.c1.default"}});
  if (!reg.isOk()) return reg.status();
  if (!reg->json.value("ok", false)) return Status::internal("client register: " + dumpJson(reg->json));
  p->token = reg->json.value("token", "");
  return Status::ok();
}

void connectEchoRows(Bench& b, KithdProcess& d) {
  // A second daemon beside the first, configured to hand the server's end of
  // the stream itself to the client ([broker] local_handoff = true) instead of
  // relaying bytes through the daemon (the default): the relay's cost.
  const std::string conf = b.dir.path() + "/handoff.toml";
  std::ofstream(conf) << "[broker]\nlocal_handoff = true\n";
  KithdProcess handoffDaemon(b.opts.kithd, b.nextHome(), {"--config", conf});
  if (Status st = handoffDaemon.start(); !st.isOk()) {
    return b.failPhase("connect + echo", "kithd with local_handoff: " + st.message());
  }
  KithPair relay, handoff;
  if (Status st = startKithPair(d.apiSocket(), &relay); !st.isOk()) return b.failPhase("connect + echo", st.message());
  if (Status st = startKithPair(handoffDaemon.apiSocket(), &handoff); !st.isOk()) {
    return b.failPhase("connect + echo", st.message());
  }
  auto unixSrv = PlainEchoServer::start(PlainEchoServer::Kind::kUnix, b.dir.path() + "/echo.sock");
  auto tcpSrv = PlainEchoServer::start(PlainEchoServer::Kind::kTcp, "");
  if (!unixSrv.isOk() || !tcpSrv.isOk()) {
    return b.failPhase("connect + echo", "plain echo server: " +
                                             (unixSrv.isOk() ? tcpSrv.status() : unixSrv.status()).message());
  }
  std::vector<Variant> vs = {
      {"kith connect (fd, relayed) + echo",
       [&] { return kithEchoOnce(*relay.client, relay.token, relay.server->address()); }},
      {"kith connect (fd, local_handoff) + echo",
       [&] { return kithEchoOnce(*handoff.client, handoff.token, handoff.server->address()); }},
      {"plain Unix connect() + echo", [&] { return (*unixSrv)->echoOnce(); }},
      {"plain TCP 127.0.0.1 connect() + echo", [&] { return (*tcpSrv)->echoOnce(); }},
  };
  vs[0].daemon = &d;
  vs[1].daemon = &handoffDaemon;
  // Rounds of at most opsPerRound ops or roundMs each, variants rotated so none
  // always runs first; 7 rounds x 4 variants x 0.7 s keeps the phase under 20 s.
  // Rates are medians over rounds, ratios medians of per-round ratios.
  const int rounds = b.opts.quick ? 3 : 7;
  const int64_t opsPerRound = b.scaled(1500);
  const int roundMs = 700;
  for (auto& v : vs) {
    for (int i = 0; i < 100 && v.error.empty(); ++i) {
      if (Status st = v.once(); !st.isOk()) v.error = "warm-up: " + st.message();
    }
  }
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < vs.size(); ++k) {
      Variant& v = vs[(k + static_cast<size_t>(round)) % vs.size()];
      v.roundRates.resize(static_cast<size_t>(round) + 1, 0.0);
      if (!v.error.empty()) continue;
      double cpu0 = v.daemon ? v.daemon->cpuMs() : 0;
      auto start = Clock::now();
      auto end = start + std::chrono::milliseconds(roundMs);
      int64_t done = 0;
      for (; done < opsPerRound && Clock::now() < end; ++done) {
        auto t0 = Clock::now();
        if (Status st = v.once(); !st.isOk()) {
          v.error = st.message();
          break;
        }
        v.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      double secs = secondsSince(start);
      v.seconds += secs;
      if (v.daemon) v.daemonCpuMs += v.daemon->cpuMs() - cpu0;
      if (v.error.empty() && secs > 0) v.roundRates.back() = static_cast<double>(done) / secs;
    }
  }
  const Variant& plainUnix = vs[2];
  const Variant& plainTcp = vs[3];
  for (auto& v : vs) {
    std::string note = thousands(static_cast<double>(v.us.size())) + " in " + fmt("%.1f s", v.seconds);
    if (&v != &plainUnix && &v != &plainTcp) {
      note += fmt("; rate x%.2f of plain Unix", medianRatio(v, plainUnix)) +
              fmt(", x%.2f of plain TCP", medianRatio(v, plainTcp));
      if (!v.us.empty()) note += fmt("; kithd CPU %.0f us/connect", 1000 * v.daemonCpuMs / static_cast<double>(v.us.size()));
    }
    if (!v.error.empty()) {
      note += "; stopped: " + v.error;
      b.phaseFailed = true;
    }
    std::vector<double> ran;
    for (double r : v.roundRates) {
      if (r > 0) ran.push_back(r);
    }
    b.rows.push_back({v.figure, thousands(percentile(ran, 0.5)) + " /s", micros(percentile(v.us, 0.5)),
                      micros(percentile(v.us, 0.99)), "",
                      v.error.empty() ? "" : "ERROR", note});
  }
  for (KithPair* p : {&relay, &handoff}) {
    if (std::string e = p->server->error(); !e.empty()) b.failPhase("kith echo workload", e);
    p->server.reset();
    p->client.reset();
  }
  if (!handoffDaemon.stop()) std::fprintf(stderr, "bench_api: kithd (local_handoff) did not exit 0 on SIGTERM\n");
}

void connectEcho(Bench& b) {
  b.section("connect + 1-byte echo + close, 1 client, sequential; median of interleaved rounds");
  std::fprintf(stderr, "bench_api: connect + echo ...\n");
  withDaemon(b, "connect + echo", [&](KithdProcess& d) { connectEchoRows(b, d); });
}

// ---- table -----------------------------------------------------------------------

std::string loadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a;
  f >> a;
  return a.empty() ? "?" : a;
}

void printTable(const Bench& b, const std::string& startedUtc, const std::string& loadAtStart) {
  std::printf("kith API figures (bench_api%s), %s\n", b.opts.quick ? " --quick" : "", startedUtc.c_str());
  std::printf("%s --dev; %ld CPUs; state.db on %s under %s; load average %s at start, %s at end\n",
              b.daemonVersion.empty() ? "kithd" : b.daemonVersion.c_str(), ::sysconf(_SC_NPROCESSORS_ONLN),
              b.dir.fsType().c_str(), b.dir.path().c_str(), loadAtStart.c_str(), loadAverage().c_str());
  std::printf("%-40s %12s %9s %9s %14s %6s  %s\n", "figure", "value", "p50", "p99", "goal", "result", "notes");
  for (const Row& r : b.rows) {
    if (r.figure.front() == '[') {
      std::printf("%s\n", r.figure.c_str());
      continue;
    }
    std::printf("  %-38s %12s %9s %9s %14s %6s  %s\n", r.figure.c_str(), r.value.c_str(), r.p50.c_str(),
                r.p99.c_str(), r.goal.empty() ? "-" : r.goal.c_str(), r.verdict.c_str(), r.note.c_str());
  }
  int pass = 0, fail = 0;
  for (const Row& r : b.rows) {
    pass += r.verdict == "pass";
    fail += r.verdict == "FAIL";
  }
  std::printf("goals: %d met, %d missed%s\n", pass, fail, b.phaseFailed ? "; some figures could not be measured" : "");
}

int usage() {
  std::fprintf(stderr, "usage: bench_api [--quick] [--kithd PATH] [--phase register|rtt|memory|connect]...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Bench b;
  b.opts.kithd = selfDir() + "/kithd";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      b.opts.quick = true;
    } else if (std::strcmp(argv[i], "--kithd") == 0 && i + 1 < argc) {
      b.opts.kithd = argv[++i];
    } else if (std::strcmp(argv[i], "--phase") == 0 && i + 1 < argc) {
      std::string p = argv[++i];
      if (p != "register" && p != "rtt" && p != "memory" && p != "connect") return usage();
      b.opts.phases.push_back(p);
    } else {
      return usage();
    }
  }
  if (::access(b.opts.kithd.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "bench_api: %s is not executable (build it: make build/bin/kithd)\n", b.opts.kithd.c_str());
    return 1;
  }
  char started[64];
  std::time_t now = std::time(nullptr);
  std::strftime(started, sizeof started, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::string loadAtStart = loadAverage();

  if (b.opts.wants("register")) registrationThroughput(b);
  if (b.opts.wants("rtt")) roundTrips(b);
  if (b.opts.wants("memory")) memory(b);
  if (b.opts.wants("connect")) connectEcho(b);

  printTable(b, started, loadAtStart);
  return b.phaseFailed ? 1 : 0;
}
