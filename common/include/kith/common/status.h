// Status and Result<T>: how every fallible kith call reports failure.
//
// No exceptions cross the loop thread (STYLE.md rule 8). A failing call returns a
// Status carrying a Code and a human message with context; foreign error codes
// (errno, wolfSSL, SQLite, ZeroMQ) are converted once, at the boundary.
//
// The first block of codes are the socket API's stable error codes and map 1:1
// onto their wire names (see codeName). The rest are internal categories that
// reach a client, if ever, as INTERNAL.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kith {

enum class Code {
  kOk = 0,
  // Stable API codes (never renamed once shipped).
  kBadRequest,
  kTimeout,
  kInvalidSource,
  kDestinationNotFound,
  kDestinationUnreachable,
  kCannotConnect,
  kUnauthorized,
  kAlreadyRegistered,
  kRateLimited,
  kInternal,
  // Internal categories.
  kIo,
  kStorage,
  kConfig,
  kCrypto,
  kNotFound,
};

// Wire name of a code: "BAD_REQUEST", ...; internal categories give "INTERNAL".
std::string_view codeName(Code c);
// Parses a wire name; unknown names give std::nullopt.
std::optional<Code> codeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status badRequest(std::string m) { return {Code::kBadRequest, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status notFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status config(std::string m) { return {Code::kConfig, std::move(m)}; }
  static Status crypto(std::string m) { return {Code::kCrypto, std::move(m)}; }
  // "<what>: <detail>" for errors from storage, I/O and errno.
  static Status storage(std::string_view what, std::string_view detail);
  static Status io(std::string_view what, std::string_view detail);
  static Status fromErrno(std::string_view what, int err);

  bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message" for logs.
  std::string toString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or a non-ok Status. Accessing value() of an error is a programming
// error (asserted), never a recoverable condition.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(implicit)
    assert(!std::get<Status>(v_).isOk() && "Result built from an ok Status");
  }

  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }

  T& value() & { assert(isOk()); return std::get<T>(v_); }
  const T& value() const& { assert(isOk()); return std::get<T>(v_); }
  T&& value() && { assert(isOk()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Status& status() const {
    static const Status kOkStatus;
    return isOk() ? kOkStatus : std::get<Status>(v_);
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kith

// Propagates a non-ok Status from an expression returning Status.
#define KITH_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::kith::Status kith_status_ = (expr);       \
    if (!kith_status_.isOk()) return kith_status_; \
  } while (0)
