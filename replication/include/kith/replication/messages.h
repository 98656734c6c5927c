// Message: one peer-protocol message of docs/REPLICATION.md ("Peer protocol"),
// and its strict encoding to and from ZeroMQ multipart frames.
//
// On the wire a message is the multipart [type, payload frame...]: frame 0 is the
// ASCII type, the payload frames are UTF-8 text. Only the types of the protocol
// table are known; anything else, a wrong number of frames, a frame over
// kMaxFrameBytes, a message over kMaxMessageBytes or a payload that is not UTF-8
// is malformed. Malformed input from a peer is dropped and counted by reason
// (DecodeError) — never a crash, never an exception.
//
// What the payload frames MEAN (records, version vectors, JSON) is the record
// layer's and the daemon's business; this file checks only the envelope, plus
// the one payload the transport itself reads (PING/PONG: decimal monotonic ms).
//
// Ownership and threads: plain values; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"

namespace kith::replication {

// The message types (frame 0).
inline constexpr std::string_view kHello = "HELLO";
inline constexpr std::string_view kRecords = "RECORDS";
inline constexpr std::string_view kAck = "ACK";
inline constexpr std::string_view kPull = "PULL";
inline constexpr std::string_view kPing = "PING";
inline constexpr std::string_view kPong = "PONG";
inline constexpr std::string_view kPeers = "PEERS";

// Limits (untrusted input).
inline constexpr size_t kMaxFrameBytes = size_t{1} << 20;   // 1 MiB per frame
inline constexpr size_t kMaxRecordsFrames = 100'000;        // payload frames of RECORDS / ACK
// All frames of one message together. Generous (100,000 records of up to 4 KiB
// each fit) but finite, so one message cannot take the process's memory.
inline constexpr size_t kMaxMessageBytes = size_t{512} << 20;
// Longest type name; a frame 0 longer than this is not a type.
inline constexpr size_t kMaxTypeBytes = 16;

struct Message {
  std::string type;                 // one of the k* types above
  std::vector<std::string> frames;  // payload frames, without the type frame

  bool operator==(const Message&) const = default;
};

// Why a multipart was refused; each reason has its own counter.
enum class DecodeError {
  kEmpty = 0,        // no frames at all
  kUnknownType,      // frame 0 is not a protocol type
  kFrameCount,       // wrong number of payload frames for the type
  kFrameTooLarge,    // a frame over kMaxFrameBytes
  kMessageTooLarge,  // all frames over kMaxMessageBytes
  kNotUtf8,          // a payload frame that is not valid UTF-8
  kBadPayload,       // PING/PONG value not a decimal uint64
};
inline constexpr size_t kDecodeErrorCount = 7;
std::string_view decodeErrorName(DecodeError e);

// Payload frame counts per type: [min, max]. HELLO 3 (deleg, infra, version
// vector); RECORDS 0..kMaxRecordsFrames (0 = "nothing newer", an empty answer to
// PULL); ACK 1..kMaxRecordsFrames; PULL 1..2 (version vector, zone digests); PING, PONG, PEERS exactly 1.
struct FrameCountRule {
  size_t min;
  size_t max;
};
// nullopt for an unknown type.
std::optional<FrameCountRule> frameCountRule(std::string_view type);
bool isKnownType(std::string_view type);

// Checks a message against the rules above (used before sending, so the
// transport never puts a malformed message on the wire).
// Returns the reason, or nullopt when the message is well formed.
std::optional<DecodeError> checkMessage(const Message& m);
// The same as a Status (BAD_REQUEST naming the reason), for API boundaries.
Status validateMessage(const Message& m);

// [type, frames...] — the multipart to send.
std::vector<std::string> encode(const Message& m);

// The inverse of encode with every check of checkMessage. `parts` is consumed.
struct Decoded {
  std::optional<Message> message;   // set iff well formed
  std::optional<DecodeError> error;  // set iff malformed
};
Decoded decode(std::vector<std::string> parts);

// Incremental decoding for the receive path: frames are offered one at a time
// (as ZeroMQ delivers them) and the reader stops storing as soon as a limit is
// crossed, so an oversized multipart costs no more memory than the limits allow.
// After the last frame, finish() gives the result and resets the reader.
class MessageReader {
 public:
  // Offers the next frame of the current multipart.
  void add(std::string_view frame);
  Decoded finish();

 private:
  std::vector<std::string> parts_;
  size_t total_ = 0;
  std::optional<DecodeError> error_;
};

// PING / PONG carry one decimal uint64 (monotonic ms of the sender of PING).
Message makePing(int64_t monotonicMs);
Message makePong(std::string_view pingValue);
std::optional<uint64_t> parseDecimal(std::string_view s);

bool isValidUtf8(std::string_view s);

}  // namespace kith::replication
