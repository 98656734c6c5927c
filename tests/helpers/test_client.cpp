#include "test_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "kith/common/json.h"
#include "kith/socket-api/fd_passing.h"
#include "kith/socket-api/protocol.h"

namespace kith::test {
namespace {
int64_t nowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

Result<TestClient> TestClient::connect(const std::string& path) {
  TestClient c;
  c.fd_.reset(connectUnix(path));
  if (!c.fd_) return Status::fromErrno("connect " + path, errno);
  return c;
}

Status TestClient::sendRaw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno("send", errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

void TestClient::shutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

Result<Message> TestClient::readOne(int timeoutMs) {
  int64_t deadline = nowMs() + timeoutMs;
  for (;;) {
    api::LineBuffer::Item item;
    if (in_.next(&item)) {
      if (item.kind != api::LineBuffer::Kind::kLine) return Status::internal("oversize reply");
      Message m;
      m.json = kith::parseJson(item.line);
      if (m.json.is_discarded()) return Status::internal("reply is not JSON: " + item.line);
      if (m.json.value("fd", false)) {
        if (fds_.empty()) return Status::internal("\"fd\": true without a descriptor");
        m.fd = std::move(fds_.front());
        fds_.pop_front();
      }
      return m;
    }
    int64_t left = deadline - nowMs();
    if (left <= 0) return Status(Code::kTimeout, "no message within " + std::to_string(timeoutMs) + " ms");
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return Status::fromErrno("poll", errno);
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = api::recvWithFds(fd_.get(), buf, sizeof buf, &fds_);
    if (n < 0) return Status::fromErrno("recv", errno);
    if (n == 0) return Status::io("recv", "daemon closed the connection");
    in_.append(std::string_view(buf, static_cast<size_t>(n)));
  }
}

Result<Message> TestClient::request(nlohmann::json req, int timeoutMs) {
  if (!req.contains("id")) req["id"] = nextId_++;
  KITH_RETURN_IF_ERROR(sendRaw(api::toLine(req)));
  for (;;) {
    auto m = readOne(timeoutMs);
    if (!m.isOk()) return m.status();
    if (m->json.contains("event")) {
      events_.push_back(std::move(m).value());
      continue;
    }
    return m;
  }
}

Result<Message> TestClient::next(int timeoutMs) {
  if (!events_.empty()) {
    Message m = std::move(events_.front());
    events_.pop_front();
    return m;
  }
  return readOne(timeoutMs);
}

Result<Message> TestClient::nextEvent(int timeoutMs) { return next(timeoutMs); }

Status TestClient::statusOf(const Message& m) { return api::replyStatus(m.json); }

}  // namespace kith::test
