// FakeDaemon: a scripted stand-in for kithd's socket API, for libkith's unit
// tests. It listens on a Unix socket in a fresh temporary directory, accepts
// one connection on its own thread and runs the test's script against it.
//
// The script talks through FakeConn: read the next request line (bounded wait),
// send replies, events, descriptors or raw bytes. Boost.Test assertions are
// not thread-safe, so the server thread never asserts: it records every
// request it read and every problem it saw, and the test checks them on its own
// thread after join() (the destructor joins too).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kith/common/unique_fd.h"
#include "kith/socket-api/fd_passing.h"
#include "kith/socket-api/line_buffer.h"
#include "kith/socket-api/protocol.h"

namespace kith::testing {

using api::Json;

class FakeConn {
 public:
  explicit FakeConn(UniqueFd fd) : fd_(std::move(fd)) {}

  int fd() const { return fd_.get(); }

  // The next request line, parsed; nullopt (and a recorded problem) on EOF,
  // timeout or a line that is not a well-formed request.
  std::optional<Json> read(int timeoutMs = 5000) {
    api::LineBuffer::Item item;
    while (!lines_.next(&item)) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, timeoutMs) <= 0) return problem("timed out waiting for a request");
      char buf[65536];
      std::deque<UniqueFd> fds;
      ssize_t n = api::recvWithFds(fd_.get(), buf, sizeof buf, &fds);
      if (n <= 0) return problem("client closed before sending a request");
      if (!fds.empty()) problem("client sent a descriptor");
      lines_.append(std::string_view(buf, static_cast<size_t>(n)));
    }
    if (item.kind != api::LineBuffer::Kind::kLine) return problem("oversize request line");
    auto req = api::parseRequest(item.line);
    if (!req.isOk()) return problem("malformed request: " + req.status().message());
    std::lock_guard g(*mu_);
    rawLines_->push_back(item.line);
    requests_->push_back(*req);
    return *req;
  }

  // True once the client has closed its end and sent nothing more (a partial
  // line counts as something).
  bool clientClosedCleanly(int timeoutMs = 5000) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) return false;
    char c;
    return ::recv(fd_.get(), &c, 1, 0) == 0 && lines_.pending() == 0;
  }

  void send(const std::string& bytes, int fd = -1) {
    std::string_view rest = bytes;
    bool first = true;
    while (!rest.empty()) {
      ssize_t n = first ? api::sendWithFd(fd_.get(), rest, fd)
                        : ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        problem("send failed");
        return;
      }
      first = false;
      rest.remove_prefix(static_cast<size_t>(n));
    }
  }
  void send(const Json& msg, int fd = -1) { send(api::toLine(msg), fd); }

  // {"id":<req id>,"ok":true,...fields}
  void ok(const Json& req, Json fields = Json::object(), int fd = -1) {
    Json r = api::okReply(req.value("id", Json()));
    for (auto& [k, v] : fields.items()) r[k] = v;
    send(r, fd);
  }
  void error(const Json& req, const std::string& code, const std::string& message) {
    Json r = {{"id", req.value("id", Json())},
              {"ok", false},
              {"error", {{"code", code}, {"message", message}}}};
    send(r);
  }

  std::nullopt_t problem(const std::string& what) {
    std::lock_guard g(*mu_);
    problems_->push_back(what);
    return std::nullopt;
  }

 private:
  friend class FakeDaemon;
  UniqueFd fd_;
  api::LineBuffer lines_;
  std::mutex* mu_ = nullptr;
  std::vector<Json>* requests_ = nullptr;
  std::vector<std::string>* rawLines_ = nullptr;
  std::vector<std::string>* problems_ = nullptr;
};

class FakeDaemon {
 public:
  using Script = std::function<void(FakeConn&)>;

  // `socketName`: the file the fake listens on in its directory (admin.sock
  // for admin tools).
  explicit FakeDaemon(Script script, const std::string& socketName = "api.sock") {
    char tmpl[] = "/tmp/kith-libclient-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (!d) std::abort();
    dir_ = d;
    path_ = dir_ + "/" + socketName;
    listen_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_.get(), 4) != 0) {
      std::abort();  // the test environment is broken: nothing to test
    }
    thread_ = std::thread([this, script = std::move(script)] {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) {
        record("no client connected");
        return;
      }
      FakeConn conn(UniqueFd(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC)));
      conn.mu_ = &mu_;
      conn.requests_ = &requests_;
      conn.rawLines_ = &rawLines_;
      conn.problems_ = &problems_;
      script(conn);
    });
  }

  ~FakeDaemon() {
    join();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

  // Waits for the script to finish; afterwards the records below are stable.
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::vector<Json>& requests() const { return requests_; }
  const std::vector<std::string>& rawLines() const { return rawLines_; }
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  void record(const std::string& what) {
    std::lock_guard g(mu_);
    problems_.push_back(what);
  }

  std::string dir_, path_;
  UniqueFd listen_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Json> requests_;
  std::vector<std::string> rawLines_;
  std::vector<std::string> problems_;
};

// Reads exactly `n` bytes (bounded wait); "" on EOF or timeout.
inline std::string readExactly(int fd, size_t n, int timeoutMs = 5000) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) <= 0) return "";
    char buf[4096];
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - out.size()));
    if (r <= 0) return "";
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// True if `fd` reaches EOF within the timeout (the other end was closed).
inline bool seesEof(int fd, int timeoutMs = 5000) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) <= 0) return false;
  char c;
  return ::read(fd, &c, 1) == 0;
}

}  // namespace kith::testing
