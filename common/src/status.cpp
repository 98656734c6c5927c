#include "kith/common/status.h"

#include <array>
#include <cstring>

namespace kith {
namespace {

struct CodeEntry {
  Code code;
  std::string_view name;
};

constexpr std::array<CodeEntry, 10> kApiCodes{{
    {Code::kBadRequest, "BAD_REQUEST"},
    {Code::kTimeout, "TIMEOUT"},
    {Code::kInvalidSource, "INVALID_SOURCE"},
    {Code::kDestinationNotFound, "DESTINATION_NOT_FOUND"},
    {Code::kDestinationUnreachable, "DESTINATION_UNREACHABLE"},
    {Code::kCannotConnect, "CANNOT_CONNECT"},
    {Code::kUnauthorized, "UNAUTHORIZED"},
    {Code::kAlreadyRegistered, "ALREADY_REGISTERED"},
    {Code::kRateLimited, "RATE_LIMITED"},
    {Code::kInternal, "INTERNAL"},
}};

}  // namespace

std::string_view codeName(Code c) {
  if (c == Code::kOk) return "OK";
  for (const auto& e : kApiCodes) {
    if (e.code == c) return e.name;
  }
  return "INTERNAL";
}

std::optional<Code> codeFromName(std::string_view name) {
  for (const auto& e : kApiCodes) {
    if (e.name == name) return e.code;
  }
  return std::nullopt;
}

Status Status::storage(std::string_view what, std::string_view detail) {
  return {Code::kStorage, std::string(what) + ": " + std::string(detail)};
}

Status Status::io(std::string_view what, std::string_view detail) {
  return {Code::kIo, std::string(what) + ": " + std::string(detail)};
}

Status Status::fromErrno(std::string_view what, int err) {
  return io(what, std::strerror(err));
}

std::string Status::toString() const {
  if (isOk()) return "OK";
  return std::string(codeName(code_)) + ": " + message_;
}

}  // namespace kith
