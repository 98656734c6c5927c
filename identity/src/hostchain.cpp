#include "kith/identity/hostchain.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace kith::identity {
namespace {

constexpr std::string_view kPayloadTag = "kith-hostchain-v1";

void putU64(Bytes& b, uint64_t v) {
  for (int i = 7; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <size_t N>
void putArr(Bytes& b, const std::array<uint8_t, N>& a) {
  b.insert(b.end(), a.begin(), a.end());
}

std::string linkName(const HostchainLink& l) { return "link " + std::to_string(l.seqno); }

ReplayResult fail(HostState state, HostchainError e, std::string msg) {
  ReplayResult r;
  r.error = e;
  r.message = std::move(msg);
  r.state = std::move(state);
  return r;
}

bool contains(const std::vector<PublicKey>& v, const PublicKey& k) {
  return std::find(v.begin(), v.end(), k) != v.end();
}

template <size_t N>
Result<std::array<uint8_t, N>> hexArray(const nlohmann::json& j, const char* what) {
  if (!j.is_string()) return Status::badRequest(std::string(what) + ": not a string");
  auto b = fromHex(j.get<std::string>());
  if (!b || b->size() != N) return Status::badRequest(std::string(what) + ": not " + std::to_string(N) + " hex bytes");
  std::array<uint8_t, N> a{};
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

}  // namespace

std::string_view roleName(HostKeyRole r) {
  switch (r) {
    case HostKeyRole::kHost: return "host";
    case HostKeyRole::kTlsCa: return "tls-ca";
    case HostKeyRole::kMerkle: return "merkle";
    case HostKeyRole::kMetadata: return "metadata";
  }
  return "?";
}

Result<HostKeyRole> parseRole(std::string_view name) {
  for (auto r : {HostKeyRole::kHost, HostKeyRole::kTlsCa, HostKeyRole::kMerkle, HostKeyRole::kMetadata}) {
    if (roleName(r) == name) return r;
  }
  return Status::badRequest("unknown key role '" + std::string(name) +
                            "' (host, tls-ca, merkle or metadata)");
}

std::string_view hostchainErrorName(HostchainError e) {
  switch (e) {
    case HostchainError::kNone: return "none";
    case HostchainError::kBadSeqno: return "bad seqno";
    case HostchainError::kBadPrevHash: return "bad prev hash";
    case HostchainError::kFirstLinkNotByHostKey: return "first link not signed by the host key";
    case HostchainError::kUnknownSigner: return "unknown signer";
    case HostchainError::kRevokedSigner: return "revoked signer";
    case HostchainError::kRevokeLastHostKey: return "revokes the last host key";
    case HostchainError::kHostIdChanged: return "host ID changed";
    case HostchainError::kBadSignature: return "bad signature";
    case HostchainError::kBadChange: return "bad change";
  }
  return "?";
}

Bytes HostchainLink::payload() const {
  Bytes b(kPayloadTag.begin(), kPayloadTag.end());
  b.push_back(0);
  putU64(b, seqno);
  putArr(b, prev);
  putU64(b, static_cast<uint64_t>(time));
  putArr(b, hostId.bytes());
  putArr(b, signer);
  putU64(b, changes.size());
  for (const auto& c : changes) {
    b.push_back(static_cast<uint8_t>(c.kind));
    switch (c.kind) {
      case HostchainChange::Kind::kAdd:
        b.push_back(static_cast<uint8_t>(c.role));
        putArr(b, c.key);
        break;
      case HostchainChange::Kind::kRevoke: putArr(b, c.key); break;
      case HostchainChange::Kind::kAlias: putArr(b, c.aliasOf.bytes()); break;
    }
  }
  return b;
}

LinkHash HostchainLink::hash() const {
  ensureSodium();
  Bytes b = payload();
  for (const auto& s : signatures) putArr(b, s);
  LinkHash h{};
  crypto_generichash(h.data(), h.size(), b.data(), b.size(), nullptr, 0);
  return h;
}

std::optional<PublicKey> HostState::current(HostKeyRole role) const {
  auto it = live.find(role);
  if (it == live.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

bool HostState::isLive(HostKeyRole role, const PublicKey& key) const {
  auto it = live.find(role);
  return it != live.end() && contains(it->second, key);
}

ReplayResult extendHostchain(HostState state, const HostchainLink& l) {
  const bool first = state.seqno == 0;
  if (l.seqno != state.seqno + 1) {
    return fail(std::move(state), HostchainError::kBadSeqno,
                linkName(l) + ": seqno must be " + std::to_string(state.seqno + 1));
  }
  if (l.prev != state.lastHash) {
    return fail(std::move(state), HostchainError::kBadPrevHash,
                linkName(l) + ": prev hash does not name link " + std::to_string(state.seqno));
  }
  if (first) {
    state.hostId = l.hostId;
  } else if (l.hostId != state.hostId) {
    return fail(std::move(state), HostchainError::kHostIdChanged,
                linkName(l) + ": names host " + l.hostId.toString() + ", the chain is " +
                    state.hostId.toString());
  }
  std::vector<PublicKey> adds;
  for (const auto& c : l.changes) {
    if (c.kind == HostchainChange::Kind::kAdd) adds.push_back(c.key);
  }
  if (first) {
    if (l.hostId.empty() || l.signer != l.hostId.hostKey()) {
      return fail(std::move(state), HostchainError::kFirstLinkNotByHostKey,
                  "link 1: signed by a key other than the host ID's key");
    }
    bool addsHostKey = false;
    for (const auto& c : l.changes) {
      addsHostKey |= c.kind == HostchainChange::Kind::kAdd && c.role == HostKeyRole::kHost &&
                     c.key == l.signer;
    }
    if (!addsHostKey) {
      return fail(std::move(state), HostchainError::kFirstLinkNotByHostKey,
                  "link 1: does not introduce the host ID's key as a host key");
    }
  } else if (contains(state.revoked, l.signer)) {
    return fail(std::move(state), HostchainError::kRevokedSigner,
                linkName(l) + ": signer " + toHex(l.signer.data(), l.signer.size()) + " was revoked");
  } else if (!state.isLive(HostKeyRole::kHost, l.signer)) {
    return fail(std::move(state), HostchainError::kUnknownSigner,
                linkName(l) + ": signer " + toHex(l.signer.data(), l.signer.size()) +
                    " is not a host key of this chain");
  }
  if (l.signatures.size() != adds.size() + 1) {
    return fail(std::move(state), HostchainError::kBadSignature,
                linkName(l) + ": " + std::to_string(l.signatures.size()) + " signatures, want " +
                    std::to_string(adds.size() + 1) + " (one per new key, then the signer's)");
  }
  Bytes payload = l.payload();
  for (size_t i = 0; i < adds.size(); ++i) {
    if (!verifyEd25519(adds[i], payload, l.signatures[i])) {
      return fail(std::move(state), HostchainError::kBadSignature,
                  linkName(l) + ": new key " + std::to_string(i + 1) + "'s signature does not verify");
    }
  }
  Bytes outer = payload;
  for (size_t i = 0; i < adds.size(); ++i) putArr(outer, l.signatures[i]);
  if (!verifyEd25519(l.signer, outer, l.signatures.back())) {
    return fail(std::move(state), HostchainError::kBadSignature,
                linkName(l) + ": the signer's signature does not verify");
  }
  if (l.changes.empty()) {
    return fail(std::move(state), HostchainError::kBadChange, linkName(l) + ": no changes");
  }
  HostState next = state;
  for (const auto& c : l.changes) {
    switch (c.kind) {
      case HostchainChange::Kind::kAdd: {
        bool known = contains(next.revoked, c.key);
        for (const auto& [role, keys] : next.live) known |= contains(keys, c.key);
        if (known) {
          return fail(std::move(state), HostchainError::kBadChange,
                      linkName(l) + ": adds a key this chain already had");
        }
        next.live[c.role].push_back(c.key);
        break;
      }
      case HostchainChange::Kind::kRevoke: {
        bool found = false;
        for (auto& [role, keys] : next.live) {
          auto it = std::find(keys.begin(), keys.end(), c.key);
          if (it != keys.end()) {
            keys.erase(it);
            found = true;
          }
        }
        if (!found) {
          return fail(std::move(state), HostchainError::kBadChange,
                      linkName(l) + ": revokes a key that is not live");
        }
        next.revoked.push_back(c.key);
        break;
      }
      case HostchainChange::Kind::kAlias:
        if (c.aliasOf == next.hostId || c.aliasOf.empty()) {
          return fail(std::move(state), HostchainError::kBadChange,
                      linkName(l) + ": a host cannot alias itself");
        }
        next.aliasOf = c.aliasOf;
        break;
    }
  }
  if (!next.current(HostKeyRole::kHost)) {
    return fail(std::move(state), HostchainError::kRevokeLastHostKey,
                linkName(l) + ": revokes the last live host key");
  }
  next.seqno = l.seqno;
  next.lastHash = l.hash();
  ReplayResult r;
  r.state = std::move(next);
  return r;
}

ReplayResult replayHostchain(const std::vector<HostchainLink>& links) {
  if (links.empty()) return fail({}, HostchainError::kBadChange, "empty hostchain");
  ReplayResult r;
  for (const auto& l : links) {
    r = extendHostchain(std::move(r.state), l);
    if (!r.ok()) return r;
  }
  return r;
}

HostchainLink makeLink(const HostState* state, const HostId& hostId, int64_t time,
                       const SigningKey& signer, const std::vector<NewKey>& adds,
                       const std::vector<PublicKey>& revokes, std::optional<HostId> aliasOf) {
  HostchainLink l;
  l.seqno = state ? state->seqno + 1 : 1;
  if (state) l.prev = state->lastHash;
  l.time = time;
  l.hostId = hostId;
  l.signer = signer.publicKey();
  for (const auto& a : adds) {
    HostchainChange c;
    c.kind = HostchainChange::Kind::kAdd;
    c.role = a.role;
    c.key = a.key->publicKey();
    l.changes.push_back(c);
  }
  for (const auto& k : revokes) {
    HostchainChange c;
    c.kind = HostchainChange::Kind::kRevoke;
    c.key = k;
    l.changes.push_back(c);
  }
  if (aliasOf) {
    HostchainChange c;
    c.kind = HostchainChange::Kind::kAlias;
    c.aliasOf = *aliasOf;
    l.changes.push_back(c);
  }
  Bytes payload = l.payload();
  Bytes outer = payload;
  for (const auto& a : adds) {
    Signature s = a.key->sign(payload);
    l.signatures.push_back(s);
    putArr(outer, s);
  }
  l.signatures.push_back(signer.sign(outer));
  return l;
}

nlohmann::json linkToJson(const HostchainLink& l) {
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : l.changes) {
    switch (c.kind) {
      case HostchainChange::Kind::kAdd:
        changes.push_back({{"op", "add"}, {"role", roleName(c.role)}, {"key", toHex(c.key.data(), c.key.size())}});
        break;
      case HostchainChange::Kind::kRevoke:
        changes.push_back({{"op", "revoke"}, {"key", toHex(c.key.data(), c.key.size())}});
        break;
      case HostchainChange::Kind::kAlias:
        changes.push_back({{"op", "alias"}, {"primary", c.aliasOf.toString()}});
        break;
    }
  }
  nlohmann::json sigs = nlohmann::json::array();
  for (const auto& s : l.signatures) sigs.push_back(toHex(s.data(), s.size()));
  return {{"seqno", l.seqno},
          {"prev", toHex(l.prev.data(), l.prev.size())},
          {"time", l.time},
          {"host_id", l.hostId.toString()},
          {"signer", toHex(l.signer.data(), l.signer.size())},
          {"changes", changes},
          {"signatures", sigs},
          {"hash", [&] { auto h = l.hash(); return toHex(h.data(), h.size()); }()}};
}

Result<HostchainLink> linkFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::badRequest("hostchain link: not an object");
  HostchainLink l;
  auto need = [&](const char* k) { return j.contains(k); };
  if (!need("seqno") || !j["seqno"].is_number_unsigned()) return Status::badRequest("hostchain link: seqno");
  l.seqno = j["seqno"].get<uint64_t>();
  if (!need("time") || !j["time"].is_number_integer()) return Status::badRequest("hostchain link: time");
  l.time = j["time"].get<int64_t>();
  if (!need("prev")) return Status::badRequest("hostchain link: prev missing");
  auto prev = hexArray<32>(j["prev"], "hostchain link: prev");
  if (!prev) return prev.status();
  l.prev = *prev;
  if (!need("host_id") || !j["host_id"].is_string()) return Status::badRequest("hostchain link: host_id");
  auto hid = HostId::parse(j["host_id"].get<std::string>());
  if (!hid) return hid.status();
  l.hostId = *hid;
  if (!need("signer")) return Status::badRequest("hostchain link: signer missing");
  auto signer = hexArray<kEd25519PublicKeySize>(j["signer"], "hostchain link: signer");
  if (!signer) return signer.status();
  l.signer = *signer;
  if (!need("changes") || !j["changes"].is_array()) return Status::badRequest("hostchain link: changes");
  for (const auto& cj : j["changes"]) {
    if (!cj.is_object() || !cj.contains("op") || !cj["op"].is_string()) {
      return Status::badRequest("hostchain link: change without op");
    }
    HostchainChange c;
    std::string op = cj["op"].get<std::string>();
    if (op == "add" || op == "revoke") {
      c.kind = op == "add" ? HostchainChange::Kind::kAdd : HostchainChange::Kind::kRevoke;
      if (!cj.contains("key")) return Status::badRequest("hostchain link: change without key");
      auto k = hexArray<kEd25519PublicKeySize>(cj["key"], "hostchain link: key");
      if (!k) return k.status();
      c.key = *k;
      if (op == "add") {
        if (!cj.contains("role") || !cj["role"].is_string()) return Status::badRequest("hostchain link: add without role");
        auto role = parseRole(cj["role"].get<std::string>());
        if (!role) return role.status();
        c.role = *role;
      }
    } else if (op == "alias") {
      if (!cj.contains("primary") || !cj["primary"].is_string()) return Status::badRequest("hostchain link: alias without primary");
      auto p = HostId::parse(cj["primary"].get<std::string>());
      if (!p) return p.status();
      c.kind = HostchainChange::Kind::kAlias;
      c.aliasOf = *p;
    } else {
      return Status::badRequest("hostchain link: unknown op '" + op + "'");
    }
    l.changes.push_back(c);
  }
  if (!need("signatures") || !j["signatures"].is_array()) return Status::badRequest("hostchain link: signatures");
  for (const auto& sj : j["signatures"]) {
    auto s = hexArray<kEd25519SignatureSize>(sj, "hostchain link: signature");
    if (!s) return s.status();
    l.signatures.push_back(*s);
  }
  return l;
}

nlohmann::json chainToJson(const std::vector<HostchainLink>& links) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& l : links) a.push_back(linkToJson(l));
  return a;
}

Result<std::vector<HostchainLink>> chainFromJson(const nlohmann::json& j) {
  if (!j.is_array()) return Status::badRequest("hostchain: not a JSON array");
  if (j.size() > 100000) return Status::badRequest("hostchain: too long");
  std::vector<HostchainLink> out;
  for (const auto& lj : j) {
    auto l = linkFromJson(lj);
    if (!l) return l.status();
    out.push_back(std::move(*l));
  }
  return out;
}

}  // namespace kith::identity
