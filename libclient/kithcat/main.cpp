// kithcat — netcat for kith: listen as a named workload, or connect to one.
//
//   kithcat -l NAME [-k] [-u] [--allow PATTERN]... [-e CMD]
//   kithcat --as NAME [-u] [--mode fd|path] DEST
//   kithcat --as NAME --svid DIR [--follow]
//
// Exit status: 0 success, 1 the daemon refused (its error code on stderr) or
// an I/O failure, 2 usage. See kithcat(1).
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kith/kith.hpp"
#include "pump.h"
#include "svid_files.h"

namespace kith::kithcat {
namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

struct Options {
  std::string listenName;
  std::string asName;
  std::string dest;
  std::string exec;
  std::string socket;
  std::string mode = "fd";
  std::string svidDir;
  bool follow = false;
  std::vector<std::string> allow;
  std::string target;
  bool proxy = false;
  bool keep = false;
  bool udp = false;
  bool verbose = false;
};

void say(const std::string& msg) { std::fprintf(stderr, "kithcat: %s\n", msg.c_str()); }

int refused(const kith::Error& e) {
  std::string msg = e.code() + ": " + e.message();
  if (e.status() == KITH_IO && e.message().find("cannot connect to") != std::string::npos) {
    msg += " (is kithd running? see --socket and $KITH_SOCKET)";
  }
  say(msg);
  return kExitRefused;
}

// Runs CMD through /bin/sh -c with the stream as its stdin and stdout.
pid_t spawn(const std::string& cmd, int stream) {
  pid_t pid = fork();
  if (pid != 0) return pid;  // parent (or -1)
  signal(SIGPIPE, SIG_DFL);
  if (dup2(stream, STDIN_FILENO) < 0 || dup2(stream, STDOUT_FILENO) < 0) _exit(127);
  if (stream > STDERR_FILENO) close(stream);
  execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

void reapChildren() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// Returns the exit status for one finished stream (0, or 1 on I/O errors).
int pipeStream(int stream, PumpState* state) {
  std::string error;
  switch (pump(stream, STDIN_FILENO, STDOUT_FILENO, state, &error)) {
    case PumpEnd::kDone:
    case PumpEnd::kOutClosed:
      return 0;
    case PumpEnd::kError:
      say(error);
      return kExitRefused;
  }
  return 0;
}

int listenMode(const Options& o) {
  Client client = Client::open(o.socket);
  RegisterOptions reg;
  reg.name = o.listenName;
  reg.whitelist = o.allow;
  if (o.udp) reg.protocols = {"udp"};
  reg.target = o.target;
  reg.proxyProtocol = o.proxy;
  Registration r = client.registerAs(reg);
  if (o.verbose) say("registered " + r.address + " (" + r.spiffeId + ")");
  if (!o.target.empty()) {
    // An unmodified server: the daemon dials the target for every stream.
    // This process only holds the registration (the lease lives while it
    // runs); it ends with a signal.
    say("registered " + r.address + " -> " + o.target + "; holding the registration until stopped");
    for (;;) ::pause();
  }
  client.listen();
  if (o.verbose) say("listening");

  PumpState state;
  int status = 0;
  for (;;) {
    // With -k -e, children run concurrently; wake up now and then to reap them.
    std::optional<Incoming> in = client.accept(o.keep && !o.exec.empty() ? 1000 : -1);
    reapChildren();
    if (!in) continue;
    if (o.verbose) {
      say("stream " + std::to_string(in->stream) + " from " + in->source + " (" + in->spiffeId +
          ", " + in->proto + ")");
    }
    if (!o.exec.empty()) {
      pid_t pid = spawn(o.exec, in->fd.get());
      if (pid < 0) {
        say(std::string("fork: ") + std::strerror(errno));
        return kExitRefused;
      }
      in->fd.reset();  // the child holds the stream now
      if (!o.keep) {
        int ws = 0;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        return 0;
      }
    } else {
      status = pipeStream(in->fd.get(), &state);
      if (!o.keep) return status;
    }
  }
}

// Connects to the one-shot socket the daemon made for a path-mode connect.
OwnedFd connectPath(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw kith::Error(KITH_IO, "IO", "stream path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw kith::Error(KITH_IO, "IO", std::string("socket: ") + std::strerror(errno));
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    throw kith::Error(KITH_IO, "IO",
                      "cannot connect to " + path + ": " + std::strerror(errno));
  }
  return fd;
}

int connectMode(const Options& o) {
  Client client = Client::open(o.socket);
  RegisterOptions reg;
  reg.name = o.asName;
  if (o.udp) reg.protocols = {"udp"};
  Registration r = client.registerAs(reg);
  if (o.verbose) say("registered " + r.address + " (" + r.spiffeId + ")");
  ConnectOptions copts;
  copts.proto = o.udp ? "udp" : "tcp";
  copts.mode = o.mode == "path" ? KITH_CONNECT_PATH : KITH_CONNECT_FD;
  Connection c = client.connect(o.dest, copts);
  if (o.verbose) say("connected to " + c.destination + " (" + c.spiffeId + ")");
  OwnedFd stream = copts.mode == KITH_CONNECT_PATH ? connectPath(c.path) : std::move(c.fd);
  PumpState state;
  // The client stays open while the stream runs: it holds our registration.
  return pipeStream(stream.get(), &state);
}

// --as NAME --svid DIR: register, fetch the SVID, write it; with --follow keep
// the registration and rewrite the files at every rotation.
int svidMode(const Options& o) {
  Client client = Client::open(o.socket);
  RegisterOptions reg;
  reg.name = o.asName;
  Registration r = client.registerAs(reg);
  if (o.verbose) say("registered " + r.address + " (" + r.spiffeId + ")");
  Svid svid = client.svid(o.follow);
  for (;;) {
    if (std::string e = writeSvidFiles(o.svidDir, svid); !e.empty()) {
      say(e);
      return kExitRefused;
    }
    std::printf("%s %s/svid.pem expires_at=%lld rotate_at=%lld\n", svid.spiffeId.c_str(), o.svidDir.c_str(),
                static_cast<long long>(svid.expiresAt), static_cast<long long>(svid.rotateAt));
    std::fflush(stdout);
    if (!o.follow) return 0;
    std::optional<Event> ev;
    do {
      ev = client.nextEvent(-1);
    } while (!ev || ev->type != "svid");
    svid = client.svidFromEvent(*ev);
  }
}

}  // namespace

int run(int argc, char** argv) {
  Options o;
  CLI::App app{"kithcat - pipe bytes to and from kith workloads", "kithcat"};
  app.footer(
      "Examples:\n"
      "  kithcat -l dev.echo.e1.default -e cat --allow 'dev.*.*.*.*'\n"
      "  echo hi | kithcat --as dev.cli.c1.default dev.echo.e1.default.node1\n"
      "\nExit status: 0 success, 1 refused (error code on stderr), 2 usage.");
  app.set_version_flag("--version", "kithcat " KITH_VERSION);
  auto* listen = app.add_option("-l,--listen", o.listenName,
                                "Listen as the workload NAME (scope.group.identity.resource)")
                     ->type_name("NAME");
  auto* as = app.add_option("--as", o.asName,
                            "Connect as the workload NAME (scope.group.identity.resource)")
                 ->type_name("NAME");
  auto* keep = app.add_flag("-k,--keep-open", o.keep,
                            "With -l: keep listening after a stream ends");
  app.add_flag("-u,--udp", o.udp, "Use UDP (proto \"udp\") instead of TCP");
  auto* allow = app.add_option("--allow", o.allow,
                               "With -l: a pattern allowed to connect (repeatable)")
                    ->type_name("PATTERN")
                    ->allow_extra_args(false);
  auto* target = app.add_option("-t,--target", o.target,
                                "With -l: register TARGET (unix:/path or tcp:127.0.0.1:PORT) for an unmodified "
                                "server the daemon dials, and hold the registration until stopped")
                     ->type_name("TARGET");
  app.add_flag("--proxy-protocol", o.proxy, "With --target: send a PROXY v2 header naming the caller first");
  auto* exec = app.add_option("-e,--exec", o.exec,
                              "With -l: run CMD (via /bin/sh -c) on each stream")
                   ->type_name("CMD");
  auto* mode = app.add_option("--mode", o.mode, "With --as: how the stream is handed over")
                   ->check(CLI::IsMember({"fd", "path"}))
                   ->type_name("fd|path");
  auto* dest = app.add_option("DEST", o.dest, "With --as: address or pattern to connect to");
  auto* svid = app.add_option("--svid", o.svidDir,
                              "With --as: write the workload's X.509-SVID to DIR (svid.pem, svid.key, "
                              "bundle.pem) instead of connecting")
                   ->type_name("DIR");
  auto* follow = app.add_flag("--follow", o.follow,
                              "With --svid: stay registered and rewrite the files at every rotation");
  svid->excludes(dest);
  svid->needs(as);
  follow->needs(svid);
  app.add_option("--socket", o.socket, "The daemon's api.sock (default: $KITH_SOCKET, "
                                       "$KITH_HOME/run/api.sock, /run/kith/api.sock)")
      ->type_name("PATH");
  app.add_flag("-v,--verbose", o.verbose, "Say what happens on stderr (caller addresses)");
  listen->excludes(as);
  for (auto* opt : {keep, allow, exec, target}) opt->needs(listen);
  target->excludes(exec);
  for (auto* opt : {mode, dest}) opt->needs(as);

  try {
    app.parse(argc, argv);
    if (o.listenName.empty() && o.asName.empty()) {
      throw CLI::ValidationError("one of -l NAME or --as NAME is required");
    }
    if (!o.asName.empty() && o.dest.empty() && o.svidDir.empty()) {
      throw CLI::ValidationError("DEST", "--as needs a destination DEST");
    }
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  // A closed stdout or stream is an error return, never a signal.
  signal(SIGPIPE, SIG_IGN);
  try {
    if (!o.svidDir.empty()) return svidMode(o);
    return o.listenName.empty() ? connectMode(o) : listenMode(o);
  } catch (const kith::Error& e) {
    return refused(e);
  } catch (const std::exception& e) {
    say(e.what());
    return kExitRefused;
  }
}

}  // namespace kith::kithcat

int main(int argc, char** argv) { return kith::kithcat::run(argc, argv); }
