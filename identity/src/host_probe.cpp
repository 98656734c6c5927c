#include "kith/identity/host_probe.h"

#include "files.h"
#include "kith/common/json.h"
#include "kith/identity/cert.h"
#include "kith/identity/host_cert.h"

namespace kith::identity {
namespace {

std::string hashHex(const HostchainLink& l) {
  auto h = l.hash();
  return toHex(h.data(), h.size());
}

}  // namespace

Result<ProbeAnswer> parseProbeAnswer(const nlohmann::json& j) {
  if (!j.is_object()) return Status::badRequest("probe answer: not a JSON object");
  if (!j.value("ok", false)) {
    std::string code = "?", msg = "refused";
    if (j.contains("error") && j["error"].is_object()) {
      code = j["error"].value("code", "?");
      msg = j["error"].value("message", "refused");
    }
    return Status(Code::kDestinationNotFound, code + ": " + msg);
  }
  ProbeAnswer a;
  if (!j.contains("hostname") || !j["hostname"].is_string()) return Status::badRequest("probe answer: no hostname");
  a.hostname = j["hostname"].get<std::string>();
  if (!j.contains("host_id") || !j["host_id"].is_string()) return Status::badRequest("probe answer: no host_id");
  auto id = HostId::parse(j["host_id"].get<std::string>());
  if (!id) return id.status();
  a.hostId = *id;
  auto chain = chainFromJson(j.value("chain", nlohmann::json()));
  if (!chain) return chain.status();
  a.chain = std::move(*chain);
  auto zone = HostZone::fromJson(j.value("zone", nlohmann::json()));
  if (!zone) return zone.status();
  a.zone = std::move(*zone);
  if (j.contains("primary") && j["primary"].is_object()) {
    const auto& p = j["primary"];
    a.primaryHostname = p.value("hostname", "");
    auto pid = HostId::parse(p.value("host_id", ""));
    if (!pid) return pid.status();
    a.primaryId = *pid;
    auto pc = chainFromJson(p.value("chain", nlohmann::json()));
    if (!pc) return pc.status();
    a.primaryChain = std::move(*pc);
  }
  return a;
}

Result<CheckedProbe> checkProbeAnswer(const ProbeAnswer& a, const std::optional<std::string>& askedName,
                                      const std::optional<HostId>& askedId) {
  if (askedName && a.hostname != *askedName) {
    return Status(Code::kUnauthorized, "asked for " + *askedName + ", the answer is for " + a.hostname);
  }
  if (askedId && a.hostId != *askedId) {
    return Status(Code::kUnauthorized, "asked for host " + askedId->toString() + ", the answer is for " +
                                           a.hostId.toString());
  }
  auto r = replayHostchain(a.chain);
  if (!r.ok()) {
    return Status(Code::kUnauthorized, "hostchain of " + a.hostname + " does not replay (" +
                                           std::string(hostchainErrorName(r.error)) + "): " + r.message);
  }
  if (r.state.hostId != a.hostId) return Status(Code::kUnauthorized, "the hostchain is of another host");
  CheckedProbe out;
  out.state = r.state;
  if (r.state.aliasOf) {
    if (!a.primaryId || *a.primaryId != *r.state.aliasOf) {
      return Status(Code::kUnauthorized, "a vhost's answer must carry the primary its Alias link names");
    }
    auto p = replayHostchain(a.primaryChain);
    if (!p.ok()) return Status(Code::kUnauthorized, "primary's hostchain does not replay: " + p.message);
    if (p.state.hostId != *a.primaryId) return Status(Code::kUnauthorized, "primary's chain is of another host");
    out.primary = p.state;
  }
  if (a.zone.hostname != a.hostname) return Status(Code::kUnauthorized, "the zone is for another hostname");
  if (Status z = a.zone.verify(out.state, out.primary ? &*out.primary : nullptr); !z.isOk()) {
    return Status(Code::kUnauthorized, "zone: " + z.message());
  }
  return out;
}

Status checkServerCertificate(const Bytes& leafDer, const Bytes& caDer, const std::string& hostname,
                              const HostState& keys) {
  auto ca = parseCertificateDer(caDer);
  if (!ca) return Status(Code::kUnauthorized, "server CA certificate: " + ca.status().message());
  if (!ca->hasEd25519Key || !keys.isLive(HostKeyRole::kTlsCa, ca->publicKey)) {
    return Status(Code::kUnauthorized, "the server's CA is not the hostchain's live TLS CA key");
  }
  auto leaf = parseCertificateDer(leafDer);
  if (!leaf) return Status(Code::kUnauthorized, "server certificate: " + leaf.status().message());
  bool named = false;
  for (const auto& d : leaf->dnsSans) named |= d == hostname;
  if (!named) return Status(Code::kUnauthorized, "the server certificate is not for " + hostname);
  Status v = verifyCertificate(certificateToPem(leafDer), certificateToPem(caDer));
  if (!v.isOk()) return Status(Code::kUnauthorized, "server certificate: " + v.message());
  return Status::ok();
}

Result<HostPins> HostPins::load(const std::string& path) {
  HostPins p;
  if (!files::exists(path)) return p;
  auto text = files::read(path);
  if (!text) return text.status();
  auto j = parseJson(*text);
  if (!j.is_object()) return Status::badRequest(path + ": not a pins file");
  try {
    for (auto& [name, id] : j.at("names").items()) p.names_[name] = id.get<std::string>();
    for (auto& [id, held] : j.at("chains").items()) {
      Held h;
      h.seqno = held.at("seqno").get<uint64_t>();
      h.hashes = held.at("hashes").get<std::vector<std::string>>();
      if (h.hashes.size() != h.seqno) return Status::badRequest(path + ": damaged entry for " + id);
      p.chains_[id] = std::move(h);
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::badRequest(path + ": " + e.what());
  }
  return p;
}

nlohmann::json HostPins::toJson() const {
  nlohmann::json chains = nlohmann::json::object();
  for (const auto& [id, h] : chains_) chains[id] = {{"seqno", h.seqno}, {"hashes", h.hashes}};
  return {{"names", names_}, {"chains", chains}};
}

Status HostPins::save(const std::string& path) const {
  return files::writeAtomic(path, dumpJsonPretty(toJson(), 1) + "\n", 0600);
}

Status HostPins::check(const ProbeAnswer& a, const HostState& state) const {
  std::string id = a.hostId.toString();
  if (auto it = names_.find(a.hostname); it != names_.end() && it->second != id) {
    return Status(Code::kUnauthorized, "pin: " + a.hostname + " is pinned to host " + it->second +
                                           ", the server now says " + id);
  }
  auto it = chains_.find(id);
  if (it == chains_.end()) return Status::ok();
  const Held& held = it->second;
  if (state.seqno < held.seqno) {
    return Status(Code::kUnauthorized, "rollback: the server's hostchain of " + a.hostname + " ends at link " +
                                           std::to_string(state.seqno) + ", this client has seen link " +
                                           std::to_string(held.seqno));
  }
  for (uint64_t i = 0; i < held.seqno; ++i) {
    if (hashHex(a.chain[i]) != held.hashes[i]) {
      return Status(Code::kUnauthorized, "fork: the server's hostchain of " + a.hostname + " differs at link " +
                                             std::to_string(i + 1) + " from the one this client holds");
    }
  }
  return Status::ok();
}

void HostPins::record(const ProbeAnswer& a, const HostState& state) {
  std::string id = a.hostId.toString();
  names_[a.hostname] = id;
  Held h;
  h.seqno = state.seqno;
  for (const auto& l : a.chain) h.hashes.push_back(hashHex(l));
  chains_[id] = std::move(h);
}

}  // namespace kith::identity
