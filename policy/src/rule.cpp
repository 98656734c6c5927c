#include "kith/policy/rule.h"

#include <algorithm>

namespace kith::policy {

std::string_view protoName(Proto p) { return p == Proto::kTcp ? "tcp" : "udp"; }

std::optional<Proto> parseProto(std::string_view s) {
  if (s == "tcp") return Proto::kTcp;
  if (s == "udp") return Proto::kUdp;
  return std::nullopt;
}

std::string protoSetName(ProtoSet set) {
  std::string out;
  for (Proto p : {Proto::kTcp, Proto::kUdp}) {
    if (!contains(set, p)) continue;
    if (!out.empty()) out += ", ";
    out += protoName(p);
  }
  return out;
}

bool Rule::matchesPort(std::optional<uint16_t> port) const {
  if (ports.empty()) return true;
  return port.has_value() && std::find(ports.begin(), ports.end(), *port) != ports.end();
}

std::string Rule::displayName() const {
  if (!name.empty()) return name;
  return std::string(action == Action::kAllow ? "[[allow]] #" : "[[deny]] #") +
         std::to_string(ordinal);
}

}  // namespace kith::policy
