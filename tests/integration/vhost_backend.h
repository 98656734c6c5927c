// Backends for the vhost integration tests (vhost_test.cpp,
// vhost_mesh_test.cpp): Backend, a TCP server that parses the PROXY v2 header
// the vhost listener sends first and records what each connection carried;
// holdOpenThenEnd, a held-open stream that something must end.
#pragma once

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
// clang-format on

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "kith/socket-api/proxy_header.h"

namespace kith::test {

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (*port).
inline UniqueFd listenOnLoopback(uint16_t* port, int backlog = 64) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  BOOST_REQUIRE(::listen(fd.get(), backlog) == 0);
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

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
    fd_ = listenOnLoopback(&port_);
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

// A backend that holds its one stream open until the other side ends it,
// registered by `serve(port)`; a TLS client (wolfSSL) for host `sni` on the
// vhost listener at `vhostPort` sends one line; once the backend has the
// stream, `end` runs, and then both the client's and the backend's ends must
// close.
inline void holdOpenThenEnd(uint16_t vhostPort, const std::string& sni,
                            const std::function<void(uint16_t backendPort)>& serve,
                            const std::function<void()>& end) {
  uint16_t backendPort = 0;
  UniqueFd lfd = listenOnLoopback(&backendPort, 4);
  std::atomic<bool> accepted{false}, ended{false};
  std::thread holder([&] {
    UniqueFd c(::accept(lfd.get(), nullptr, nullptr));
    accepted = true;
    timeval tv{60, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (::recv(c.get(), buf, sizeof buf, 0) > 0) {
    }
    ended = true;
  });
  struct Join {
    std::thread& t;
    int fd;
    ~Join() {
      ::shutdown(fd, SHUT_RDWR);  // a failed check must not leave accept() waiting
      t.join();
    }
  } join{holder, lfd.get()};
  serve(backendPort);
  wolfSSL_Init();
  std::unique_ptr<WOLFSSL_CTX, decltype(&wolfSSL_CTX_free)> ctx(wolfSSL_CTX_new(wolfSSLv23_client_method()),
                                                                &wolfSSL_CTX_free);
  wolfSSL_CTX_set_verify(ctx.get(), WOLFSSL_VERIFY_NONE, nullptr);
  UniqueFd cfd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_port = htons(vhostPort);
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(cfd.get(), reinterpret_cast<sockaddr*>(&la), sizeof la) == 0);
  timeval tv{30, 0};
  ::setsockopt(cfd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::unique_ptr<WOLFSSL, decltype(&wolfSSL_free)> ssl(wolfSSL_new(ctx.get()), &wolfSSL_free);
  wolfSSL_UseSNI(ssl.get(), WOLFSSL_SNI_HOST_NAME, sni.data(), static_cast<unsigned short>(sni.size()));
  wolfSSL_set_fd(ssl.get(), cfd.get());
  BOOST_REQUIRE(wolfSSL_connect(ssl.get()) == WOLFSSL_SUCCESS);
  BOOST_REQUIRE(wolfSSL_write(ssl.get(), "hi\n", 3) == 3);
  BOOST_REQUIRE(waitFor([&] { return accepted.load(); }, 30000));
  BOOST_TEST(!ended.load());
  end();
  char buf[64];
  BOOST_TEST(wolfSSL_read(ssl.get(), buf, sizeof buf) <= 0);  // the client's stream ends
  BOOST_TEST(waitFor([&] { return ended.load(); }, 30000));  // and the backend's
  ssl.reset();
  wc_ecc_fp_free();  // wolfSSL's per-thread ECC cache
}

}  // namespace kith::test
