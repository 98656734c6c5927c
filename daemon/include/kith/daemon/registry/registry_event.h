// RegistryEvent: a registration began or ended — on this machine (the
// Registry's own), or on another one (told by the replication glue from a
// verified srv or gone record). The Registry hands these to its watchers as
// typed values; JSON is made only at the socket API's edge (`watch` events).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kith::daemon {

// Why a registration ended. The names are the socket API's and the `gone`
// record's vocabulary ("exit", "expired", "deregister", "replaced").
enum class EndReason : uint8_t { kExit, kExpired, kDeregister, kReplaced };
const char* endReasonName(EndReason r);
std::optional<EndReason> endReasonFromName(std::string_view name);

struct RegistryEvent {
  enum class Kind : uint8_t { kRegister, kDeregister };
  Kind kind = Kind::kRegister;
  std::string address;
  std::string machine;      // "" = this machine
  std::string spiffeId;     // kRegister
  EndReason reason = EndReason::kDeregister;  // kDeregister
  int64_t ts = 0;           // µs since the epoch, when this daemon learned it

  bool local() const { return machine.empty(); }
  bool isRegister() const { return kind == Kind::kRegister; }
};

}  // namespace kith::daemon
