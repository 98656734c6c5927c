// The SELECT-VHOST preamble: a client of the vhost listener that cannot say
// which host it wants with SNI or a client certificate (a logged-out FOKS
// client) may send one line first, `SELECT-VHOST <hostid>\n` (CR LF allowed),
// before its application data. parseSelectVhost() decides, from the bytes
// received so far, whether that line is there, still coming, absent (the
// bytes are application data) or malformed. Pure; the input is untrusted.
#pragma once

#include <cstddef>
#include <string_view>

#include "kith/common/status.h"
#include "kith/identity/host_id.h"

namespace kith::daemon {

inline constexpr std::string_view kSelectVhost = "SELECT-VHOST ";
// A preamble line longer than this (newline included) is refused.
inline constexpr size_t kMaxSelectVhostLine = 256;

struct SelectVhost {
  enum class Kind {
    kNeedMore,  // what came so far could still be a SELECT-VHOST line
    kAbsent,    // application data: no preamble
    kSelected,  // hostId names the host; `consumed` bytes were the line
    kInvalid,   // a SELECT-VHOST line that is too long or names no HostID
  };
  Kind kind = Kind::kNeedMore;
  identity::HostId hostId;
  size_t consumed = 0;
  Status error;  // kInvalid: why (BAD_REQUEST)
};

SelectVhost parseSelectVhost(std::string_view received);

}  // namespace kith::daemon
