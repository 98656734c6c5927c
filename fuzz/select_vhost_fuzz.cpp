// libFuzzer target: the SELECT-VHOST preamble a vhost client may send before
// its application data (daemon/select_vhost.h), fed every prefix of the
// input as the listener would see it arrive.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kith/daemon/vhost/select_vhost.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (size_t n = 0; n <= in.size() && n <= 2 * kith::daemon::kMaxSelectVhostLine; ++n) {
    auto s = kith::daemon::parseSelectVhost(in.substr(0, n));
    if (s.kind == kith::daemon::SelectVhost::Kind::kSelected && s.consumed > n) __builtin_trap();
    if (s.kind != kith::daemon::SelectVhost::Kind::kNeedMore) break;
  }
  return 0;
}
