// Policy files: TOML text -> a compiled Policy, all or nothing.
//
// Format (kith-policy(5) is the reference):
//
//   audit = false                  # optional; true = denials allowed but marked
//   [[allow]]                      # any number, file order = report order
//   name = "web-to-db"             # optional, unique
//   comment = "..."                # optional
//   from = "dev.web.*.*.*"         # required pattern (source)
//   to = "dev.db.*.*.*"            # required pattern (destination)
//   proto = ["tcp"]                # optional: "tcp", "udp", or a list; default both
//   port = 5432                    # optional: destination port or list of ports
//   cross_scope = false            # optional, [[allow]] only
//   [[deny]]                       # same keys as [[allow]] except cross_scope
//   [[test]]                       # must all pass or the file is rejected
//   from = "dev.web.a.default.n1"  # required address
//   to = "dev.db.b.default.n2"     # required address
//   proto = "tcp"                  # optional, default tcp
//   port = 5432                    # optional
//   whitelist = ["dev.*.*.*.*"]    # optional: the destination's whitelist
//   expect = "allow"               # required: "allow" | "deny"
//   name = "..."                   # optional
//
// A file that does not parse, has an unknown key or a value of the wrong type,
// a bad pattern or address, a duplicate rule name, or a failing [[test]] is
// rejected whole: the Status (Code::kConfig) lists every problem found, one per
// line, as "<file>:<line>: <why>" (at most 20 lines). The caller keeps its old
// policy. Nothing throws: toml++ exceptions are caught here.
//
// Thread rules: pure functions; safe from any thread. Parse before swapping the
// snapshot in; not on the loop thread for large files (100,000 rules take one to
// two seconds and ~125 MiB of transient memory, toml++'s document tree).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kith/common/status.h"
#include "kith/policy/policy.h"

namespace kith::policy {

// Files larger than this are rejected without parsing.
inline constexpr size_t kMaxPolicyFileBytes = 64u << 20;

// Parses, compiles and runs the [[test]]s of policy `text`; `sourceName` (usually
// the path) prefixes every error and every decision's `where`.
Result<std::shared_ptr<const Policy>> parsePolicy(std::string_view text,
                                                  std::string_view sourceName);

// Reads `path` and calls parsePolicy. A missing file is an error here; a daemon
// with no policy file configured uses Policy::empty().
Result<std::shared_ptr<const Policy>> loadPolicyFile(const std::string& path);

}  // namespace kith::policy
