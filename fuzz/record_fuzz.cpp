// libFuzzer target: the replication record parser (RAINS short assertions),
// which reads every line a peer sends. Invariants: nothing crashes; a record
// parseSigned accepts passes validate() and survives a print/parse round trip
// unchanged; the same holds for the unsigned form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kith/replication/record.h"

using namespace kith;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = replication::parseSigned(line);
  if (r.isOk()) {
    if (!replication::validate(*r).isOk()) std::abort();
    auto again = replication::parseSigned(replication::signedLine(*r));
    if (!again.isOk() || !again->sameAs(*r)) std::abort();
  }
  auto u = replication::parseUnsigned(line);
  if (u.isOk()) {
    if (!replication::validate(*u).isOk()) std::abort();
    auto again = replication::parseUnsigned(replication::unsignedForm(*u));
    if (!again.isOk() || replication::unsignedForm(*again) != replication::unsignedForm(*u)) std::abort();
  }
  return 0;
}
