#include "register_load.h"

#include <poll.h>

#include <chrono>
#include <deque>
#include <optional>

namespace kith::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kDrain = std::chrono::seconds(5);

struct Conn {
  explicit Conn(ApiClient c) : client(std::move(c)) {}
  ApiClient client;
  int index = 0;
  int64_t quota = 0;
  int64_t sent = 0;
  int64_t answered = 0;
  std::deque<Clock::time_point> inflight;
  std::string out;
  size_t outOff = 0;
  bool dead = false;
};

}  // namespace

LoadResult registerLoad(const std::string& socket, int connections, int64_t total, int window,
                        int budgetMs, const std::string& group, std::vector<ApiClient>* keep) {
  LoadResult res;
  std::vector<Conn> conns;
  for (int i = 0; i < connections; ++i) {
    auto c = ApiClient::connect(socket);
    if (!c.isOk()) {
      res.firstError = "connect: " + c.status().message();
      res.failed = total;
      return res;
    }
    Conn conn(std::move(c).value());
    conn.index = i;
    conn.quota = total / connections + (i < total % connections ? 1 : 0);
    conns.push_back(std::move(conn));
  }
  res.latencyUs.reserve(static_cast<size_t>(total));
  const std::string prefix = "bench." + group + ".c";
  std::vector<pollfd> pfds(conns.size());
  std::string line;

  auto start = Clock::now();
  auto deadline = start + std::chrono::milliseconds(budgetMs);
  Clock::time_point lastReply = start;
  for (;;) {
    auto now = Clock::now();
    bool sending = now < deadline;
    bool pending = false;
    for (auto& c : conns) {
      if (c.dead) continue;
      if (sending) {
        while (static_cast<int>(c.inflight.size()) < window && c.sent < c.quota) {
          int64_t id = c.sent + 1;
          c.out += registerLine(id, prefix + std::to_string(c.index) + "n" + std::to_string(c.sent) + ".default");
          c.inflight.push_back(now);
          ++c.sent;
        }
      }
      if (c.outOff < c.out.size()) {
        auto n = c.client.sendSome(std::string_view(c.out).substr(c.outOff));
        if (!n.isOk()) {
          c.dead = true;
          if (res.firstError.empty()) res.firstError = n.status().message();
          continue;
        }
        c.outOff += *n;
        if (c.outOff == c.out.size()) {
          c.out.clear();
          c.outOff = 0;
        }
      }
      if (!c.inflight.empty() || (sending && c.sent < c.quota)) pending = true;
    }
    if (!pending) break;
    if (!sending && now > deadline + kDrain) break;

    for (size_t i = 0; i < conns.size(); ++i) {
      short ev = conns[i].dead ? 0 : POLLIN;
      if (!conns[i].dead && conns[i].outOff < conns[i].out.size()) ev |= POLLOUT;
      pfds[i] = pollfd{conns[i].dead ? -1 : conns[i].client.fd(), ev, 0};
    }
    int r = ::poll(pfds.data(), pfds.size(), 50);
    if (r <= 0) continue;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = conns[i];
      Status st = c.client.readAvailable();
      auto got = Clock::now();
      while (c.client.nextLine(&line)) {
        if (c.inflight.empty()) continue;  // an event: none expected here
        res.latencyUs.push_back(std::chrono::duration<double, std::micro>(got - c.inflight.front()).count());
        c.inflight.pop_front();
        ++c.answered;
        lastReply = got;
        if (lineIsOk(line)) {
          ++res.acked;
        } else {
          ++res.failed;
          if (res.firstError.empty()) res.firstError = errorCodeOf(line) + ": " + line.substr(0, 300);
        }
      }
      if (!st.isOk()) {
        c.dead = true;
        if (res.firstError.empty()) res.firstError = st.message();
      }
    }
  }
  for (auto& c : conns) res.failed += static_cast<int64_t>(c.inflight.size());
  res.seconds = std::chrono::duration<double>(lastReply - start).count();
  if (keep) {
    for (auto& c : conns) keep->push_back(std::move(c.client));
  }
  return res;
}

}  // namespace kith::bench
