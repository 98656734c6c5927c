#include "kith/identity/host_zone.h"

namespace kith::identity {
namespace {

void putStr(Bytes& b, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(n >> (8 * i)));
  b.insert(b.end(), s.begin(), s.end());
}

}  // namespace

Bytes HostZone::payload() const {
  std::string tag = "kith-zone-v1";
  Bytes b(tag.begin(), tag.end());
  b.push_back(0);
  putStr(b, hostname);
  b.insert(b.end(), hostId.bytes().begin(), hostId.bytes().end());
  putStr(b, probe);
  putStr(b, reg);
  putStr(b, user);
  putStr(b, merkleQuery);
  putStr(b, std::to_string(ttlSeconds));
  putStr(b, std::to_string(time));
  b.insert(b.end(), signer.begin(), signer.end());
  return b;
}

void HostZone::sign(const SigningKey& metadataKey) {
  signer = metadataKey.publicKey();
  signature = metadataKey.sign(payload());
}

Status HostZone::verify(const HostState& state, const HostState* primary) const {
  if (hostId != state.hostId) return Status::crypto("zone names host " + hostId.toString() + ", not " + state.hostId.toString());
  const HostState* keys = &state;
  if (state.aliasOf) {
    if (!primary || primary->hostId != *state.aliasOf) {
      return Status::crypto("zone of a vhost: its primary's hostchain is needed to check it");
    }
    keys = primary;
  }
  if (!keys->isLive(HostKeyRole::kMetadata, signer)) {
    return Status::crypto("zone signed by a key that is not the live metadata signer");
  }
  if (!verifyEd25519(signer, payload(), signature)) return Status::crypto("zone signature does not verify");
  return Status::ok();
}

nlohmann::json HostZone::toJson() const {
  return {{"hostname", hostname},
          {"host_id", hostId.toString()},
          {"probe", probe},
          {"reg", reg},
          {"user", user},
          {"merkle_query", merkleQuery},
          {"ttl", ttlSeconds},
          {"time", time},
          {"signer", toHex(signer.data(), signer.size())},
          {"signature", toHex(signature.data(), signature.size())}};
}

Result<HostZone> HostZone::fromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::badRequest("zone: not an object");
  HostZone z;
  try {
    z.hostname = j.at("hostname").get<std::string>();
    auto id = HostId::parse(j.at("host_id").get<std::string>());
    if (!id) return id.status();
    z.hostId = *id;
    z.probe = j.at("probe").get<std::string>();
    z.reg = j.at("reg").get<std::string>();
    z.user = j.at("user").get<std::string>();
    z.merkleQuery = j.at("merkle_query").get<std::string>();
    z.ttlSeconds = j.at("ttl").get<int64_t>();
    z.time = j.at("time").get<int64_t>();
    auto s = fromHex(j.at("signer").get<std::string>());
    auto g = fromHex(j.at("signature").get<std::string>());
    if (!s || s->size() != z.signer.size() || !g || g->size() != z.signature.size()) {
      return Status::badRequest("zone: signer or signature is not hex of the right size");
    }
    std::copy(s->begin(), s->end(), z.signer.begin());
    std::copy(g->begin(), g->end(), z.signature.begin());
  } catch (const nlohmann::json::exception& e) {
    return Status::badRequest(std::string("zone: ") + e.what());
  }
  return z;
}

}  // namespace kith::identity
