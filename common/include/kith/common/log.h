// Structured logging: one JSON object per line, or a readable line on a terminal.
//
// Every line has `ts` (microseconds since the Unix epoch), `level`, `mod` (the
// module that logged) and `msg`, plus the event's own fields. The process has one
// logger; it is safe to call from any thread (each line is written with a single
// write(2) under a mutex). Sinks let the daemon copy lines into its event window
// and let tests capture output.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kith::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kJson, kText };

void setFormat(Format f);
Format format();
void setLevel(Level l);
// Whether records of level `l` pass the filter: lets a hot path skip building
// the fields of a record that would be dropped.
bool enabled(Level l);
// Parses "debug|info|warn|error"; false on anything else.
bool parseLevel(std::string_view s, Level* out);

// A tap sees every record that passes the level filter (already including ts,
// level, mod, msg). Set once before threads start; nullptr removes it.
using Tap = std::function<void(const nlohmann::json& record)>;
void setTap(Tap tap);
// Where formatted lines go; default writes to stderr. For tests.
using Sink = std::function<void(std::string_view line)>;
void setSinkForTest(Sink sink);

void write(Level level, std::string_view mod, std::string_view msg,
           nlohmann::json fields = nlohmann::json::object());

inline void debug(std::string_view mod, std::string_view msg,
                  nlohmann::json f = nlohmann::json::object()) {
  write(Level::kDebug, mod, msg, std::move(f));
}
inline void info(std::string_view mod, std::string_view msg,
                 nlohmann::json f = nlohmann::json::object()) {
  write(Level::kInfo, mod, msg, std::move(f));
}
inline void warn(std::string_view mod, std::string_view msg,
                 nlohmann::json f = nlohmann::json::object()) {
  write(Level::kWarn, mod, msg, std::move(f));
}
inline void error(std::string_view mod, std::string_view msg,
                  nlohmann::json f = nlohmann::json::object()) {
  write(Level::kError, mod, msg, std::move(f));
}

// Renders a record as one readable line: "2026-11-22T08:05:52.123456Z INFO mod msg k=v".
std::string toText(const nlohmann::json& record);

}  // namespace kith::log
