// The frames of a tunnel link between two daemons (docs/TUNNELS.md).
//
// A link is one TLS 1.3 connection that multiplexes many streams. Every frame
// is a 9-byte header followed by its payload:
//
//   type u8 | stream u32 (big endian) | length u32 (big endian) | payload
//
// Stream 0 is the link itself (PING/PONG). Streams opened by the daemon that
// dialled the link have odd ids, those opened by the accepting daemon even ids,
// so both sides open streams without coordination.
//
//   OPEN      JSON {"src","dst","proto","spiffe","window"[,"raw"]}: open a stream
//   OPEN_OK   u32 window: the opener may send that many DATA bytes
//   OPEN_ERR  JSON {"code","message"}: the stream is refused (socket-API codes)
//   DATA      bytes (TCP streams); counts against the receiver's window
//   WINDOW    u32 increment: the receiver took that many more bytes
//   FIN       no payload: the sender will send no more DATA (half close)
//   RST       UTF-8 reason (may be empty): the stream is gone, both ways
//   DGRAM     one datagram (UDP streams); never credited, dropped when full
//   PING/PONG u64 opaque: liveness and round-trip time of the link
//
// The decoder never trusts the peer: an unknown type or a payload above
// kMaxFramePayload fails the whole link (it cannot resynchronise).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kith/common/status.h"

namespace kith::daemon {

enum class FrameType : uint8_t {
  kOpen = 1,
  kOpenOk = 2,
  kOpenErr = 3,
  kData = 4,
  kWindow = 5,
  kFin = 6,
  kRst = 7,
  kDgram = 8,
  kPing = 9,
  kPong = 10,
};

const char* frameTypeName(FrameType t);

inline constexpr size_t kFrameHeaderBytes = 9;
// Big enough for a jumbo datagram (64 KiB) and a DATA chunk; small enough that
// one frame never pins much memory.
inline constexpr size_t kMaxFramePayload = 128 * 1024;

struct Frame {
  FrameType type = FrameType::kPing;
  uint32_t stream = 0;
  std::string_view payload;  // points into the decoder's input
};

// Appends one frame to `out`.
void appendFrame(std::string& out, FrameType type, uint32_t stream, std::string_view payload);
// Appends just a header; the caller appends `length` payload bytes after it.
void appendFrameHeader(std::string& out, FrameType type, uint32_t stream, uint32_t length);

// Decodes frames from a byte buffer. Feed it what the transport read; it calls
// `onFrame` for every complete frame and keeps what is left over for the next
// call. Payload views are valid only during the callback.
class FrameDecoder {
 public:
  // Returns an error (and decodes nothing more, ever) on a malformed frame.
  // `onFrame` returns false to stop decoding early (the link is going away);
  // the rest of the input is then dropped.
  template <typename F>
  Status feed(std::string_view data, F&& onFrame);

  size_t buffered() const { return carry_.size(); }

 private:
  // Decodes as many whole frames from `data` as there are; returns the bytes
  // consumed, or an error. Stops early when `stop` becomes true.
  template <typename F>
  Result<size_t> decodeSome(std::string_view data, F& onFrame, bool& stop);

  std::string carry_;  // a partial frame left from the previous feed
  Status broken_;
};

// Payloads.
struct OpenPayload {
  std::string src;     // five-label source address (ends in the sender's machine)
  std::string dst;     // five-label destination address
  std::string proto;   // "tcp" | "udp"
  std::string spiffe;  // the source's SPIFFE ID
  uint32_t window = 0;  // what the opener accepts before the first WINDOW
  // The opener's first bytes are its own PROXY v2 header: the receiver writes
  // none (whatever the destination's registration asks). Sent only when true;
  // a daemon that predates it ignores the key.
  bool raw = false;
};
std::string encodeOpen(const OpenPayload& p);
Result<OpenPayload> decodeOpen(std::string_view payload);

std::string encodeOpenErr(Code code, std::string_view message);
// The peer's refusal as a Status (an unknown code name becomes CANNOT_CONNECT).
Status decodeOpenErr(std::string_view payload);

std::string encodeU32(uint32_t v);
Result<uint32_t> decodeU32(std::string_view payload);
std::string encodeU64(uint64_t v);
Result<uint64_t> decodeU64(std::string_view payload);

// ---- implementation of the templates ----

namespace frame_detail {
Result<Frame> parseHeader(const char* p, size_t* payloadLen);
}  // namespace frame_detail

template <typename F>
Result<size_t> FrameDecoder::decodeSome(std::string_view data, F& onFrame, bool& stop) {
  size_t off = 0;
  while (!stop && data.size() - off >= kFrameHeaderBytes) {
    size_t len = 0;
    auto h = frame_detail::parseHeader(data.data() + off, &len);
    if (!h.isOk()) return h.status();
    if (data.size() - off - kFrameHeaderBytes < len) break;
    Frame f = *h;
    f.payload = data.substr(off + kFrameHeaderBytes, len);
    off += kFrameHeaderBytes + len;
    if (!onFrame(f)) stop = true;
  }
  return off;
}

template <typename F>
Status FrameDecoder::feed(std::string_view data, F&& onFrame) {
  if (!broken_.isOk()) return broken_;
  bool stop = false;
  if (!carry_.empty()) {
    // Complete the partial frame first: take just enough to finish it (and
    // any whole frames behind it are decoded straight from `data`).
    if (carry_.size() < kFrameHeaderBytes) {
      size_t need = kFrameHeaderBytes - carry_.size();
      size_t take = need < data.size() ? need : data.size();
      carry_.append(data.data(), take);
      data.remove_prefix(take);
      if (carry_.size() < kFrameHeaderBytes) return Status::ok();
    }
    size_t len = 0;
    auto h = frame_detail::parseHeader(carry_.data(), &len);
    if (!h.isOk()) return broken_ = h.status();
    size_t need = kFrameHeaderBytes + len - carry_.size();
    size_t take = need < data.size() ? need : data.size();
    carry_.append(data.data(), take);
    data.remove_prefix(take);
    if (carry_.size() < kFrameHeaderBytes + len) return Status::ok();
    Frame f = *h;
    // The frame is decoded from carry_ itself, which keeps its capacity for
    // the next partial frame (no allocation per frame).
    f.payload = std::string_view(carry_).substr(kFrameHeaderBytes);
    bool more = onFrame(f);
    carry_.clear();
    if (!more) return Status::ok();
  }
  auto used = decodeSome(data, onFrame, stop);
  if (!used.isOk()) return broken_ = used.status();
  if (!stop) carry_.assign(data.data() + *used, data.size() - *used);
  return Status::ok();
}

}  // namespace kith::daemon
