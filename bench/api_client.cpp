#include "api_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "kith/common/json.h"
#include "kith/socket-api/fd_passing.h"
#include "kith/socket-api/protocol.h"

namespace kith::bench {
namespace {

using Clock = std::chrono::steady_clock;

int msLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

}  // namespace

Result<ApiClient> ApiClient::connect(const std::string& path) {
  ApiClient c;
  c.fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!c.fd_) return Status::fromErrno("socket", errno);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Status::badRequest("socket path too long: " + path);
  std::memcpy(sa.sun_path, path.data(), path.size());
  // A non-blocking Unix connect either completes at once or fails with
  // EAGAIN when the backlog is full; waiting for room is the caller's retry.
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return Status::fromErrno("connect " + path, errno);
  }
  return c;
}

Status ApiClient::sendAll(std::string_view bytes, int timeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  while (!bytes.empty()) {
    auto n = sendSome(bytes);
    if (!n.isOk()) return n.status();
    bytes.remove_prefix(*n);
    if (bytes.empty()) break;
    if (*n == 0) {
      int left = msLeft(deadline);
      if (left == 0) return Status(Code::kTimeout, "send: no room within " + std::to_string(timeoutMs) + " ms");
      pollfd p{fd_.get(), POLLOUT, 0};
      ::poll(&p, 1, left);
    }
  }
  return Status::ok();
}

Result<size_t> ApiClient::sendSome(std::string_view bytes) {
  for (;;) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
    return Status::fromErrno("send", errno);
  }
}

Status ApiClient::readAvailable() {
  char buf[65536];
  ssize_t n = api::recvWithFds(fd_.get(), buf, sizeof buf, &fds_);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::ok();
    return Status::fromErrno("recv", errno);
  }
  if (n == 0) return Status::io("recv", "the daemon closed the connection");
  in_.append(std::string_view(buf, static_cast<size_t>(n)));
  return Status::ok();
}

bool ApiClient::nextLine(std::string* line) {
  api::LineBuffer::Item item;
  if (!in_.next(&item)) return false;
  *line = item.kind == api::LineBuffer::Kind::kLine ? std::move(item.line) : std::string();
  return true;
}

Result<Message> ApiClient::parse(const std::string& line) {
  Message m;
  m.json = kith::parseJson(line);
  if (m.json.is_discarded() || !m.json.is_object()) {
    return Status::internal("reply is not a JSON object: " + line.substr(0, 200));
  }
  if (m.json.value("fd", false)) {
    if (fds_.empty()) return Status::internal("\"fd\": true without a descriptor");
    m.fd = std::move(fds_.front());
    fds_.pop_front();
  }
  return m;
}

Result<Message> ApiClient::next(int timeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  std::string line;
  for (;;) {
    if (nextLine(&line)) return parse(line);
    int left = msLeft(deadline);
    if (left == 0) return Status(Code::kTimeout, "no message within " + std::to_string(timeoutMs) + " ms");
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno != EINTR) return Status::fromErrno("poll", errno);
    if (r > 0) KITH_RETURN_IF_ERROR(readAvailable());
  }
}

Result<Message> ApiClient::request(nlohmann::json req, int timeoutMs) {
  if (!req.contains("id")) req["id"] = nextId_++;
  KITH_RETURN_IF_ERROR(sendAll(api::toLine(req), timeoutMs));
  for (;;) {
    auto m = next(timeoutMs);
    if (!m.isOk()) return m.status();
    if (m->json.contains("event")) {
      events_.push_back(std::move(m).value());
      continue;
    }
    return m;
  }
}

Result<Message> ApiClient::nextEvent(int timeoutMs) {
  if (!events_.empty()) {
    Message m = std::move(events_.front());
    events_.pop_front();
    return m;
  }
  return next(timeoutMs);
}

std::string registerLine(int64_t id, std::string_view name) {
  std::string s;
  s.reserve(64 + name.size());
  s += "{\"id\":";
  s += std::to_string(id);
  s += ",\"op\":\"register\",\"name\":\"";
  s += name;  // bench names are [A-Za-z0-9.-]: nothing to escape
  s += "\"}\n";
  return s;
}

std::string errorCodeOf(std::string_view line) {
  auto j = kith::parseJson(line);
  if (j.is_discarded() || !j.is_object()) return "?";
  if (j.value("ok", false)) return "OK";
  const auto& e = j["error"];
  return e.is_object() ? e.value("code", "?") : "?";
}

}  // namespace kith::bench
