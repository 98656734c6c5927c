// libFuzzer target: the socket API's request framing and parsing, as the
// daemon runs them on every byte a client sends (LineBuffer -> parseRequest).
// The first input byte picks the read sizes, so line splits across reads are
// explored too. Invariants: nothing crashes; an accepted request has a string
// "op"; its reply line parses back as JSON with the same id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kith/common/json.h"
#include "kith/socket-api/line_buffer.h"
#include "kith/socket-api/protocol.h"

using namespace kith;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = (data[0] % 64) + 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  // A small line limit reaches the oversize paths with small inputs.
  api::LineBuffer lb(data[0] & 0x80 ? 256 : api::kMaxLineBytes);
  for (size_t off = 0; off < in.size(); off += chunk) {
    lb.append(in.substr(off, chunk));
    api::LineBuffer::Item item;
    while (lb.next(&item)) {
      if (item.kind != api::LineBuffer::Kind::kLine) continue;
      (void)api::jsonDepthWithin(item.line, api::kMaxDepth);
      auto req = api::parseRequest(item.line);
      if (!req.isOk()) {
        // The error reply must still be one valid line.
        std::string line = api::toLine(api::errorReply(nullptr, req.status()));
        if (!nlohmann::json::accept(line)) std::abort();
        continue;
      }
      if (!(*req)["op"].is_string()) std::abort();
      nlohmann::json id = req->contains("id") ? (*req)["id"] : nlohmann::json(nullptr);
      std::string line = api::toLine(api::okReply(id));
      auto back = parseJson(line);
      if (back.is_discarded() || back["id"] != id) std::abort();
    }
  }
  return 0;
}
