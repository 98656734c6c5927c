#include "kith/identity/host_dir.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "files.h"
#include "kith/common/json.h"
#include "kith/identity/host_cert.h"

namespace kith::identity {
namespace {

constexpr HostKeyRole kDelegated[] = {HostKeyRole::kTlsCa, HostKeyRole::kMerkle, HostKeyRole::kMetadata};

std::string keyPath(const std::string& dir, HostKeyRole r) { return dir + "/" + std::string(roleName(r)) + ".key"; }

}  // namespace

const SigningKey* HostDir::key(HostKeyRole role) const {
  auto it = keys_.find(role);
  return it == keys_.end() ? nullptr : &it->second;
}

Status HostDir::saveChain() const {
  return files::writeAtomic(dir_ + "/chain.json", dumpJsonPretty(chainToJson(chain_), 1) + "\n", 0644);
}

Result<HostDir> HostDir::create(const std::string& dir, const std::string& hostname, int64_t now,
                                std::optional<HostId> primary) {
  KITH_RETURN_IF_ERROR(checkHostname(hostname));
  if (files::exists(dir + "/host.json")) return Status::badRequest("host directory " + dir + " already exists");
  KITH_RETURN_IF_ERROR(files::makeDir(dir, 0700));
  HostDir h;
  h.dir_ = dir;
  h.hostname_ = hostname;
  h.keys_.emplace(HostKeyRole::kHost, SigningKey::generate());
  if (!primary) {
    for (auto r : kDelegated) h.keys_.emplace(r, SigningKey::generate());
  }
  const SigningKey& hostKey = h.keys_.at(HostKeyRole::kHost);
  HostId id = HostId::fromHostKey(hostKey.publicKey());
  std::vector<NewKey> adds;
  for (auto& [role, k] : h.keys_) adds.push_back({role, &k});
  HostchainLink first = makeLink(nullptr, id, now, hostKey, adds, {}, primary);
  auto r = replayHostchain({first});
  if (!r.ok()) return Status::internal("new hostchain does not replay: " + r.message);
  h.chain_ = {first};
  h.state_ = r.state;
  for (auto& [role, k] : h.keys_) {
    KITH_RETURN_IF_ERROR(k.saveKeyFile(keyPath(dir, role), SigningKey::Write::kCreateOnly));
  }
  if (!primary) {
    auto ca = issueHostCaCertificate(h.keys_.at(HostKeyRole::kTlsCa), id);
    if (!ca) return ca.status();
    h.tlsCaCertPem_ = *ca;
    KITH_RETURN_IF_ERROR(files::writeAtomic(dir + "/tls-ca.crt", *ca, 0644));
  }
  KITH_RETURN_IF_ERROR(h.saveChain());
  nlohmann::json meta = {{"hostname", hostname}};
  if (primary) meta["primary"] = primary->toString();
  KITH_RETURN_IF_ERROR(files::writeAtomic(dir + "/host.json", dumpJson(meta) + "\n", 0644));
  return h;
}

Result<HostDir> HostDir::load(const std::string& dir) {
  HostDir h;
  h.dir_ = dir;
  auto metaText = files::read(dir + "/host.json");
  if (!metaText) return metaText.status();
  auto meta = parseJson(*metaText);
  if (!meta.is_object() || !meta.contains("hostname") || !meta["hostname"].is_string()) {
    return Status::badRequest(dir + "/host.json: no hostname");
  }
  h.hostname_ = meta["hostname"].get<std::string>();
  auto chainText = files::read(dir + "/chain.json");
  if (!chainText) return chainText.status();
  auto chainJson = parseJson(*chainText);
  auto chain = chainFromJson(chainJson);
  if (!chain) return Status::badRequest(dir + "/chain.json: " + chain.status().message());
  auto r = replayHostchain(*chain);
  if (!r.ok()) return Status::crypto(dir + "/chain.json: " + r.message);
  h.chain_ = std::move(*chain);
  h.state_ = std::move(r.state);
  std::vector<HostKeyRole> roles = {HostKeyRole::kHost};
  if (!h.state_.aliasOf) roles.insert(roles.end(), std::begin(kDelegated), std::end(kDelegated));
  for (auto role : roles) {
    std::string path = keyPath(dir, role);
    auto want = h.state_.current(role);
    if (!want) return Status::crypto(dir + ": the chain has no live " + std::string(roleName(role)) + " key");
    // A rotation interrupted after the chain was written: finish it.
    if (files::exists(path + ".next")) {
      auto next = SigningKey::loadKeyFile(path + ".next");
      if (next && next->publicKey() == *want) {
        if (std::rename((path + ".next").c_str(), path.c_str()) != 0) {
          return Status::fromErrno("rename " + path + ".next", errno);
        }
      }
    }
    auto k = SigningKey::loadKeyFile(path);
    if (!k) return k.status();
    if (k->publicKey() != *want) {
      return Status::crypto(path + " is not the chain's live " + std::string(roleName(role)) + " key");
    }
    h.keys_.emplace(role, std::move(*k));
  }
  if (!h.state_.aliasOf) {
    auto ca = files::read(dir + "/tls-ca.crt");
    if (!ca) return ca.status();
    h.tlsCaCertPem_ = *ca;
  }
  return h;
}

Status HostDir::rotate(HostKeyRole role, int64_t now) {
  if (state_.aliasOf && role != HostKeyRole::kHost) {
    return Status::badRequest("a vhost has no " + std::string(roleName(role)) +
                              " key of its own (it uses its primary's); rotate the primary's");
  }
  auto old = keys_.find(role);
  if (old == keys_.end()) return Status::internal("no current " + std::string(roleName(role)) + " key");
  SigningKey fresh = SigningKey::generate();
  const SigningKey& signer = keys_.at(HostKeyRole::kHost);
  HostchainLink l = makeLink(&state_, state_.hostId, now, signer, {{role, &fresh}}, {old->second.publicKey()});
  auto r = extendHostchain(state_, l);
  if (!r.ok()) return Status::internal("rotation link does not replay: " + r.message);
  std::string path = keyPath(dir_, role);
  std::string newCa;
  if (role == HostKeyRole::kTlsCa) {
    auto ca = issueHostCaCertificate(fresh, state_.hostId);
    if (!ca) return ca.status();
    newCa = *ca;
  }
  KITH_RETURN_IF_ERROR(fresh.saveKeyFile(path + ".next"));
  chain_.push_back(l);
  HostState before = state_;
  state_ = r.state;
  if (Status st = saveChain(); !st.isOk()) {
    chain_.pop_back();
    state_ = std::move(before);
    return st;
  }
  if (std::rename((path + ".next").c_str(), path.c_str()) != 0) {
    return Status::fromErrno("rename " + path + ".next", errno);
  }
  if (!newCa.empty()) {
    KITH_RETURN_IF_ERROR(files::writeAtomic(dir_ + "/tls-ca.crt", newCa, 0644));
    tlsCaCertPem_ = newCa;
  }
  old->second = std::move(fresh);
  return Status::ok();
}

}  // namespace kith::identity
