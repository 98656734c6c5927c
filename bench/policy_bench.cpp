// policy_bench: decision latency of the compiled matcher at 100, 10,000 and
// 100,000 rules, and reload (parse + compile) time and memory at 100,000 rules.
//
//   build/bin/bench_policy [--quick]
//
// Rules look like an operator's: `from = "<scope>.<group>.<identity or *>.*.*"`,
// `to = "<scope>.<group>.*.*.*"`, with some globs (`pg-*`, `node?`), ports,
// protocols, 5% deny and 10% cross-scope rules. Half of the connections are built
// to hit a rule. Each decision is timed on its own (steady_clock, ~20 ns of the
// figure is the clock itself). One extra row shows the cost of rules with no
// literal label at all, which the index cannot narrow (they are scanned).
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kith/policy/policy_file.h"

using namespace kith::policy;
using Clock = std::chrono::steady_clock;

namespace {

struct Vocab {
  int scopes = 8;
  int groups;
  int identities = 1000;
  int machines = 100;
};

struct Gen {
  std::mt19937_64 rng{42};
  Vocab v;
  int below(int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); }
  std::string scope(int i) { return "s" + std::to_string(i); }
  std::string group(int i) { return "g" + std::to_string(i); }
  std::string identity() {
    int r = below(v.identities);
    return (r % 3 == 0 ? "pg-" : "app") + std::to_string(r);
  }
  std::string address(int s, int g) {
    return scope(s) + "." + group(g) + "." + identity() + ".default.node" +
           std::to_string(below(v.machines));
  }
};

struct Query {
  Address src, dst;
  Proto proto;
  std::optional<uint16_t> port;
};

// `noLiteralPercent` of the rules have no literal label at all.
std::string generate(int n, int noLiteralPercent, Gen& g, std::vector<Query>* queries,
                     int nQueries) {
  g.v.groups = std::max(10, n / 20);
  struct Hit {
    int s1, g1, s2, g2;
  };
  std::vector<Hit> hits;
  std::string text = "audit = false\n";
  text.reserve(static_cast<size_t>(n) * 110);
  for (int i = 0; i < n; ++i) {
    int s1 = g.below(g.v.scopes), g1 = g.below(g.v.groups);
    bool cross = g.below(10) == 0;
    int s2 = cross ? g.below(g.v.scopes) : s1;
    int g2 = g.below(g.v.groups);
    bool deny = g.below(20) == 0;
    text += deny ? "[[deny]]\n" : "[[allow]]\n";
    if (g.below(100) < noLiteralPercent) {
      text += "from = \"*.*.pg-*.*.*\"\nto = \"*.*.*.*.node?" + std::to_string(g.below(10)) +
              "\"\nport = " + std::to_string(1024 + g.below(60000)) + "\n";
      continue;
    }
    std::string fromId = g.below(3) == 0 ? g.identity() : (g.below(4) == 0 ? "pg-*" : "*");
    text += "name = \"rule" + std::to_string(i) + "\"\n";
    text += "from = \"" + g.scope(s1) + "." + g.group(g1) + "." + fromId + ".*.*\"\n";
    text += "to = \"" + g.scope(s2) + "." + g.group(g2) + ".*.*." +
            (g.below(10) == 0 ? "node?" : "*") + "\"\n";
    if (g.below(4) == 0) text += "proto = \"tcp\"\n";
    if (g.below(5) == 0) text += "port = " + std::to_string(1024 + g.below(60000)) + "\n";
    if (cross && !deny) text += "cross_scope = true\n";
    hits.push_back({s1, g1, s2, g2});
  }
  for (int q = 0; q < nQueries; ++q) {
    std::string src, dst;
    if (!hits.empty() && g.below(2) == 0) {
      const Hit& h = hits[g.below(static_cast<int>(hits.size()))];
      src = g.address(h.s1, h.g1);
      dst = g.address(h.s2, h.g2);
    } else {
      int s = g.below(g.v.scopes);
      src = g.address(s, g.below(g.v.groups));
      dst = g.address(g.below(3) ? s : g.below(g.v.scopes), g.below(g.v.groups));
    }
    queries->push_back({*Address::parse(src), *Address::parse(dst),
                        g.below(4) ? Proto::kTcp : Proto::kUdp,
                        g.below(2) ? std::optional<uint16_t>(5432) : std::nullopt});
  }
  return text;
}

long rssKiB() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

long peakRssKiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Row {
  std::string label;
  double medianNs, p99Ns;
  int allowedPct;
};

Row measure(const std::string& label, int n, int noLiteralPercent, int nQueries) {
  Gen g;
  std::vector<Query> queries;
  std::string text = generate(n, noLiteralPercent, g, &queries, nQueries);
  auto policy = parsePolicy(text, "bench.toml");
  if (!policy.isOk()) {
    std::fprintf(stderr, "bench policy rejected: %s\n", policy.status().message().c_str());
    std::exit(1);
  }
  const std::vector<Pattern> whitelist = {*Pattern::parse("*.*.app1*.*.*")};
  std::vector<double> ns;
  ns.reserve(queries.size());
  int allowed = 0;
  for (int warm = 0; warm < 2; ++warm) {
    ns.clear();
    allowed = 0;
    for (const Query& q : queries) {
      auto t0 = Clock::now();
      Decision d = (*policy)->decide(q.src, q.dst, q.proto, q.port, whitelist);
      auto t1 = Clock::now();
      allowed += d.allowed;
      ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
  }
  std::sort(ns.begin(), ns.end());
  return {label, ns[ns.size() / 2], ns[ns.size() * 99 / 100],
          static_cast<int>(100.0 * allowed / static_cast<double>(queries.size()))};
}

// The same timing loop around a fixed busy loop: what the machine adds (timer
// interrupts, steal time on a VM) to any measured region of similar length.
Row baseline(int nQueries) {
  std::vector<double> ns;
  volatile uint32_t x = 0;
  for (int i = 0; i < nQueries; ++i) {
    auto t0 = Clock::now();
    for (int k = 0; k < 1000; ++k) x = x * 3 + 1;
    auto t1 = Clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::sort(ns.begin(), ns.end());
  return {"(baseline: a fixed ~0.8 us busy loop)", ns[ns.size() / 2], ns[ns.size() * 99 / 100], 0};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  int nQueries = quick ? 20000 : 200000;

  // Reload at 100,000 rules: what `kithctl policy reload` costs. Measured first,
  // while the process is small, so that peak RSS belongs to this parse.
  Gen g;
  std::vector<Query> unused;
  std::string text = generate(100000, 0, g, &unused, 0);
  // Hand freed heap back to the kernel around the parse so the RSS difference
  // is what the compiled policy holds, not glibc's free lists.
  malloc_trim(0);
  long rssBefore = rssKiB();
  auto t0 = Clock::now();
  auto policy = parsePolicy(text, "bench.toml");
  auto t1 = Clock::now();
  long peak = peakRssKiB();
  malloc_trim(0);
  long rssAfter = rssKiB();
  if (!policy.isOk()) return 1;
  std::vector<Rule> rules = (*policy)->rules();
  auto t2 = Clock::now();
  auto compiled = Policy::compile(std::move(rules), {}, false, "bench.toml");
  auto t3 = Clock::now();
  std::printf("reload at 100,000 rules (%.1f MiB of TOML)\n", text.size() / 1048576.0);
  std::printf("  parse + validate + compile   %8.0f ms\n", ms(t1 - t0));
  std::printf("  compile only (index build)   %8.0f ms\n", ms(t3 - t2));
  std::printf("  RSS held by the policy       %8.1f MiB\n", (rssAfter - rssBefore) / 1024.0);
  std::printf("  peak RSS during parse        %8.1f MiB above the start of the parse\n",
              (peak - rssBefore) / 1024.0);
  std::printf("\nkith policy decisions (%d connections each, timed one by one)\n", nQueries);
  std::printf("%-34s %12s %12s %9s\n", "rules", "median ns", "p99 ns", "allowed");
  std::vector<Row> rows = {
      measure("100", 100, 0, nQueries),
      measure("10,000", 10000, 0, nQueries),
      measure("100,000", 100000, 0, nQueries),
      measure("10,000 (1% with no literal label)", 10000, 1, nQueries),
      baseline(nQueries),
  };
  for (const Row& r : rows) {
    std::printf("%-34s %12.0f %12.0f %8d%%\n", r.label.c_str(), r.medianNs, r.p99Ns, r.allowedPct);
  }

  return compiled->rules().size() == 100000 ? 0 : 1;
}
