// Metrics: the daemon's registry of Prometheus counters and gauges, rendered
// in the text exposition format (version 0.0.4) for `kithctl metrics` (admin
// op `metrics`) and the optional loopback HTTP listener (MetricsHttp).
//
// Two ways to feed it:
//  - push: a component asks once for a handle and bumps it on its hot path;
//    `Counter::add` is one relaxed atomic add, no lock, no allocation, so it is
//    safe from any thread (the replication thread included):
//        static Counter& bytesIn = metrics().counter("kith_stream_bytes_total",
//                                                    "Bytes relayed", {{"dir", "in"}});
//        bytesIn.add(n);
//    Looking a series up (counter()/gauge()) takes a mutex and allocates: do it
//    once and keep the reference; references stay valid for the process.
//  - pull: a component that already keeps its own numbers registers a
//    collector, run on the scraping thread (the loop thread) just before each
//    rendering, which copies them into gauges (or counters via `Counter::set`).
//
// Ownership: one process-wide registry (`metrics()`), so that code with no
// path to the Daemon (Reply, the replication thread, future tunnels) can count.
// Families and series are never removed; a collector is removed by the one who
// added it (before whatever it reads dies).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kith/common/status.h"

namespace kith::daemon {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  // For collectors mirroring a monotonic count kept elsewhere.
  void set(uint64_t v) { v_.store(v, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Metrics {
 public:
  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Finds or creates a series. A name must match [a-zA-Z_:][a-zA-Z0-9_:]*,
  // label names [a-zA-Z_][a-zA-Z0-9_]*, and one name has one type: breaking
  // these is a programming error and aborts (STYLE 10: impossible states crash).
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});

  // Collectors run in registration order at every render(), on the calling
  // thread, without the registry's lock held (they may call counter/gauge).
  uint64_t addCollector(std::function<void()> fn);
  void removeCollector(uint64_t id);

  // Runs the collectors and renders every family, sorted by name, series in
  // label order: "# HELP", "# TYPE", then `name{l="v",...} value` lines.
  std::string render();

  // Text of a label value with \\, \" and \n escaped (exposition format).
  static std::string escapeLabelValue(std::string_view v);
  static bool validName(std::string_view name);
  static bool validLabelName(std::string_view name);

 private:
  enum class Type { kCounter, kGauge };
  struct Family {
    Type type;
    std::string help;
    // Labels sorted by name -> series; unique_ptr keeps addresses stable.
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  };
  Family& family(std::string_view name, std::string_view help, Type type, const MetricLabels& labels);

  std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::mutex collectorsMu_;
  std::map<uint64_t, std::function<void()>> collectors_;
  uint64_t nextCollector_ = 1;
};

// The process's registry.
Metrics& metrics();

// Counts an error answered over the socket API (kith_api_errors_total{code}).
// Allocation-free: the series of every stable code are made once.
void countApiError(Code code);
// The series countApiError bumps (internal categories map to INTERNAL).
Counter& apiErrorCounter(Code code);

}  // namespace kith::daemon
