// libFuzzer target: the PROXY protocol v2 parser (the vhost listener and
// target servers read it from untrusted peers). Invariants: nothing crashes;
// an accepted header consumed no more than it was given, and re-encoding it
// gives bytes that parse to the same header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kith/socket-api/proxy_header.h"

using namespace kith;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t consumed = 0;
  auto h = api::parseProxyHeader(in, &consumed);
  if (!h.isOk()) return 0;
  if (consumed > size) std::abort();
  auto enc = api::encodeProxyHeader(*h);
  if (!enc.isOk()) return 0;  // e.g. TLVs that only fit the input's own framing
  size_t c2 = 0;
  auto back = api::parseProxyHeader(*enc, &c2);
  if (!back.isOk() || c2 != enc->size()) std::abort();
  if (back->local != h->local || back->family != h->family || back->srcAddr != h->srcAddr ||
      back->dstAddr != h->dstAddr || back->srcPort != h->srcPort || back->dstPort != h->dstPort ||
      back->tlvs.size() != h->tlvs.size()) {
    std::abort();
  }
  return 0;
}
