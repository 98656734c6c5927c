// Probe and beacon: the lookups a FOKS client makes before it talks to a host.
//
//   {"op":"probe","hostname":H}            -> the host named H
//   {"op":"probe","host_id":ID}            -> the host with that HostID
//   {"op":"probe","hostname":H,"host_id":ID} -> both must name the same host
//   {"op":"beacon","host_id":ID}           -> where that host is served
//
// A probe answers {"ok":true,"hostname","host_id","chain":[links],"zone":{...}}
// and, for a vhost, "primary":{"hostname","host_id","chain"} (its zone is
// signed by the primary's metadata key). A beacon answers
// {"ok":true,"host_id","hostname","port"}. Errors are
// {"ok":false,"error":{"code","message"}}: an unknown hostname or HostID is
// DESTINATION_NOT_FOUND — never a fallback to some other host — and a name and
// ID that disagree are UNAUTHORIZED.
//
// Served one request per TLS connection by the probe listener. Pure function
// of the host table; loop thread.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "kith/daemon/vhost/vhost_hosts.h"

namespace kith::daemon {

nlohmann::json answerProbe(const VhostHosts& hosts, const nlohmann::json& request, uint16_t userPort);

}  // namespace kith::daemon
