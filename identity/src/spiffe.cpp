#include "kith/identity/spiffe.h"

namespace kith::identity {
namespace {

constexpr std::string_view kScheme = "spiffe://";

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Status validateSegment(std::string_view seg) {
  if (seg.empty()) return Status::badRequest("SPIFFE ID path has an empty segment");
  if (seg == "." || seg == "..") {
    return Status::badRequest("SPIFFE ID path segment " + quoted(seg) + " is not allowed");
  }
  for (char c : seg) {
    if (!(isAlnum(c) || c == '.' || c == '-' || c == '_')) {
      return Status::badRequest("SPIFFE ID path segment " + quoted(seg) +
                                " has a character outside [A-Za-z0-9._-]");
    }
  }
  return Status::ok();
}

}  // namespace

Status validateTrustDomain(std::string_view td) {
  if (td.empty()) return Status::badRequest("trust domain is empty");
  if (td.size() > kMaxTrustDomainLength) {
    return Status::badRequest("trust domain is longer than 255 characters");
  }
  for (char c : td) {
    if (!(isLowerAlnum(c) || c == '.' || c == '-' || c == '_')) {
      return Status::badRequest("trust domain " + quoted(td) +
                                " has a character outside [a-z0-9._-]");
    }
  }
  return Status::ok();
}

Status validateLabel(std::string_view label) {
  if (label.empty()) return Status::badRequest("address label is empty");
  if (label.size() > kMaxLabelLength) {
    return Status::badRequest("address label " + quoted(label) + " is longer than 63 characters");
  }
  for (char c : label) {
    if (!(isAlnum(c) || c == '-' || c == '_')) {
      return Status::badRequest("address label " + quoted(label) +
                                " has a character outside [A-Za-z0-9_-]");
    }
  }
  return Status::ok();
}

Status validateMachineName(std::string_view machine) {
  Status st = validateLabel(machine);
  if (!st) return Status::badRequest("machine name: " + st.message());
  return st;
}

std::string SpiffeId::toString() const {
  std::string out(kScheme);
  out += trustDomain;
  for (const auto& seg : path) {
    out.push_back('/');
    out += seg;
  }
  return out;
}

std::string SpiffeId::nodeMachine() const {
  if (path.size() == 2 && path[0] == kNodePathSegment) return path[1];
  return {};
}

Result<SpiffeId> parseSpiffeId(std::string_view id) {
  if (id.size() > kMaxSpiffeIdLength) {
    return Status::badRequest("SPIFFE ID is longer than 2048 characters");
  }
  if (id.substr(0, kScheme.size()) != kScheme) {
    return Status::badRequest("SPIFFE ID " + quoted(id) + " does not start with spiffe://");
  }
  std::string_view rest = id.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view td = rest.substr(0, slash);
  Status st = validateTrustDomain(td);
  if (!st) return Status::badRequest("SPIFFE ID " + quoted(id) + ": " + st.message());
  SpiffeId out;
  out.trustDomain = std::string(td);
  if (slash == std::string_view::npos) return out;
  std::string_view path = rest.substr(slash + 1);
  while (true) {
    size_t next = path.find('/');
    std::string_view seg = path.substr(0, next);
    st = validateSegment(seg);
    if (!st) return Status::badRequest("SPIFFE ID " + quoted(id) + ": " + st.message());
    out.path.emplace_back(seg);
    if (next == std::string_view::npos) break;
    path = path.substr(next + 1);
  }
  return out;
}

Result<std::string> spiffeIdFor(std::string_view trustDomain,
                                std::span<const std::string> labels) {
  KITH_RETURN_IF_ERROR(validateTrustDomain(trustDomain));
  if (labels.size() != kAddressLabels) {
    return Status::badRequest("an address has exactly 5 labels, got " +
                              std::to_string(labels.size()));
  }
  SpiffeId id{std::string(trustDomain), {}};
  for (const auto& l : labels) {
    KITH_RETURN_IF_ERROR(validateLabel(l));
    id.path.push_back(l);
  }
  return id.toString();
}

Result<std::string> spiffeIdForAddress(std::string_view trustDomain, std::string_view address) {
  std::vector<std::string> labels;
  while (true) {
    size_t dot = address.find('.');
    labels.emplace_back(address.substr(0, dot));
    if (dot == std::string_view::npos) break;
    address = address.substr(dot + 1);
  }
  return spiffeIdFor(trustDomain, labels);
}

Result<std::string> nodeSpiffeId(std::string_view trustDomain, std::string_view machine) {
  KITH_RETURN_IF_ERROR(validateTrustDomain(trustDomain));
  KITH_RETURN_IF_ERROR(validateMachineName(machine));
  return SpiffeId{std::string(trustDomain), {std::string(kNodePathSegment), std::string(machine)}}
      .toString();
}

Result<std::string> trustDomainSpiffeId(std::string_view trustDomain) {
  KITH_RETURN_IF_ERROR(validateTrustDomain(trustDomain));
  return SpiffeId{std::string(trustDomain), {}}.toString();
}

}  // namespace kith::identity
