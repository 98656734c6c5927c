#include "kith/daemon/observability/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kith::daemon {
namespace {

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

[[noreturn]] void misuse(const std::string& what) {
  std::fprintf(stderr, "kith metrics: %s\n", what.c_str());
  std::abort();
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
  }
  return buf;
}

std::string escapeHelp(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string seriesName(const std::string& name, const MetricLabels& labels) {
  if (labels.empty()) return name;
  std::string out = name + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + Metrics::escapeLabelValue(v) + "\"";
  }
  return out + "}";
}

}  // namespace

bool Metrics::validName(std::string_view n) {
  if (n.empty() || !(isAlpha(n[0]) || n[0] == ':')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return isAlpha(c) || isDigit(c) || c == ':'; });
}

bool Metrics::validLabelName(std::string_view n) {
  if (n.empty() || !isAlpha(n[0])) return false;
  if (n.size() >= 2 && n[0] == '_' && n[1] == '_') return false;  // reserved
  return std::all_of(n.begin(), n.end(), [](char c) { return isAlpha(c) || isDigit(c); });
}

std::string Metrics::escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Metrics::Family& Metrics::family(std::string_view name, std::string_view help, Type type,
                                 const MetricLabels& labels) {
  if (!validName(name)) misuse("invalid metric name '" + std::string(name) + "'");
  for (const auto& [k, v] : labels) {
    if (!validLabelName(k)) misuse("invalid label name '" + k + "' on " + std::string(name));
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}, {}}).first;
  } else if (it->second.type != type) {
    misuse("metric '" + std::string(name) + "' registered with two types");
  }
  return it->second;
}

Counter& Metrics::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, help, Type::kCounter, sorted);
  auto& slot = f.counters[sorted];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::lock_guard<std::mutex> lock(mu_);
  Family& f = family(name, help, Type::kGauge, sorted);
  auto& slot = f.gauges[sorted];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

uint64_t Metrics::addCollector(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(collectorsMu_);
  uint64_t id = nextCollector_++;
  collectors_[id] = std::move(fn);
  return id;
}

void Metrics::removeCollector(uint64_t id) {
  std::lock_guard<std::mutex> lock(collectorsMu_);
  collectors_.erase(id);
}

std::string Metrics::render() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard<std::mutex> lock(collectorsMu_);
    for (const auto& [id, fn] : collectors_) run.push_back(fn);
  }
  for (auto& fn : run) fn();
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escapeHelp(f.help) + "\n";
    out += "# TYPE " + name + (f.type == Type::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [labels, c] : f.counters) {
      out += seriesName(name, labels) + " " + std::to_string(c->value()) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += seriesName(name, labels) + " " + formatValue(g->value()) + "\n";
    }
  }
  return out;
}

Metrics& metrics() {
  // Never destroyed: counters may be bumped by threads still running at exit.
  static Metrics* m = new Metrics();
  return *m;
}

Counter& apiErrorCounter(Code code) {
  static const std::array<Counter*, 11> kByCode = [] {
    std::array<Counter*, 11> a{};
    for (int i = 1; i <= static_cast<int>(Code::kInternal); ++i) {
      a[static_cast<size_t>(i)] =
          &metrics().counter("kith_api_errors_total", "Errors answered over the socket API, by stable code",
                             {{"code", std::string(codeName(static_cast<Code>(i)))}});
    }
    return a;
  }();
  int i = static_cast<int>(code);
  // Internal categories (storage, io, ...) are answered as INTERNAL.
  if (i < 1 || i > static_cast<int>(Code::kInternal)) i = static_cast<int>(Code::kInternal);
  return *kByCode[static_cast<size_t>(i)];
}

void countApiError(Code code) { apiErrorCounter(code).add(); }

}  // namespace kith::daemon
