#include "kith/daemon/vhost/vhost_route.h"

#include <fcntl.h>

#include "kith/common/log.h"

namespace kith::daemon {
namespace {
constexpr const char* kMod = "vhost";
}  // namespace

MeshVhostRoute::MeshVhostRoute(Loop& loop, Registry& registry, LocalBroker& broker, std::string name)
    : loop_(loop), broker_(broker), self_(loop, registry, std::move(name), "kithd-vhost") {}

MeshVhostRoute::~MeshVhostRoute() { *alive_ = false; }

void MeshVhostRoute::start() {
  self_.start([this] { log::info(kMod, "vhost listener registered", {{"as", self_.address()}}); }, nullptr);
}

void MeshVhostRoute::open(const std::string& destination, const VhostStreamSource& source, int64_t timeoutMs,
                          Done done) {
  // Every answer is posted: the broker may answer before connect returns,
  // and the listener must never be called back from inside open().
  std::weak_ptr<bool> alive = alive_;
  Loop* loop = &loop_;  // outlives the route; `this` may not outlive the broker's answer
  auto answer = [loop, alive, done = std::move(done)](Status st, UniqueFd fd) {
    auto held = std::make_shared<UniqueFd>(std::move(fd));
    loop->post([alive, done, st = std::move(st), held] {
      if (alive.expired()) return;  // dropped; the stream closes with `held`
      done(st, std::move(*held));
    });
  };
  const Registration* self = self_.registration();
  if (self == nullptr) {
    return answer(Status(Code::kCannotConnect, "the vhost listener's workload " + self_.name() +
                                                   " is not registered yet"),
                  UniqueFd());
  }
  ConnectRequest req;
  req.destination = destination;
  req.timeoutMs = timeoutMs;
  req.raw = true;  // the listener writes the PROXY header itself
  log::debug(kMod, "opening backend",
             {{"conn", source.name}, {"identity", source.identity}, {"as", self->row.address}, {"dst", destination}});
  broker_.connect(*self, self_.uid(), std::move(req), [answer](Status st, ConnectResult res) mutable {
    // The caller's end comes blocking, as from socket(2).
    if (res.callerEnd) {
      int fl = ::fcntl(res.callerEnd.get(), F_GETFL);
      if (fl >= 0) ::fcntl(res.callerEnd.get(), F_SETFL, fl | O_NONBLOCK);
    }
    answer(std::move(st), std::move(res.callerEnd));
  });
}

}  // namespace kith::daemon
