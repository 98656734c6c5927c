#include "workload_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "test_client.h"
#include "kith/common/json.h"

namespace kith::test {

WorkloadProcess::~WorkloadProcess() { kill9(); }

Status WorkloadProcess::start(const Options& o) {
  int up[2], down[2];
  // Close-on-exec: a daemon exec()ed later must not hold the control pipe open.
  if (::pipe2(up, O_CLOEXEC) != 0 || ::pipe2(down, O_CLOEXEC) != 0) return Status::fromErrno("pipe", errno);
  pid_t pid = ::fork();
  if (pid < 0) return Status::fromErrno("fork", errno);
  if (pid == 0) {
    ::close(up[0]);
    ::close(down[1]);
    auto say = [&](const std::string& s) {
      std::string line = s + "\n";
      (void)!::write(up[1], line.data(), line.size());
    };
    if (o.uid != 0 && (::setgid(o.uid) != 0 || ::setuid(o.uid) != 0)) {
      say(R"({"ok":false,"error":{"code":"TEST","message":"setuid failed"}})");
      ::_exit(1);
    }
    auto c = TestClient::connect(o.socket);
    if (!c.isOk()) {
      say(R"({"ok":false,"error":{"code":"TEST","message":"connect failed"}})");
      ::_exit(1);
    }
    auto r = c->request(o.registerRequest);
    if (!r.isOk()) {
      say(R"({"ok":false,"error":{"code":"TEST","message":"no reply"}})");
      ::_exit(1);
    }
    if (o.listen && r->json.value("ok", false)) {
      (void)c->request({{"op", "listen"}, {"token", r->json["token"]}});
    }
    say(kith::dumpJson(r->json));
    if (o.closeConnection) {
      TestClient dropped = std::move(c).value();
      (void)dropped;
    }
    // Wait until the parent closes the control pipe (or kills us).
    char b;
    while (::read(down[0], &b, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  ::close(up[1]);
  ::close(down[0]);
  control_.reset(down[1]);
  pid_ = pid;
  std::string line;
  char ch;
  pollfd p{up[0], POLLIN, 0};
  while (::poll(&p, 1, 10000) > 0 && ::read(up[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
  ::close(up[0]);
  reply_ = kith::parseJson(line);
  if (reply_.is_discarded()) return Status::internal("workload child said: " + line);
  return Status::ok();
}

void WorkloadProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

void WorkloadProcess::exitNow() {
  if (pid_ <= 0) return;
  control_.reset();
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

}  // namespace kith::test
