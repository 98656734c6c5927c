#include "echo_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace kith::test {

EchoServer::EchoServer() {
  listen_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (!listen_ || ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(listen_.get(), 4096) != 0 ||
      ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    throw std::runtime_error("EchoServer: cannot listen");
  }
  port_ = ntohs(sa.sin_port);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("EchoServer: pipe");
  wake_[0] = UniqueFd(p[0]);
  wake_[1] = UniqueFd(p[1]);
  thread_ = std::thread([this] { run(); });
}

EchoServer::~EchoServer() {
  (void)!::write(wake_[1].get(), "x", 1);
  thread_.join();
}

void EchoServer::run() {
  std::vector<pollfd> fds = {{wake_[0].get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}};
  char buf[65536];
  for (;;) {
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        fds.push_back({c, POLLIN, 0});
        ++accepted_;
        ++open_;
      }
    }
    for (size_t i = 2; i < fds.size();) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        // A blocking echo: tests send little per connection.
        bool ok = n > 0;
        for (ssize_t off = 0; ok && off < n;) {
          ssize_t w = ::write(fds[i].fd, buf + off, static_cast<size_t>(n - off));
          if (w <= 0) ok = false;
          else off += w;
        }
        if (!ok) {
          ::close(fds[i].fd);
          fds[i] = fds.back();
          fds.pop_back();
          --open_;
          continue;
        }
      }
      fds[i].revents = 0;
      ++i;
    }
  }
  for (size_t i = 2; i < fds.size(); ++i) ::close(fds[i].fd);
}

bool raiseFdLimit(size_t n) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= n) return true;
  if (rl.rlim_max < n) return false;
  rl.rlim_cur = n;
  return ::setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

}  // namespace kith::test
