// libFuzzer target: the tunnel link's frame decoder and payload decoders —
// what a peer daemon sends after the TLS handshake (docs/TUNNELS.md). The
// first input byte picks how the rest is cut into reads, so frames split at
// every kind of boundary; each decoded frame's payload goes through the
// decoder its type uses in PeerLink.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kith/daemon/tunnel/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kith::daemon;
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 64;
  if (data[0] & 0x80) piece = 1 + static_cast<size_t>(data[0]) * 97;  // some big cuts too
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  FrameDecoder d;
  for (size_t off = 0; off < in.size(); off += piece) {
    kith::Status st = d.feed(in.substr(off, piece), [](const Frame& f) {
      switch (f.type) {
        case FrameType::kOpen: (void)decodeOpen(f.payload); break;
        case FrameType::kOpenErr: (void)decodeOpenErr(f.payload); break;
        case FrameType::kOpenOk:
        case FrameType::kWindow: (void)decodeU32(f.payload); break;
        case FrameType::kPing:
        case FrameType::kPong: (void)decodeU64(f.payload); break;
        default: break;
      }
      return true;
    });
    if (!st.isOk()) break;  // a broken link is closed
  }
  return 0;
}
