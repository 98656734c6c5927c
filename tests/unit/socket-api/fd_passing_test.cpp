#include "kith/socket-api/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "kith/socket-api/peer_cred.h"

namespace api = kith::api;

BOOST_AUTO_TEST_SUITE(socket_api_fd_passing)

BOOST_AUTO_TEST_CASE(descriptors_arrive_in_order_with_their_messages) {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  kith::UniqueFd a(sv[0]), b(sv[1]);
  int p1[2], p2[2];
  BOOST_REQUIRE(pipe(p1) == 0);
  BOOST_REQUIRE(pipe(p2) == 0);
  BOOST_TEST(api::sendWithFd(a.get(), "one\n", p1[0]) == 4);
  BOOST_TEST(api::sendWithFd(a.get(), "two\n", p2[0]) == 4);
  BOOST_TEST(api::sendWithFd(a.get(), "plain\n", -1) == 6);
  close(p1[0]);
  close(p2[0]);
  std::deque<kith::UniqueFd> fds;
  std::string got;
  char buf[64];
  while (got.size() < 14) {
    ssize_t n = api::recvWithFds(b.get(), buf, sizeof buf, &fds);
    BOOST_REQUIRE(n > 0);
    got.append(buf, static_cast<size_t>(n));
  }
  BOOST_TEST(got == "one\ntwo\nplain\n");
  BOOST_REQUIRE(fds.size() == 2u);
  // Each received descriptor is the read end of the pipe sent with it.
  BOOST_REQUIRE(write(p1[1], "1", 1) == 1);
  BOOST_REQUIRE(write(p2[1], "2", 1) == 1);
  char c = 0;
  BOOST_REQUIRE(read(fds[0].get(), &c, 1) == 1);
  BOOST_TEST(c == '1');
  BOOST_REQUIRE(read(fds[1].get(), &c, 1) == 1);
  BOOST_TEST(c == '2');
  BOOST_TEST((fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
  close(p1[1]);
  close(p2[1]);
}

BOOST_AUTO_TEST_CASE(peer_credentials_come_from_the_kernel) {
  int sv[2];
  BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  kith::UniqueFd a(sv[0]), b(sv[1]);
  auto cred = api::peerCredOf(a.get());
  BOOST_REQUIRE(cred.isOk());
  BOOST_TEST(cred->uid == getuid());
  BOOST_TEST(cred->pid == getpid());
}

BOOST_AUTO_TEST_CASE(a_pinned_process_is_seen_to_exit) {
  int ready[2];
  BOOST_REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    char c;
    (void)!read(ready[0], &c, 1);  // wait until told to exit
    _exit(0);
  }
  close(ready[0]);
  auto pin = api::ProcessPin::pin(child);
  BOOST_REQUIRE(pin.isOk());
  BOOST_TEST(pin->alive());
  BOOST_TEST(pin->pollFd() >= 0);  // pidfd on any kernel this project supports
  auto start = pin->startTime();
  BOOST_TEST(api::ProcessPin::repin(child, start, api::bootId()).isOk());
  BOOST_TEST(!api::ProcessPin::repin(child, start + 1, api::bootId()).isOk());
  BOOST_REQUIRE(write(ready[1], "x", 1) == 1);
  close(ready[1]);
  int status = 0;
  BOOST_REQUIRE(waitpid(child, &status, 0) == child);
  BOOST_TEST(!pin->alive());
  BOOST_TEST(!api::ProcessPin::repin(child, start, api::bootId()).isOk());
}

BOOST_AUTO_TEST_SUITE_END()
