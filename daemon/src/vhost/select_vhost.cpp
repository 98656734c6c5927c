#include "kith/daemon/vhost/select_vhost.h"

#include <algorithm>
#include <string>

namespace kith::daemon {

SelectVhost parseSelectVhost(std::string_view in) {
  SelectVhost out;
  if (in.empty()) return out;
  size_t n = std::min(in.size(), kSelectVhost.size());
  if (in.substr(0, n) != kSelectVhost.substr(0, n)) {
    out.kind = SelectVhost::Kind::kAbsent;
    return out;
  }
  size_t nl = in.find('\n');
  if (nl == std::string_view::npos || nl >= kMaxSelectVhostLine) {
    if (in.size() < kMaxSelectVhostLine) return out;  // more may come
    out.kind = SelectVhost::Kind::kInvalid;
    out.error = Status::badRequest("SELECT-VHOST line too long");
    return out;
  }
  // (A newline inside the keyword made it application data above.)
  std::string_view arg = in.substr(kSelectVhost.size(), nl - kSelectVhost.size());
  if (!arg.empty() && arg.back() == '\r') arg.remove_suffix(1);
  auto hid = identity::HostId::parse(arg);
  if (!hid.isOk()) {
    out.kind = SelectVhost::Kind::kInvalid;
    out.error = Status::badRequest("SELECT-VHOST: " + hid.status().message());
    return out;
  }
  out.kind = SelectVhost::Kind::kSelected;
  out.hostId = *hid;
  out.consumed = nl + 1;
  return out;
}

}  // namespace kith::daemon
