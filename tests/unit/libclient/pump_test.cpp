// kithcat's pump: both directions at once, half-close, and ends.
#include "pump.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "fake_daemon.h"

using kith::kithcat::pump;
using kith::kithcat::PumpEnd;
using kith::kithcat::PumpState;

namespace {

struct Fds {
  int r = -1, w = -1;
  ~Fds() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
};

Fds makePipe() {
  int p[2];
  BOOST_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  return Fds{p[0], p[1]};
}

Fds makeSocketPair() {
  int s[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
  return Fds{s[0], s[1]};
}

bool writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string readAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

struct IgnoreSigpipe {
  IgnoreSigpipe() { signal(SIGPIPE, SIG_IGN); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(kithcat_pump)

BOOST_AUTO_TEST_CASE(echo_peer_gets_all_data_back_without_deadlock_and_half_close_ends_it) {
  // 8 MiB through an echoing peer: the peer writes back while the pump is
  // still sending, which deadlocks a pump that blocks on either direction.
  std::string data(8 << 20, '\0');
  std::mt19937 rng(42);
  for (auto& c : data) c = static_cast<char>(rng());
  Fds in = makePipe(), out = makePipe(), sock = makeSocketPair();
  int peer = sock.w;
  std::thread echo([peer] {
    char buf[8192];
    for (;;) {
      ssize_t n = read(peer, buf, sizeof buf);
      if (n <= 0) break;  // EOF: the pump shut its write side down
      if (!writeAll(peer, std::string(buf, static_cast<size_t>(n)))) break;
    }
    shutdown(peer, SHUT_WR);
  });
  int inW = in.w;
  std::thread feeder([inW, &data] {
    writeAll(inW, data);
    close(inW);
  });
  in.w = -1;
  std::string got;
  int outR = out.r;
  std::thread drain([outR, &got] { got = readAll(outR); });

  PumpState state;
  std::string error;
  PumpEnd end = pump(sock.r, in.r, out.w, &state, &error);
  close(out.w);
  out.w = -1;
  feeder.join();
  echo.join();
  drain.join();
  BOOST_TEST((end == PumpEnd::kDone), error);
  BOOST_TEST(state.inEof);
  BOOST_TEST(got.size() == data.size());
  BOOST_TEST((got == data));
}

BOOST_AUTO_TEST_CASE(stream_end_finishes_even_while_stdin_stays_open) {
  Fds in = makePipe(), out = makePipe(), sock = makeSocketPair();
  BOOST_REQUIRE(writeAll(sock.w, "bye\n"));
  shutdown(sock.w, SHUT_WR);
  PumpState state;
  std::string error;
  BOOST_TEST((pump(sock.r, in.r, out.w, &state, &error) == PumpEnd::kDone));
  BOOST_TEST(!state.inEof);  // stdin never ended and is left for later
  close(out.w);
  out.w = -1;
  BOOST_TEST(readAll(out.r) == "bye\n");
}

BOOST_AUTO_TEST_CASE(stdin_already_at_eof_shuts_the_write_side_at_once) {
  Fds in = makePipe(), out = makePipe(), sock = makeSocketPair();
  PumpState state;
  state.inEof = true;  // a second stream under -k after stdin ended
  int peer = sock.w;
  std::thread server([peer] {
    // The pump's shutdown shows up as EOF; answer, then end the stream.
    if (kith::testing::seesEof(peer)) writeAll(peer, "done");
    shutdown(peer, SHUT_WR);
  });
  std::string error;
  BOOST_TEST((pump(sock.r, in.r, out.w, &state, &error) == PumpEnd::kDone));
  server.join();
  close(out.w);
  out.w = -1;
  BOOST_TEST(readAll(out.r) == "done");
}

BOOST_AUTO_TEST_CASE(closed_stdout_stops_quietly) {
  IgnoreSigpipe ignore;
  Fds in = makePipe(), out = makePipe(), sock = makeSocketPair();
  close(out.r);
  out.r = -1;
  BOOST_REQUIRE(writeAll(sock.w, "nobody reads this"));
  PumpState state;
  std::string error;
  BOOST_TEST((pump(sock.r, in.r, out.w, &state, &error) == PumpEnd::kOutClosed));
}

BOOST_AUTO_TEST_CASE(peer_that_stops_reading_does_not_end_the_output) {
  IgnoreSigpipe ignore;
  Fds in = makePipe(), out = makePipe(), sock = makeSocketPair();
  // The peer closes its read side at once but still sends a reply.
  shutdown(sock.w, SHUT_RD);
  BOOST_REQUIRE(writeAll(in.w, "request"));
  close(in.w);
  in.w = -1;
  BOOST_REQUIRE(writeAll(sock.w, "reply"));
  shutdown(sock.w, SHUT_WR);
  PumpState state;
  std::string error;
  BOOST_TEST((pump(sock.r, in.r, out.w, &state, &error) == PumpEnd::kDone), error);
  close(out.w);
  out.w = -1;
  BOOST_TEST(readAll(out.r) == "reply");
}

BOOST_AUTO_TEST_SUITE_END()
