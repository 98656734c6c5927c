#include "kith/daemon/tunnel/frame.h"
#include "kith/common/json.h"

#include <nlohmann/json.hpp>

namespace kith::daemon {
namespace {

void putU32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

uint32_t getU32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// Longest address is 5 * 63 + 4; a SPIFFE ID adds the trust domain.
constexpr size_t kMaxOpenField = 1024;

}  // namespace

const char* frameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kOpen: return "OPEN";
    case FrameType::kOpenOk: return "OPEN_OK";
    case FrameType::kOpenErr: return "OPEN_ERR";
    case FrameType::kData: return "DATA";
    case FrameType::kWindow: return "WINDOW";
    case FrameType::kFin: return "FIN";
    case FrameType::kRst: return "RST";
    case FrameType::kDgram: return "DGRAM";
    case FrameType::kPing: return "PING";
    case FrameType::kPong: return "PONG";
  }
  return "?";
}

void appendFrameHeader(std::string& out, FrameType type, uint32_t stream, uint32_t length) {
  char h[kFrameHeaderBytes];
  h[0] = static_cast<char>(type);
  putU32(h + 1, stream);
  putU32(h + 5, length);
  out.append(h, sizeof h);
}

void appendFrame(std::string& out, FrameType type, uint32_t stream, std::string_view payload) {
  appendFrameHeader(out, type, stream, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
}

namespace frame_detail {

Result<Frame> parseHeader(const char* p, size_t* payloadLen) {
  auto t = static_cast<uint8_t>(p[0]);
  if (t < static_cast<uint8_t>(FrameType::kOpen) || t > static_cast<uint8_t>(FrameType::kPong)) {
    return Status::badRequest("link frame: unknown type " + std::to_string(t));
  }
  uint32_t len = getU32(p + 5);
  if (len > kMaxFramePayload) {
    return Status::badRequest("link frame: payload of " + std::to_string(len) + " bytes exceeds " +
                              std::to_string(kMaxFramePayload));
  }
  Frame f;
  f.type = static_cast<FrameType>(t);
  f.stream = getU32(p + 1);
  *payloadLen = len;
  return f;
}

}  // namespace frame_detail

std::string encodeOpen(const OpenPayload& p) {
  nlohmann::json j{{"src", p.src}, {"dst", p.dst}, {"proto", p.proto}, {"spiffe", p.spiffe}, {"window", p.window}};
  if (p.raw) j["raw"] = true;  // absent otherwise: the payload older daemons know
  return dumpJson(j);
}

Result<OpenPayload> decodeOpen(std::string_view payload) {
  auto j = parseJson(payload);
  if (j.is_discarded() || !j.is_object()) return Status::badRequest("OPEN: not a JSON object");
  OpenPayload p;
  for (auto [key, field] : {std::pair{"src", &p.src}, std::pair{"dst", &p.dst},
                            std::pair{"proto", &p.proto}, std::pair{"spiffe", &p.spiffe}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return Status::badRequest(std::string("OPEN: missing ") + key);
    *field = it->get<std::string>();
    if (field->size() > kMaxOpenField) return Status::badRequest(std::string("OPEN: ") + key + " too long");
  }
  auto w = j.find("window");
  if (w == j.end() || !w->is_number_unsigned() || w->get<uint64_t>() > UINT32_MAX) {
    return Status::badRequest("OPEN: window must be a 32-bit unsigned number");
  }
  p.window = w->get<uint32_t>();
  if (auto r = j.find("raw"); r != j.end()) {
    if (!r->is_boolean()) return Status::badRequest("OPEN: raw must be a boolean");
    p.raw = r->get<bool>();
  }
  if (p.proto != "tcp" && p.proto != "udp") return Status::badRequest("OPEN: proto must be tcp or udp");
  return p;
}

std::string encodeOpenErr(Code code, std::string_view message) {
  return dumpJson(nlohmann::json{{"code", std::string(codeName(code))}, {"message", std::string(message)}});
}

Status decodeOpenErr(std::string_view payload) {
  auto j = parseJson(payload);
  if (j.is_discarded() || !j.is_object() || !j.contains("code") || !j["code"].is_string()) {
    return Status(Code::kCannotConnect, "the peer daemon refused the stream (unreadable reason)");
  }
  std::string message;
  if (auto m = j.find("message"); m != j.end() && m->is_string()) message = m->get<std::string>();
  auto code = codeFromName(j["code"].get<std::string>());
  // Only the socket API's own codes cross; anything else is the peer's bug.
  if (!code || *code == Code::kOk) code = Code::kCannotConnect;
  return Status(*code, message);
}

std::string encodeU32(uint32_t v) {
  std::string s(4, '\0');
  putU32(s.data(), v);
  return s;
}

Result<uint32_t> decodeU32(std::string_view payload) {
  if (payload.size() != 4) return Status::badRequest("frame payload must be 4 bytes");
  return getU32(payload.data());
}

std::string encodeU64(uint64_t v) {
  std::string s(8, '\0');
  putU32(s.data(), static_cast<uint32_t>(v >> 32));
  putU32(s.data() + 4, static_cast<uint32_t>(v));
  return s;
}

Result<uint64_t> decodeU64(std::string_view payload) {
  if (payload.size() != 8) return Status::badRequest("frame payload must be 8 bytes");
  return (uint64_t{getU32(payload.data())} << 32) | getU32(payload.data() + 4);
}

}  // namespace kith::daemon
