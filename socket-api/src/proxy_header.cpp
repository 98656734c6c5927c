#include "kith/socket-api/proxy_header.h"

#include <algorithm>
#include <cstring>

namespace kith::api {
namespace {

constexpr char kSig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
constexpr size_t kUnixPathLen = 108;

void put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

uint16_t get16(std::string_view s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 | static_cast<uint8_t>(s[at + 1]));
}

size_t addrLen(ProxyHeader::Family f) {
  switch (f) {
    case ProxyHeader::Family::kInet: return 12;
    case ProxyHeader::Family::kInet6: return 36;
    case ProxyHeader::Family::kUnix: return 2 * kUnixPathLen;
    case ProxyHeader::Family::kUnspec: return 0;
  }
  return 0;
}

}  // namespace

std::optional<std::string> ProxyHeader::tlv(uint8_t type) const {
  for (const auto& t : tlvs) {
    if (t.type == type) return t.value;
  }
  return std::nullopt;
}

Result<std::string> encodeProxyHeader(const ProxyHeader& h) {
  std::string body;
  switch (h.family) {
    case ProxyHeader::Family::kInet:
    case ProxyHeader::Family::kInet6: {
      size_t n = h.family == ProxyHeader::Family::kInet ? 4 : 16;
      if (h.srcAddr.size() != n || h.dstAddr.size() != n) {
        return Status::internal("PROXY header: address length does not match family");
      }
      body += h.srcAddr;
      body += h.dstAddr;
      put16(&body, h.srcPort);
      put16(&body, h.dstPort);
      break;
    }
    case ProxyHeader::Family::kUnix: {
      if (h.srcAddr.size() >= kUnixPathLen || h.dstAddr.size() >= kUnixPathLen) {
        return Status::internal("PROXY header: unix path too long");
      }
      std::string a(2 * kUnixPathLen, '\0');
      std::memcpy(a.data(), h.srcAddr.data(), h.srcAddr.size());
      std::memcpy(a.data() + kUnixPathLen, h.dstAddr.data(), h.dstAddr.size());
      body += a;
      break;
    }
    case ProxyHeader::Family::kUnspec:
      break;
  }
  for (const auto& t : h.tlvs) {
    if (t.value.size() > 0xffff) return Status::internal("PROXY header: TLV too long");
    body.push_back(static_cast<char>(t.type));
    put16(&body, static_cast<uint16_t>(t.value.size()));
    body += t.value;
  }
  if (body.size() > 0xffff) return Status::internal("PROXY header: too long");
  std::string out(kSig, sizeof kSig);
  out.push_back(static_cast<char>(h.local ? 0x20 : 0x21));
  // Transport: STREAM (1) for everything kith proxies.
  uint8_t fam = static_cast<uint8_t>(h.family);
  out.push_back(static_cast<char>(fam | (h.family == ProxyHeader::Family::kUnspec ? 0 : 1)));
  put16(&out, static_cast<uint16_t>(body.size()));
  out += body;
  return out;
}

Result<ProxyHeader> parseProxyHeader(std::string_view data, size_t* consumed) {
  size_t sigCheck = std::min(data.size(), sizeof kSig);
  if (std::memcmp(data.data(), kSig, sigCheck) != 0) {
    return Status::badRequest("not a PROXY protocol v2 header");
  }
  if (data.size() < 16) return Status::notFound("need more bytes");
  uint8_t verCmd = static_cast<uint8_t>(data[12]);
  if ((verCmd >> 4) != 2) return Status::badRequest("PROXY header: version is not 2");
  uint8_t cmd = verCmd & 0x0f;
  if (cmd > 1) return Status::badRequest("PROXY header: unknown command");
  uint8_t famProto = static_cast<uint8_t>(data[13]);
  uint8_t fam = famProto & 0xf0;
  uint8_t proto = famProto & 0x0f;
  if (fam > 0x30 || proto > 2) return Status::badRequest("PROXY header: unknown family/protocol");
  size_t len = get16(data, 14);
  if (data.size() < 16 + len) return Status::notFound("need more bytes");
  ProxyHeader h;
  h.local = cmd == 0;
  h.family = static_cast<ProxyHeader::Family>(fam);
  std::string_view body = data.substr(16, len);
  size_t alen = addrLen(h.family);
  if (body.size() < alen) return Status::badRequest("PROXY header: address block truncated");
  switch (h.family) {
    case ProxyHeader::Family::kInet:
    case ProxyHeader::Family::kInet6: {
      size_t n = h.family == ProxyHeader::Family::kInet ? 4 : 16;
      h.srcAddr.assign(body.substr(0, n));
      h.dstAddr.assign(body.substr(n, n));
      h.srcPort = get16(body, 2 * n);
      h.dstPort = get16(body, 2 * n + 2);
      break;
    }
    case ProxyHeader::Family::kUnix: {
      auto path = [](std::string_view p) { return std::string(p.substr(0, p.find('\0'))); };
      h.srcAddr = path(body.substr(0, kUnixPathLen));
      h.dstAddr = path(body.substr(kUnixPathLen, kUnixPathLen));
      break;
    }
    case ProxyHeader::Family::kUnspec:
      break;
  }
  std::string_view tlvs = body.substr(alen);
  while (!tlvs.empty()) {
    if (tlvs.size() < 3) return Status::badRequest("PROXY header: truncated TLV");
    size_t tlen = get16(tlvs, 1);
    if (tlvs.size() < 3 + tlen) return Status::badRequest("PROXY header: TLV overruns header");
    h.tlvs.push_back({static_cast<uint8_t>(tlvs[0]), std::string(tlvs.substr(3, tlen))});
    tlvs.remove_prefix(3 + tlen);
  }
  *consumed = 16 + len;
  return h;
}

}  // namespace kith::api
