// runTool: runs one of the built command-line tools (build/bin/kithcat,
// build/bin/kithctl) with arguments and standard input, and collects its exit
// status, standard output and standard error. The tools live in ../bin beside
// the directory of this test binary. Bounded: a tool still running after the
// deadline is killed and reported as status -1.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kith::testing {

struct ToolResult {
  int status = -1;  // exit status; -1 if killed by a signal or the deadline
  std::string out, err;
};

inline std::string toolPath(const std::string& tool) {
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "bin" / tool).string();
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline ToolResult runTool(const std::string& tool, const std::vector<std::string>& args,
                          const std::string& input = "", int timeoutMs = 10000) {
  char tmpl[] = "/tmp/kith-tool-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string in = dir + "/in", out = dir + "/out", err = dir + "/err";
  std::ofstream(in, std::ios::binary) << input;
  std::string exe = toolPath(tool);
  // Everything the child needs is built before fork: the fake daemon's thread
  // may hold the allocator's lock at that moment.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int i = open(in.c_str(), O_RDONLY);
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (i < 0 || o < 0 || e < 0) _exit(126);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  ToolResult r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  int ws = 0;
  for (;;) {
    pid_t got = waitpid(pid, &ws, WNOHANG);
    if (got == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &ws, 0);
      ws = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a child: no fd to wait on
  }
  if (ws != -1 && WIFEXITED(ws)) r.status = WEXITSTATUS(ws);
  r.out = slurp(out);
  r.err = slurp(err);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace kith::testing
