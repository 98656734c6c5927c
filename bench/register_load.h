// registerLoad: durable registrations as fast as the daemon acknowledges them.
//
// Opens `connections` API connections from this process and registers `total`
// distinct names (`bench.<group>.c<conn>n<i>.default`), split evenly, each
// connection keeping up to `window` requests in flight (pipelined; the daemon
// answers in order and stops reading a connection at 256 outstanding replies).
// One thread polls every connection; request lines are preformatted and replies
// are checked with a substring test, so the driver spends little of the
// machine's two cores. New requests stop at `budgetMs`; replies already asked
// for are awaited up to 5 s more, so the phase is bounded in count and time.
//
// The connections are handed to `keep` when it is non-null: the registrations
// are leases that live while this process lives and their connection stays open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api_client.h"

namespace kith::bench {

struct LoadResult {
  int64_t acked = 0;    // ok replies
  int64_t failed = 0;   // error replies, or requests never answered
  double seconds = 0;   // first request to last reply
  std::vector<double> latencyUs;  // per request, line queued to reply read
  std::string firstError;         // error code and context of the first failure
  double perSecond() const { return seconds > 0 ? static_cast<double>(acked) / seconds : 0; }
};

LoadResult registerLoad(const std::string& socket, int connections, int64_t total, int window,
                        int budgetMs, const std::string& group, std::vector<ApiClient>* keep);

}  // namespace kith::bench
