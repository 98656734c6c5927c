// Backend: a TCP server for the vhost integration tests that parses the PROXY
// v2 header the vhost listener sends first and records what each connection
// carried (vhost_test.cpp, vhost_mesh_test.cpp).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::test {

// A TCP backend on 127.0.0.1:0. Each connection: PROXY v2 header, then one
// request (an HTTP request up to its blank line, or one line), answered with
// "backend=NAME" (as an HTTP response for HTTP), then closed.
class Backend {
 public:
  struct Seen {
    api::ProxyHeader header;
    std::string payload;
  };
  explicit Backend(std::string name) : name_(std::move(name)) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    BOOST_REQUIRE(::listen(fd_.get(), 64) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Backend() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }
  size_t connections() const { return accepted_.load(); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> g(mu_);
    return seen_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
      if (!c) continue;
      ++accepted_;
      timeval tv{10, 0};
      ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string in;
      Seen s;
      size_t used = 0;
      bool haveHeader = false;
      char buf[4096];
      for (;;) {
        if (!haveHeader) {
          auto h = api::parseProxyHeader(in, &used);
          if (h.isOk()) {
            s.header = *h;
            haveHeader = true;
            in.erase(0, used);
          } else if (h.status().code() != Code::kNotFound) {
            break;  // not a PROXY header: recorded as an empty header
          }
        }
        if (haveHeader) {
          bool http = in.rfind("GET ", 0) == 0;
          if ((http && in.find("\r\n\r\n") != std::string::npos) || (!http && in.find('\n') != std::string::npos)) {
            break;
          }
        }
        ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      s.payload = in;
      std::string body = "backend=" + name_ + "\n";
      std::string out = in.rfind("GET ", 0) == 0
                            ? "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                                  "\r\nConnection: close\r\n\r\n" + body
                            : body;
      (void)::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL);
      {
        std::lock_guard<std::mutex> g(mu_);
        seen_.push_back(std::move(s));
      }
    }
  }
  std::string name_;
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> accepted_{0};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

}  // namespace kith::test
