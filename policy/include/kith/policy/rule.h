// Rule: one operator `[[allow]]` or `[[deny]]` entry of a policy file, and Proto.
//
// A rule matches a connection (src, dst, proto, port) iff `from` matches src,
// `to` matches dst, proto is in `protos`, and either the rule has no ports or the
// connection's destination port is known and listed. A destination port is known
// only for workloads registered with a tcp:/udp: target, so a rule with `port`
// never matches a connection to a workload that listens through libkith.
//
// Rules are plain values owned by the Policy that compiled them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/policy/address.h"
#include "kith/policy/pattern.h"

namespace kith::policy {

enum class Proto : uint8_t { kTcp = 1, kUdp = 2 };

// "tcp" / "udp".
std::string_view protoName(Proto p);
// Parses "tcp" / "udp" (lowercase only); std::nullopt otherwise.
std::optional<Proto> parseProto(std::string_view s);

// A set of protocols as a bitmask of Proto values.
using ProtoSet = uint8_t;
inline constexpr ProtoSet kAllProtos = static_cast<ProtoSet>(Proto::kTcp) |
                                       static_cast<ProtoSet>(Proto::kUdp);
constexpr bool contains(ProtoSet set, Proto p) { return (set & static_cast<ProtoSet>(p)) != 0; }
// "tcp", "udp" or "tcp, udp".
std::string protoSetName(ProtoSet set);

struct Rule {
  enum class Action : uint8_t { kAllow, kDeny };

  Action action = Action::kAllow;
  Pattern from;
  Pattern to;
  ProtoSet protos = kAllProtos;
  std::vector<uint16_t> ports;  // empty = any port (including unknown)
  bool crossScope = false;      // allow rules only: may connect different scopes
  std::string name;             // optional, unique within a policy
  std::string comment;
  uint32_t line = 0;            // line of the [[allow]]/[[deny]] header; 0 if built in code
  uint32_t ordinal = 0;         // 1-based position among rules of the same action

  bool matchesAddresses(const Address& src, const Address& dst) const {
    return from.matches(src) && to.matches(dst);
  }
  bool matchesPort(std::optional<uint16_t> port) const;
  bool matches(const Address& src, const Address& dst, Proto proto,
               std::optional<uint16_t> port) const {
    return contains(protos, proto) && matchesPort(port) && matchesAddresses(src, dst);
  }
  // `name` if set, else "[[allow]] #3" / "[[deny]] #1".
  std::string displayName() const;
};

}  // namespace kith::policy
