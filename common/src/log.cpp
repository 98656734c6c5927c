#include "kith/common/log.h"

#include <unistd.h>

#include <mutex>

#include "kith/common/clock.h"
#include "kith/common/json.h"

namespace kith::log {
namespace {

struct State {
  std::mutex mu;
  Format format = isatty(STDERR_FILENO) ? Format::kText : Format::kJson;
  Level level = Level::kInfo;
  Tap tap;
  Sink sink;
};

State& state() {
  static State* s = new State();  // never destroyed: logging works during exit
  return *s;
}

std::string_view levelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void writeAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void setFormat(Format f) { std::lock_guard g(state().mu); state().format = f; }
Format format() { std::lock_guard g(state().mu); return state().format; }
void setLevel(Level l) { std::lock_guard g(state().mu); state().level = l; }
bool enabled(Level l) {
  std::lock_guard g(state().mu);
  return l >= state().level;
}

bool parseLevel(std::string_view s, Level* out) {
  if (s == "debug") *out = Level::kDebug;
  else if (s == "info") *out = Level::kInfo;
  else if (s == "warn") *out = Level::kWarn;
  else if (s == "error") *out = Level::kError;
  else return false;
  return true;
}

void setTap(Tap tap) { std::lock_guard g(state().mu); state().tap = std::move(tap); }
void setSinkForTest(Sink sink) { std::lock_guard g(state().mu); state().sink = std::move(sink); }

void write(Level level, std::string_view mod, std::string_view msg, nlohmann::json fields) {
  auto& s = state();
  std::lock_guard g(s.mu);
  if (level < s.level) return;
  nlohmann::json rec = nlohmann::json::object();
  rec["ts"] = systemClock().nowMicros();
  rec["level"] = levelName(level);
  rec["mod"] = mod;
  rec["msg"] = msg;
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) rec[k] = std::move(v);
  }
  if (s.tap) s.tap(rec);
  std::string line = s.format == Format::kJson
                         ? dumpJson(rec)
                         : toText(rec);
  line.push_back('\n');
  if (s.sink) {
    s.sink(line);
  } else {
    writeAll(STDERR_FILENO, line);
  }
}

std::string toText(const nlohmann::json& rec) {
  std::string out = formatMicrosIso(rec.value("ts", int64_t{0}));
  std::string level = rec.value("level", "info");
  for (auto& c : level) c = static_cast<char>(toupper(c));
  out += " " + level + " " + rec.value("mod", "") + " " + rec.value("msg", "");
  for (auto& [k, v] : rec.items()) {
    if (k == "ts" || k == "level" || k == "mod" || k == "msg") continue;
    out += " " + k + "=" +
           (v.is_string() ? v.get<std::string>()
                          : dumpJson(v));
  }
  return out;
}

}  // namespace kith::log
