#include "kith/policy/address.h"

#include <cstdio>

namespace kith::policy {
namespace {

constexpr std::string_view kSchema = "scope.group.identity.resource.machine";

size_t countLabels(std::string_view text) {
  size_t n = 1;
  for (char c : text) n += (c == '.');
  return n;
}

}  // namespace

std::string quoteForMessage(std::string_view text, size_t maxBytes) {
  std::string out = "'";
  size_t n = text.size() < maxBytes ? text.size() : maxBytes;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (n < text.size()) out += "...";
  out += "'";
  return out;
}

Status validateLabel(std::string_view label, size_t position) {
  std::string pos = std::to_string(position);
  if (label.empty()) return Status::badRequest("label " + pos + " is empty");
  if (label.size() > kMaxLabelLength) {
    return Status::badRequest("label " + pos + " " + quoteForMessage(label) + " is " +
                              std::to_string(label.size()) + " characters; at most " +
                              std::to_string(kMaxLabelLength));
  }
  for (char c : label) {
    if (!isLabelChar(c)) {
      return Status::badRequest("label " + pos + " " + quoteForMessage(label) +
                                " has a character outside [A-Za-z0-9_-]");
    }
  }
  return Status::ok();
}

Result<Address> Address::parse(std::string_view text) {
  if (text.empty()) {
    return Status::badRequest("address is empty; expected 5 labels (" + std::string(kSchema) +
                              ")");
  }
  size_t n = countLabels(text);
  if (n != kAddressLabels) {
    return Status::badRequest("address " + quoteForMessage(text) + " has " + std::to_string(n) +
                              " labels; expected 5 (" + std::string(kSchema) + ")");
  }
  // With five labels each checked to be <= 63 bytes the total is bounded, so the
  // uint16_t offsets below cannot overflow.
  Address a;
  size_t start = 0;
  for (size_t i = 0; i < kAddressLabels; ++i) {
    size_t end = text.find('.', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view label = text.substr(start, end - start);
    Status st = validateLabel(label, i + 1);
    if (!st.isOk()) {
      return Status::badRequest(st.message() + " (in address " + quoteForMessage(text) + ")");
    }
    a.offset_[i] = static_cast<uint16_t>(start);
    a.length_[i] = static_cast<uint8_t>(label.size());
    start = end + 1;
  }
  a.text_ = std::string(text);
  return a;
}

Result<Address> Address::fromName(std::string_view name, std::string_view machine) {
  Status st = validateLabel(machine, kAddressLabels);
  if (!st.isOk()) return Status::badRequest("machine name: " + st.message());
  size_t n = name.empty() ? 0 : countLabels(name);
  if (n == kAddressLabels - 1) {
    std::string full(name);
    full += '.';
    full += machine;
    return parse(full);
  }
  if (n != kAddressLabels) {
    return Status::badRequest("name " + quoteForMessage(name) + " has " + std::to_string(n) +
                              " labels; expected 4 (scope.group.identity.resource) or 5 "
                              "ending in this machine's name");
  }
  auto a = parse(name);
  if (!a.isOk()) return a.status();
  if (a->machine() != machine) {
    return Status(Code::kUnauthorized,
                  "address " + quoteForMessage(name) + " ends in machine " +
                      quoteForMessage(a->machine()) + ", not " + quoteForMessage(machine) +
                      ": a daemon may only speak for addresses that end in its own machine name");
  }
  return a;
}

std::array<std::string_view, kAddressLabels> Address::labels() const {
  std::array<std::string_view, kAddressLabels> out;
  for (size_t i = 0; i < kAddressLabels; ++i) out[i] = label(i);
  return out;
}

}  // namespace kith::policy
