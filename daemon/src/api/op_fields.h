// Reading a request's typed fields inside an op (private to daemon/src/api/).
#pragma once

#include <utility>

#include "kith/common/status.h"
#include "kith/daemon/api/api_connection.h"

namespace kith::daemon {

// Moves a parsed field into `out`, or answers the request with its error
// (BAD_REQUEST naming the field) and returns false.
template <typename T>
bool take(Result<T> res, T* out, Reply& r) {
  if (!res.isOk()) {
    r.error(res.status());
    return false;
  }
  *out = std::move(res).value();
  return true;
}

}  // namespace kith::daemon
