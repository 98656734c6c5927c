// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram
// to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" in the
// abstract namespace). kithd sends READY=1 once its sockets serve and
// STOPPING=1 when it drains, so the unit can be Type=notify. Without
// $NOTIFY_SOCKET it does nothing. Any thread; never blocks.
#pragma once

#include <string_view>

namespace kith::daemon {

// Sends `state` (e.g. "READY=1\nSTATUS=serving"); false if $NOTIFY_SOCKET is
// unset or the datagram could not be sent (never fatal).
bool sdNotify(std::string_view state);

}  // namespace kith::daemon
