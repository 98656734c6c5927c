// JSON: nlohmann::json is the value type everywhere (socket API, logs,
// records of hosts and zones); reading and printing it go through these
// functions, compiled once in common/src/json.cpp.
//
// Why not call nlohmann's parse()/dump() directly: they are templates whose
// lexer, parser and serializer (grisu float printing, UTF-8 checks) are
// instantiated and optimised again in every translation unit that calls them
// — about half of such a file's compile time. Here they are compiled once.
//
// Neither function throws: parseJson answers a *discarded* value
// (is_discarded()) for text that is not JSON, and dumpJson replaces invalid
// UTF-8 with U+FFFD instead of throwing (nlohmann's default), so untrusted
// strings can always be printed on the loop thread.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kith {

// Parses one JSON text; a discarded value when it is not one.
nlohmann::json parseJson(std::string_view text);
// Compact form, one line, invalid UTF-8 replaced.
std::string dumpJson(const nlohmann::json& j);
// Indented form for people (`indent` spaces per level), invalid UTF-8 replaced.
std::string dumpJsonPretty(const nlohmann::json& j, int indent = 2);

}  // namespace kith
