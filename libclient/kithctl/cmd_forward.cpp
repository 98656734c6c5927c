// kithctl forward LOCAL_PORT DEST --as NAME: a local TCP port into the mesh,
// for unmodified clients (curl, psql, a browser). Registers NAME with the
// daemon (the lease lives while this process runs), listens on
// 127.0.0.1:LOCAL_PORT (--bind to change), and for every accepted connection
// asks the daemon for a stream to DEST (an address or a group pattern: each
// connection may go to another instance) and relays both ways with half-close.
// One thread per connection; the daemon connection is used from the main
// thread only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "../kithcat/pump.h"
#include "command.h"
#include "session.h"

namespace kith::kithctl {
namespace {

struct ForwardOptions {
  int port = 0;
  std::string dest;
  std::string as;
  std::string bind = "127.0.0.1";
  int timeoutMs = 5000;
};

int listenOn(const std::string& host, int port, std::string* error) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    *error = "--bind " + host + ": not an IP address";
    return -1;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 128) != 0) {
    *error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

void relay(int conn, int stream) {
  kithcat::PumpState state;
  std::string error;
  kithcat::pump(stream, conn, conn, &state, &error);
  ::close(stream);
  ::close(conn);
}

int runForward(const ForwardOptions& o, const Globals& g) {
  ::signal(SIGPIPE, SIG_IGN);
  std::string error;
  int lfd = listenOn(o.bind, o.port, &error);
  if (lfd < 0) {
    complain(error);
    return kExitRefused;
  }
  try {
    Client client = Client::open(g.socket);
    RegisterOptions reg;
    reg.name = o.as;
    Registration r = client.registerAs(reg);
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&bound), &blen);
    int port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    std::printf("forwarding %s:%d -> %s as %s\n", o.bind.c_str(), port, o.dest.c_str(), r.address.c_str());
    std::fflush(stdout);
    ConnectOptions copts;
    copts.timeoutMs = o.timeoutMs;
    for (;;) {
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) {
          ::usleep(100000);  // out of descriptors: let relays finish
          continue;
        }
        complain(std::string("accept: ") + std::strerror(errno));
        return kExitRefused;
      }
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      try {
        Connection conn = client.connect(o.dest, copts);
        int stream = conn.fd.release();
        std::thread(relay, c, stream).detach();
      } catch (const kith::Error& e) {
        // This connection fails (the client sees it closed); the next may not.
        complain(std::string("connect ") + o.dest + ": " + e.what());
        ::close(c);
      }
    }
  } catch (const kith::Error& e) {
    ::close(lfd);
    return refused(e);
  }
}

Action setup(CLI::App* sub, const Globals* g) {
  auto o = std::make_shared<ForwardOptions>();
  sub->add_option("LOCAL_PORT", o->port, "Local TCP port to listen on (0: any; the chosen port is printed)")
      ->required()
      ->check(CLI::Range(0, 65535));
  sub->add_option("DEST", o->dest, "Mesh address or pattern each connection goes to")->required();
  sub->add_option("--as", o->as, "Register as NAME (scope.group.identity.resource)")->required()->type_name("NAME");
  sub->add_option("--bind", o->bind, "Address to listen on (default 127.0.0.1)")->type_name("ADDR");
  sub->add_option("--timeout-ms", o->timeoutMs, "connect timeout per connection (default 5000)")
      ->check(CLI::Range(1, 600000));
  sub->footer("Example:\n  kithctl forward 8080 dev.nginx.web1.default.node2 --as dev.curl.c1.default\n"
              "  curl http://127.0.0.1:8080/");
  return [o, g] { return runForward(*o, *g); };
}

}  // namespace

Command forwardCommand() {
  return {"forward", "Forward a local TCP port to a mesh destination (for unmodified clients)", &setup};
}

}  // namespace kith::kithctl
