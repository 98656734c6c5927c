#include "kith/replication/messages.h"

#include <string>

namespace kith::replication {

std::string_view decodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kEmpty: return "empty";
    case DecodeError::kUnknownType: return "unknown_type";
    case DecodeError::kFrameCount: return "frame_count";
    case DecodeError::kFrameTooLarge: return "frame_too_large";
    case DecodeError::kMessageTooLarge: return "message_too_large";
    case DecodeError::kNotUtf8: return "not_utf8";
    case DecodeError::kBadPayload: return "bad_payload";
  }
  return "unknown";
}

std::optional<FrameCountRule> frameCountRule(std::string_view type) {
  if (type == kHello) return FrameCountRule{3, 3};
  if (type == kRecords) return FrameCountRule{0, kMaxRecordsFrames};
  if (type == kAck) return FrameCountRule{1, kMaxRecordsFrames};
  // PULL: version vector, and (optional) zone digests (zone_digest.h).
  if (type == kPull) return FrameCountRule{1, 2};
  if (type == kPing || type == kPong || type == kPeers) {
    return FrameCountRule{1, 1};
  }
  return std::nullopt;
}

bool isKnownType(std::string_view type) { return frameCountRule(type).has_value(); }

bool isValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte first, overlong lead (C0/C1) or > F4
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::optional<uint64_t> parseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

namespace {

// Checks that do not need the whole message: type (frame 0) and one payload frame.
std::optional<DecodeError> checkPayloadFrame(std::string_view type, std::string_view f) {
  if (f.size() > kMaxFrameBytes) return DecodeError::kFrameTooLarge;
  if (!isValidUtf8(f)) return DecodeError::kNotUtf8;
  if ((type == kPing || type == kPong) && !parseDecimal(f)) return DecodeError::kBadPayload;
  return std::nullopt;
}

}  // namespace

std::optional<DecodeError> checkMessage(const Message& m) {
  auto rule = frameCountRule(m.type);
  if (!rule) return DecodeError::kUnknownType;
  if (m.frames.size() < rule->min || m.frames.size() > rule->max) {
    return DecodeError::kFrameCount;
  }
  size_t total = m.type.size();
  for (const auto& f : m.frames) {
    if (auto e = checkPayloadFrame(m.type, f)) return e;
    total += f.size();
    if (total > kMaxMessageBytes) return DecodeError::kMessageTooLarge;
  }
  return std::nullopt;
}

Status validateMessage(const Message& m) {
  if (auto e = checkMessage(m)) {
    return Status::badRequest("replication message " +
                              std::string(m.type.size() <= kMaxTypeBytes ? m.type : "?") +
                              ": " + std::string(decodeErrorName(*e)));
  }
  return Status::ok();
}

std::vector<std::string> encode(const Message& m) {
  std::vector<std::string> parts;
  parts.reserve(m.frames.size() + 1);
  parts.push_back(m.type);
  parts.insert(parts.end(), m.frames.begin(), m.frames.end());
  return parts;
}

Decoded decode(std::vector<std::string> parts) {
  MessageReader r;
  for (const auto& p : parts) r.add(p);
  return r.finish();
}

void MessageReader::add(std::string_view frame) {
  if (error_) return;  // already refused: drain without storing
  if (parts_.empty()) {
    // Frame 0: the type. Refuse early so an unknown type's payload is never stored.
    if (frame.size() > kMaxTypeBytes || !isKnownType(frame)) {
      error_ = DecodeError::kUnknownType;
      return;
    }
    parts_.emplace_back(frame);
    total_ = frame.size();
    return;
  }
  const std::string_view type = parts_.front();
  const auto rule = frameCountRule(type);
  if (parts_.size() - 1 >= rule->max) {
    error_ = DecodeError::kFrameCount;
    return;
  }
  if (auto e = checkPayloadFrame(type, frame)) {
    error_ = e;
    return;
  }
  total_ += frame.size();
  if (total_ > kMaxMessageBytes) {
    error_ = DecodeError::kMessageTooLarge;
    return;
  }
  parts_.emplace_back(frame);
}

Decoded MessageReader::finish() {
  Decoded d;
  if (!error_ && parts_.empty()) error_ = DecodeError::kEmpty;
  if (!error_) {
    const auto rule = frameCountRule(parts_.front());
    if (parts_.size() - 1 < rule->min) error_ = DecodeError::kFrameCount;
  }
  if (error_) {
    d.error = error_;
  } else {
    Message m;
    m.type = std::move(parts_.front());
    m.frames.reserve(parts_.size() - 1);
    for (size_t i = 1; i < parts_.size(); ++i) m.frames.push_back(std::move(parts_[i]));
    d.message = std::move(m);
  }
  parts_.clear();
  total_ = 0;
  error_.reset();
  return d;
}

Message makePing(int64_t monotonicMs) {
  return Message{std::string(kPing), {std::to_string(monotonicMs < 0 ? 0 : monotonicMs)}};
}

Message makePong(std::string_view pingValue) {
  return Message{std::string(kPong), {std::string(pingValue)}};
}

}  // namespace kith::replication
