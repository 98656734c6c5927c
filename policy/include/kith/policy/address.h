// Address: the five-label name of a workload,
// `<scope>.<app group>.<app identity>.<resource group>.<machine>`,
// e.g. `dev.nginxServers.nginx123.default.node1`.
//
// Each label is 1..63 characters from [A-Za-z0-9_-]. Labels compare byte-exact
// (case-sensitive), like SPIFFE ID paths. The last label is always the machine
// name of the daemon that registered the workload: a daemon may only speak for
// addresses that end in its own machine name (see fromName).
//
// An Address is a small immutable value (one string plus label offsets); copy it
// freely. Accessors return views into the Address and stay valid as long as it
// does. Thread-compatible: const use from any thread.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "kith/common/status.h"

namespace kith::policy {

inline constexpr size_t kAddressLabels = 5;
inline constexpr size_t kMaxLabelLength = 63;
// 5 labels of 63 characters and 4 dots.
inline constexpr size_t kMaxAddressLength = kAddressLabels * kMaxLabelLength + kAddressLabels - 1;

// Label positions, for code that indexes labels().
enum LabelIndex : size_t { kScope = 0, kGroup = 1, kIdentity = 2, kResource = 3, kMachine = 4 };

// True iff `c` may appear in a label: [A-Za-z0-9_-].
constexpr bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

// Checks one label (1..63 characters of [A-Za-z0-9_-]). `position` is the 1-based
// label number used in the message ("label 2 'x y' has a character outside
// [A-Za-z0-9_-]"). Errors are Code::kBadRequest.
Status validateLabel(std::string_view label, size_t position);

class Address {
 public:
  // Parses exactly five dot-separated labels. Errors (Code::kBadRequest) name the
  // problem: "address 'a.b.c' has 3 labels; expected 5
  // (scope.group.identity.resource.machine)", "label 2 'x y' has a character
  // outside [A-Za-z0-9_-] (in address 'a.x y.c.d.e')", an empty or too long label.
  static Result<Address> parse(std::string_view text);

  // The address a workload registering as `name` gets on daemon `machine`.
  // `name` has four labels (scope.group.identity.resource; the machine label is
  // appended) or five, in which case the fifth must equal `machine`: anything
  // else is Code::kUnauthorized ("a daemon may only speak for addresses that end
  // in its own machine name"). Malformed input is Code::kBadRequest.
  static Result<Address> fromName(std::string_view name, std::string_view machine);

  std::string_view scope() const { return label(kScope); }
  std::string_view group() const { return label(kGroup); }
  std::string_view identity() const { return label(kIdentity); }
  std::string_view resource() const { return label(kResource); }
  std::string_view machine() const { return label(kMachine); }
  // Label `i` (0 = scope ... 4 = machine).
  std::string_view label(size_t i) const {
    return std::string_view(text_).substr(offset_[i], length_[i]);
  }
  std::array<std::string_view, kAddressLabels> labels() const;
  // The canonical text form, "scope.group.identity.resource.machine".
  const std::string& str() const { return text_; }

  friend bool operator==(const Address& a, const Address& b) { return a.text_ == b.text_; }
  friend std::strong_ordering operator<=>(const Address& a, const Address& b) {
    return a.text_ <=> b.text_;
  }

 private:
  Address() = default;

  std::string text_;
  std::array<uint16_t, kAddressLabels> offset_{};
  std::array<uint8_t, kAddressLabels> length_{};
};

// For messages: `text` single-quoted, with bytes outside printable ASCII shown as
// \xNN and anything past `maxBytes` elided, so untrusted input cannot forge log
// lines or flood them.
std::string quoteForMessage(std::string_view text, size_t maxBytes = 96);

}  // namespace kith::policy

template <>
struct std::hash<kith::policy::Address> {
  size_t operator()(const kith::policy::Address& a) const noexcept {
    return std::hash<std::string>{}(a.str());
  }
};
