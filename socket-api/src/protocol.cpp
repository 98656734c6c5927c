#include "kith/socket-api/protocol.h"
#include "kith/common/json.h"

namespace kith::api {
namespace {

std::string typeName(const Json& v) { return v.type_name(); }

}  // namespace

// Rejects documents nested too deep before parsing, so a line of 30,000 '['
// can neither exhaust the stack nor cost much.
bool jsonDepthWithin(std::string_view line, int maxDepth) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (char c : line) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') inString = false;
      continue;
    }
    if (c == '"') inString = true;
    else if (c == '{' || c == '[') {
      if (++depth > maxDepth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

Result<Json> parseRequest(std::string_view line) {
  if (!jsonDepthWithin(line, kMaxDepth)) {
    return Status::badRequest("request nests deeper than " + std::to_string(kMaxDepth) +
                              " levels");
  }
  Json req = parseJson(line);
  if (req.is_discarded()) return Status::badRequest("request is not valid JSON");
  if (!req.is_object()) return Status::badRequest("request must be a JSON object");
  if (auto it = req.find("id"); it != req.end() && !it->is_number() && !it->is_string() &&
                                !it->is_null()) {
    return Status::badRequest("field 'id' must be a number or a string");
  }
  auto op = req.find("op");
  if (op == req.end()) return Status::badRequest("missing field 'op'");
  if (!op->is_string()) return Status::badRequest("field 'op' must be a string");
  return req;
}

Json okReply(const Json& id) {
  Json r = Json::object();
  r["id"] = id;
  r["ok"] = true;
  return r;
}

Json errorReply(const Json& id, const Status& st) {
  Json r = Json::object();
  r["id"] = id;
  r["ok"] = false;
  r["error"] = {{"code", std::string(codeName(st.code()))}, {"message", st.message()}};
  return r;
}

std::string toLine(const Json& msg) {
  std::string s = dumpJson(msg);
  s.push_back('\n');
  return s;
}

Result<std::string> requireString(const Json& req, std::string_view field) {
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) {
    return Status::badRequest("missing field '" + std::string(field) + "'");
  }
  if (!it->is_string()) {
    return Status::badRequest("field '" + std::string(field) + "' must be a string, got " +
                              typeName(*it));
  }
  return it->get<std::string>();
}

Result<std::optional<std::string>> optionalString(const Json& req, std::string_view field) {
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) {
    return Status::badRequest("field '" + std::string(field) + "' must be a string, got " +
                              typeName(*it));
  }
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::optional<int64_t>> optionalInt(const Json& req, std::string_view field) {
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) return std::optional<int64_t>{};
  if (!it->is_number_integer()) {
    return Status::badRequest("field '" + std::string(field) + "' must be an integer, got " +
                              typeName(*it));
  }
  return std::optional<int64_t>{it->get<int64_t>()};
}

Result<std::optional<bool>> optionalBool(const Json& req, std::string_view field) {
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) {
    return Status::badRequest("field '" + std::string(field) + "' must be a boolean, got " +
                              typeName(*it));
  }
  return std::optional<bool>{it->get<bool>()};
}

Result<std::vector<std::string>> optionalStringArray(const Json& req, std::string_view field,
                                                     size_t maxItems) {
  std::vector<std::string> out;
  auto it = req.find(field);
  if (it == req.end() || it->is_null()) return out;
  if (!it->is_array()) {
    return Status::badRequest("field '" + std::string(field) + "' must be an array of strings");
  }
  if (it->size() > maxItems) {
    return Status::badRequest("field '" + std::string(field) + "' has more than " +
                              std::to_string(maxItems) + " items");
  }
  for (const auto& v : *it) {
    if (!v.is_string()) {
      return Status::badRequest("field '" + std::string(field) + "' must be an array of strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

Status replyStatus(const Json& reply) {
  if (!reply.is_object()) return Status::internal("reply is not a JSON object");
  auto ok = reply.find("ok");
  if (ok != reply.end() && ok->is_boolean() && ok->get<bool>()) return Status::ok();
  auto err = reply.find("error");
  if (err == reply.end() || !err->is_object()) return Status::internal("reply has no error");
  std::string code = err->value("code", "INTERNAL");
  std::string message = err->value("message", "");
  auto c = codeFromName(code);
  return Status(c.value_or(Code::kInternal), message);
}

}  // namespace kith::api
