// The socket API's message vocabulary: protocol version, reply builders and
// typed field access for requests. Shared by kithd (server) and libkith
// (client); docs/SOCKET-API.md and kith-socket-api(7) are the contract.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kith/common/status.h"

namespace kith::api {

inline constexpr int kProtocolVersion = 1;

using Json = nlohmann::json;

// Parses one request line. Errors (not JSON, not an object, nesting deeper than
// kMaxDepth, missing/mistyped "op") are BAD_REQUEST with a message.
inline constexpr int kMaxDepth = 32;
Result<Json> parseRequest(std::string_view line);
// True if no object/array in `line` nests deeper than maxDepth (strings are
// skipped). Cheap pre-check before parsing untrusted JSON.
bool jsonDepthWithin(std::string_view line, int maxDepth);

// {"id":..,"ok":true} with the request's id (null if none).
Json okReply(const Json& id);
// {"id":..,"ok":false,"error":{"code":..,"message":..}}.
Json errorReply(const Json& id, const Status& st);
// One line ready to write: compact JSON plus '\n' (invalid UTF-8 replaced).
std::string toLine(const Json& msg);

// Typed field access. Each returns BAD_REQUEST naming the field on a type
// mismatch; required fields also when missing.
Result<std::string> requireString(const Json& req, std::string_view field);
Result<std::optional<std::string>> optionalString(const Json& req, std::string_view field);
Result<std::optional<int64_t>> optionalInt(const Json& req, std::string_view field);
Result<std::optional<bool>> optionalBool(const Json& req, std::string_view field);
Result<std::vector<std::string>> optionalStringArray(const Json& req, std::string_view field,
                                                     size_t maxItems = 256);

// The error a reply carries, as a Status (ok for ok replies).
Status replyStatus(const Json& reply);

}  // namespace kith::api
