#include "kith/daemon/replication/replicator.h"

#include <algorithm>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/json.h"
#include "kith/common/log.h"
#include "kith/daemon/broker/target.h"
#include "kith/identity/spiffe.h"
#include "kith/replication/record.h"
#include "kith/replication/signer.h"
#include "kith/replication/version_vector.h"
#include "kith/replication/zone_digest.h"

namespace kith::daemon {
namespace {

namespace rep = kith::replication;
using nlohmann::json;

constexpr const char* kMod = "replication";
// How long the ACKs of a published record are tracked when nobody waits for them.
constexpr uint64_t kUnclaimedWaitMs = 30000;

std::string slotOf(const rep::Record& r) {
  if (r.objtype == rep::ObjType::kGone) return "srv";
  return std::string(rep::objTypeName(r.objtype));
}

std::vector<std::string> splitCsv(const std::string& s) {
  std::vector<std::string> out;
  if (s == rep::kNone) return out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

// tcp://HOST:PORT with PORT 1..65535: an endpoint worth dialling (a peer
// that bound port 0 and advertised it unresolved is not).
bool dialableEndpoint(const std::string& ep) {
  if (ep.rfind("tcp://", 0) != 0) return false;
  size_t colon = ep.rfind(':');
  if (colon == std::string::npos || colon < 6 || colon + 1 >= ep.size() || ep.size() - colon - 1 > 5) return false;
  uint32_t port = 0;
  for (size_t i = colon + 1; i < ep.size(); ++i) {
    if (ep[i] < '0' || ep[i] > '9') return false;
    port = port * 10 + static_cast<uint32_t>(ep[i] - '0');
  }
  return port >= 1 && port <= 65535;
}

std::string targetKindOf(const WorkloadRow& row) {
  if (row.target.empty()) return "listen";
  return row.target.rfind("unix:", 0) == 0 ? "unix" : "tcp";
}

}  // namespace

Replicator::Replicator(Loop& loop, Store& store, Registry& registry, const identity::SigningKey& nodeKey,
                       ReplicatorOptions opts)
    : loop_(loop),
      store_(store),
      registry_(registry),
      nodeKey_(nodeKey.clone()),
      opts_(std::move(opts)),
      verifier_(opts_.trustDomain, opts_.rootKey),
      alive_(std::make_shared<bool>(true)),
      antiEntropyTimer_(loop),
      reapTimer_(loop) {}

Result<std::unique_ptr<Replicator>> Replicator::create(Loop& loop, Store& store, Registry& registry,
                                                       const identity::SigningKey& nodeKey,
                                                       ReplicatorOptions opts) {
  std::unique_ptr<Replicator> r(new Replicator(loop, store, registry, nodeKey, std::move(opts)));
  // Our own deleg must verify against the root we trust, and name our key.
  auto deleg = rep::parseSigned(r->opts_.delegLine);
  if (!deleg.isOk()) return Status::config("deleg record: " + deleg.status().message());
  if (Status st = r->verifier_.addDeleg(*deleg, r->now()); !st.isOk()) {
    return Status::config("our deleg record does not verify against the trust bundle: " + st.message());
  }
  auto key = rep::delegKey(*deleg);
  if (deleg->subject != r->opts_.machine || !key.isOk() || *key != r->nodeKey_.publicKey()) {
    return Status::config("the deleg record is for another machine or key");
  }
  r->records_.offer(*deleg);
  r->pool_ = std::make_unique<rep::SignaturePool>();
  KITH_RETURN_IF_ERROR(r->restore());
  // Per-origin seq: never below what we published before, and time-based so a
  // lost database cannot make us reuse seqs that peers still hold.
  r->seq_ = std::max<uint64_t>(r->records_.maxSeq(r->opts_.machine),
                               static_cast<uint64_t>(systemClock().nowMicros()));
  KITH_RETURN_IF_ERROR(r->startTransport());
  r->watcher_ = registry.addWatcher([raw = r.get()](const Registry::Event& ev) { raw->publishLocal(ev); },
                                    Registry::kLocalEvents);
  // Publish what is registered now (restored leases) under fresh seqs.
  for (const Registration* reg : registry.all()) {
    r->publishRegistration(reg->row.address);
  }
  r->antiEntropyTimer_.start(static_cast<uint64_t>(r->opts_.antiEntropyMs),
                             static_cast<uint64_t>(r->opts_.antiEntropyMs), [raw = r.get()] { raw->antiEntropy(); });
  r->reapTimer_.start(5000, 5000, [raw = r.get()] {
    raw->reap();
    raw->refreshOwn();
    raw->sweepWaits();
  });
  return r;
}

Replicator::~Replicator() { stop(); }

void Replicator::stop() {
  *alive_ = false;
  if (watcher_) registry_.removeWatcher(watcher_);
  watcher_ = 0;
  antiEntropyTimer_.stop();
  reapTimer_.stop();
  if (transport_) transport_->stop();
  pool_.reset();  // joins its workers; their late verdicts find alive_ false
  batches_.clear();
  for (auto& [seq, w] : waits_) {
    if (w.timer) w.timer->stop();
  }
}

int64_t Replicator::now() const { return systemClock().nowMicros() / 1'000'000; }

uint64_t Replicator::nextSeq() {
  seq_ = std::max(seq_ + 1, static_cast<uint64_t>(systemClock().nowMicros()));
  return seq_;
}

const std::string& Replicator::endpoint() const { return endpoint_; }

std::string Replicator::nodeKeyHex() const {
  return toHex(nodeKey_.publicKey().data(), nodeKey_.publicKey().size());
}

Status Replicator::restore() {
  auto rows = store_.loadRecords();
  if (!rows.isOk()) return rows.status();
  // Delegs first: they are what every other record verifies against.
  std::vector<rep::Record> rest;
  size_t kept = 0, dropped = 0;
  int64_t t = now();
  for (auto& row : *rows) {
    auto rec = rep::parseSignedTaking(std::move(row.line));
    if (!rec.isOk()) {
      ++dropped;
      store_.deleteRecord(row.zone, row.subject, row.slot, [](Status) {});
      continue;
    }
    if (rec->objtype == rep::ObjType::kDeleg) {
      if (verifier_.addDeleg(*rec, t).isOk()) {
        records_.offer(*rec);
        ++kept;
      } else {
        ++dropped;
        store_.deleteRecord(row.zone, row.subject, row.slot, [](Status) {});
      }
    } else {
      rest.push_back(std::move(rec).value());
    }
  }
  // Each row's signature was checked when it arrived (or vouched for by its
  // shard's seal, or it is our own), and the database is ours (0600, like
  // the node key beside it): every rule but the signature is applied again —
  // delegs against the root key (above), the zone's deleg held, windows,
  // zones — but not 100,000 Ed25519 checks, which kept a restarted daemon
  // from serving for seconds.
  for (auto& rec : rest) {
    rep::SignatureCheck check;
    Status st = verifier_.precheck(rec, &check, nullptr, /*withInput=*/false);
    if (st.isOk()) st = verifier_.conclude(rec, check, /*signatureValid=*/true, t);
    if (!st.isOk()) {
      ++dropped;
      store_.deleteRecord(rec.zone, rec.subject, slotOf(rec), [](Status) {});
      continue;
    }
    std::optional<rep::Record> prev;
    const rep::Record* held = nullptr;
    // Rows are unique per (zone, subject, slot): each is stored, none replays.
    records_.offer(std::move(rec), &prev, &held);
    if (held != nullptr) absorb(*held, prev, /*announce=*/false);
    ++kept;
  }
  log::info(kMod, "restored records", {{"kept", kept}, {"dropped", dropped}});
  return Status::ok();
}

rep::Message Replicator::hello() const {
  return rep::Message{std::string(rep::kHello),
                      {opts_.delegLine, infraLine_, rep::encodeVersionVector(records_.versionVector())}};
}

Status Replicator::startTransport() {
  rep::TransportConfig tc;
  tc.machine = opts_.machine;
  tc.bind_endpoint = opts_.listen;
  tc.membership.heartbeat_ms = opts_.heartbeatMs;
  tc.membership.down_after_ms = opts_.downAfterMs;
  // The HELLO gate runs on the replication thread: it uses its own verifier
  // (immutable root key and trust domain), never the loop's state.
  std::string td = opts_.trustDomain;
  identity::PublicKey root = opts_.rootKey;
  tc.verify_hello = [td, root](const rep::Message& m) -> Result<rep::PeerIdentity> {
    if (m.frames.size() != 3) return Status::badRequest("HELLO needs 3 frames");
    rep::Verifier v(td, root);
    auto deleg = rep::parseSigned(m.frames[0]);
    if (!deleg.isOk()) return deleg.status();
    int64_t t = systemClock().nowMicros() / 1'000'000;
    KITH_RETURN_IF_ERROR(v.addDeleg(*deleg, t));
    auto infra = rep::parseSigned(m.frames[1]);
    if (!infra.isOk()) return infra.status();
    KITH_RETURN_IF_ERROR(v.verify(*infra, t));
    if (infra->zone != deleg->subject) return Status::badRequest("HELLO infra is for another machine");
    auto key = rep::delegKey(*deleg);
    if (!key.isOk()) return key.status();
    return rep::PeerIdentity{deleg->subject, *key};
  };
  // A provisional infra (the real endpoint is known once bound).
  {
    rep::Record infra = rep::makeInfra(opts_.trustDomain, opts_.machine, nextSeq(), opts_.listen, brokerValue());
    KITH_RETURN_IF_ERROR(rep::sign(infra, nodeKey_, now() - 60, now() + opts_.recordValiditySec));
    infraLine_ = infra.line;
  }
  tc.hello = hello();
  std::weak_ptr<bool> alive = alive_;
  auto t = rep::Transport::start(nodeKey_, std::move(tc), [this, alive](rep::Event ev) {
    // Replication thread: hop to the loop.
    loop_.post([this, alive, ev = std::move(ev)]() mutable {
      auto a = alive.lock();
      if (a && *a) onEvent(std::move(ev));
    });
  });
  if (!t.isOk()) return t.status();
  transport_ = std::move(t).value();
  endpoint_ = transport_->endpoint();
  rep::Record infra = rep::makeInfra(opts_.trustDomain, opts_.machine, nextSeq(), endpoint_, brokerValue());
  KITH_RETURN_IF_ERROR(rep::sign(infra, nodeKey_, now() - 60, now() + opts_.recordValiditySec));
  infraLine_ = infra.line;
  records_.offer(infra);
  persist(infra);
  KITH_RETURN_IF_ERROR(transport_->setHello(hello()));
  for (const auto& seed : opts_.seeds) {
    auto eq = seed.find('='), at = seed.find('@');
    auto key = fromHex(seed.substr(eq + 1, at - eq - 1));
    if (eq == std::string::npos || at == std::string::npos || !key || key->size() != 32) continue;
    identity::PublicKey pk{};
    std::copy(key->begin(), key->end(), pk.begin());
    std::string machine = seed.substr(0, eq);
    if (machine == opts_.machine) continue;
    Status st = transport_->addPeer(machine, seed.substr(at + 1), pk);
    if (st.isOk()) dialled_.insert(machine);
    else log::warn(kMod, "seed not usable", {{"seed", seed}, {"error", st.message()}});
  }
  log::info(kMod, "replicating", {{"endpoint", endpoint_}, {"seeds", opts_.seeds.size()},
                                  {"node_key", nodeKeyHex()}});
  return Status::ok();
}

RecordRow Replicator::rowOf(const rep::Record& r) {
  return RecordRow{r.zone, r.subject, slotOf(r), static_cast<int64_t>(r.seq), r.line, r.validUntil};
}

bool Replicator::persist(const rep::Record& r, std::function<void()> afterCommit) {
  if (r.seq > static_cast<uint64_t>(INT64_MAX)) return false;  // never produced by kith; not storable
  store_.putRecord(rowOf(r),
                   [after = std::move(afterCommit)](Status st) {
                     if (!st.isOk()) log::error(kMod, "record not stored", {{"error", st.toString()}});
                     if (after) after();
                   });
  return true;
}

void Replicator::publishLocal(const Registry::Event& ev) {
  if (ev.isRegister()) return publishRegistration(ev.address);
  publish(rep::makeGone(opts_.trustDomain, opts_.machine, ev.address, nextSeq(), endReasonName(ev.reason)));
}

void Replicator::publishRegistration(const std::string& address) {
  const Registration* reg = registry_.find(address);
  if (!reg) return;
  publish(rep::makeSrv(opts_.trustDomain, opts_.machine, address, nextSeq(), reg->row.protocols,
                       targetKindOf(reg->row), reg->row.whitelist, toHex(reg->row.identityHash)));
}

void Replicator::publish(rep::Record r) {
  if (Status st = rep::sign(r, nodeKey_, now() - 60, now() + opts_.recordValiditySec); !st.isOk()) {
    log::error(kMod, "cannot sign a record", {{"subject", r.subject}, {"error", st.message()}});
    return;
  }
  records_.offer(r);
  persist(r);
  if (r.objtype == rep::ObjType::kSrv || r.objtype == rep::ObjType::kGone) lastSeqOf_[r.subject] = r.seq;
  ++stats_.published;
  // Who should ACK it: every peer up now.
  AckWait w;
  for (const auto& p : transport_->peers()) {
    if (p.up) w.waiting.insert(p.machine);
  }
  w.peers = w.waiting.size();
  // Unclaimed waits are dropped by the sweep (one timer for all of them).
  w.expiresMs = loop_.nowMs() + kUnclaimedWaitMs;
  waits_[r.seq] = std::move(w);
  (void)transport_->broadcast(rep::Message{std::string(rep::kRecords), {r.line}});
}

void Replicator::sweepWaits() {
  uint64_t now = loop_.nowMs();
  std::vector<uint64_t> stale;
  for (const auto& [seq, w] : waits_) {
    if (!w.done && w.expiresMs <= now) stale.push_back(seq);
  }
  for (uint64_t seq : stale) finishWait(seq);
}

void Replicator::waitForAcks(const std::string& address, uint64_t timeoutMs,
                             std::function<void(size_t, size_t)> done) {
  auto it = lastSeqOf_.find(address);
  if (it == lastSeqOf_.end() || !waits_.count(it->second)) return done(0, 0);
  uint64_t seq = it->second;
  AckWait& w = waits_[seq];
  if (w.waiting.empty()) {
    size_t peers = w.peers;
    return done(peers, peers);
  }
  w.done = std::move(done);
  // Only a wait somebody is answered from gets a timer of its own.
  w.timer = std::make_unique<Timer>(loop_);
  w.timer->start(timeoutMs, 0, [this, seq] { finishWait(seq); });
}

void Replicator::finishWait(uint64_t seq) {
  auto it = waits_.find(seq);
  if (it == waits_.end()) return;
  AckWait w = std::move(it->second);
  waits_.erase(it);
  if (w.timer) {
    w.timer->stop();
    struct Deferred : DeferredDeletable {
      std::unique_ptr<Timer> t;
    };
    auto d = std::make_unique<Deferred>();
    d->t = std::move(w.timer);
    loop_.deferredDelete(std::move(d));
  }
  if (w.done) w.done(w.peers - w.waiting.size(), w.peers);
}

void Replicator::onEvent(rep::Event ev) {
  using K = rep::Event::Kind;
  switch (ev.kind) {
    case K::kMessage:
      if (ev.message.type == rep::kHello) onHello(ev.machine, ev.message);
      else if (ev.message.type == rep::kRecords) onRecords(ev.machine, std::move(ev.message));
      else if (ev.message.type == rep::kPull) onPull(ev.machine, ev.message);
      else if (ev.message.type == rep::kAck) onAck(ev.machine, ev.message);
      break;
    case K::kPeerUp:
      log::info(kMod, "peer up", {{"peer", ev.machine}});
      break;
    case K::kPeerDown: {
      log::warn(kMod, "peer down", {{"peer", ev.machine}});
      // Nobody waits for a peer that is gone.
      std::vector<uint64_t> done;
      for (auto& [seq, w] : waits_) {
        if (w.waiting.erase(ev.machine) && w.waiting.empty() && w.done) done.push_back(seq);
      }
      for (auto seq : done) finishWait(seq);
      break;
    }
    case K::kHelloRejected:
      log::warn(kMod, "peer refused", {{"peer", ev.machine}, {"why", ev.why}});
      break;
  }
}

void Replicator::onHello(const std::string& machine, const rep::Message& m) {
  // Verified by the gate already; take its deleg and infra as records too.
  int64_t t = now();
  std::vector<Fresh> fresh;
  for (size_t i = 0; i < 2 && i < m.frames.size(); ++i) {
    auto parsed = rep::parseSigned(m.frames[i]);
    if (!parsed.isOk()) continue;
    Status st = parsed->objtype == rep::ObjType::kDeleg ? verifier_.addDeleg(*parsed, t)
                                                        : verifier_.verify(*parsed, t);
    if (!st.isOk()) continue;
    std::optional<rep::Record> prev;
    auto outcome = records_.offer(*parsed, &prev);
    if (outcome == rep::RecordSet::Outcome::kStored || outcome == rep::RecordSet::Outcome::kReplaced) {
      persist(*parsed);
      absorb(*parsed, prev, true);
      fresh.push_back({parsed->zone, parsed->line, parsed->objtype == rep::ObjType::kDeleg});
    }
  }
  forward(machine, std::move(fresh));
  // (Re)connected: pull what we miss.
  if (pullNow(machine, /*onHello=*/true)) (void)transport_->send(machine, pullMessage());
}

void Replicator::forward(const std::string& from, std::vector<Fresh> fresh) {
  if (fresh.empty() || !transport_) return;
  // Each record travels with its zone's deleg, so a peer that never met that
  // zone can verify it at once (a deleg it holds is a cheap replay). Delegs
  // go first: the receiver verifies the rest against them.
  std::set<std::string> zones, delegsSent;
  for (const auto& f : fresh) {
    if (f.deleg) delegsSent.insert(f.line);
    else zones.insert(f.zone);
  }
  std::vector<std::string> lines;
  lines.reserve(fresh.size() + zones.size());
  for (const auto& z : zones) {
    const rep::Record* d = records_.find(rep::kRootZone, z, rep::ObjType::kDeleg);
    if (d && !delegsSent.count(d->line)) lines.push_back(d->line);
  }
  for (auto& f : fresh) lines.push_back(std::move(f.line));
  std::vector<const std::string*> refs;
  refs.reserve(lines.size());
  for (const auto& l : lines) refs.push_back(&l);
  for (const auto& p : transport_->peers()) {
    if (!p.up || p.machine == from) continue;
    sendLines(p.machine, refs, false);
  }
}

void Replicator::onAck(const std::string& machine, const rep::Message& m) {
  std::vector<uint64_t> done;
  // The frames a daemon writes ({"zone":"Z","seq":N}, receive's ackFrame)
  // are read without a JSON parser: a catch-up ACKs every record. Anything
  // else goes through the parser.
  const std::string prefix = "{\"zone\":\"" + opts_.machine + "\",\"seq\":";
  for (const auto& f : m.frames) {
    uint64_t seq = 0;
    std::string_view digits;
    if (f.size() > prefix.size() + 1 && f.compare(0, prefix.size(), prefix) == 0 && f.back() == '}') {
      digits = std::string_view(f).substr(prefix.size(), f.size() - prefix.size() - 1);
    }
    if (auto n = rep::parseDecimal(digits); !digits.empty() && n) {
      seq = *n;
    } else {
      auto j = parseJson(f);
      if (!j.is_object() || j.value("zone", "") != opts_.machine || !j.contains("seq") ||
          !j["seq"].is_number_unsigned()) {
        continue;
      }
      seq = j["seq"].get<uint64_t>();
    }
    ++stats_.acks;
    auto it = waits_.find(seq);
    if (it == waits_.end()) continue;
    if (it->second.waiting.erase(machine) && it->second.waiting.empty() && it->second.done) done.push_back(seq);
  }
  for (auto seq : done) finishWait(seq);
}

void Replicator::absorb(const rep::Record& r, const std::optional<rep::Record>& previous, bool announce) {
  if (r.objtype == rep::ObjType::kDeleg) {
    if (r.subject != opts_.machine) redialOnNewKey(r, previous);
    return;
  }
  if (r.zone == opts_.machine) return;
  if (r.objtype == rep::ObjType::kInfra && transport_) {
    // A verified infra names where its machine listens: dial it.
    const auto* key = verifier_.nodeKey(r.zone);
    const std::string& ep = r.values[rep::kInfraReplication];
    if (key && dialableEndpoint(ep) &&
        (!dialled_.count(r.zone) || !previous || previous->values[rep::kInfraReplication] != ep)) {
      if (transport_->addPeer(r.zone, ep, *key).isOk()) dialled_.insert(r.zone);
    }
    return;
  }
  if (r.objtype == rep::ObjType::kSrv) remoteSrv_[r.subject] = r.zone;
  if (r.objtype == rep::ObjType::kGone) remoteSrv_.erase(r.subject);
  if (!announce) return;
  if (r.objtype == rep::ObjType::kSrv && registry_.wantsRemote(Registry::kRemoteRegisters)) {
    auto spiffe = identity::spiffeIdForAddress(opts_.trustDomain, r.subject);
    registry_.notifyRemote(RegistryEvent{RegistryEvent::Kind::kRegister, r.subject, r.zone,
                                         spiffe.isOk() ? *spiffe : std::string(), EndReason::kDeregister,
                                         systemClock().nowMicros()});
  } else if (r.objtype == rep::ObjType::kGone && previous && previous->objtype == rep::ObjType::kSrv &&
             registry_.wantsRemote(Registry::kRemoteDeregisters)) {
    // The record parser admits the four reasons only.
    EndReason why = endReasonFromName(r.values[rep::kGoneReason]).value_or(EndReason::kDeregister);
    registry_.notifyRemote(RegistryEvent{RegistryEvent::Kind::kDeregister, r.subject, r.zone, "", why,
                                         systemClock().nowMicros()});
  }
}

void Replicator::reap() {
  for (const auto& r : records_.reapExpired(now())) {
    store_.deleteRecord(r.zone, r.subject, slotOf(r), [](Status) {});
    if (r.objtype == rep::ObjType::kSrv && r.zone != opts_.machine) {
      remoteSrv_.erase(r.subject);
      registry_.notifyRemote(RegistryEvent{RegistryEvent::Kind::kDeregister, r.subject, r.zone, "",
                                           EndReason::kExpired, systemClock().nowMicros()});
    }
  }
  (void)verifier_.reapExpired(now());
}

void Replicator::refreshOwn() {
  // Re-sign our records before half their validity is gone, so peers never
  // expire a live registration.
  int64_t t = now();
  std::vector<std::string> stale;
  for (const rep::Record* r : records_.byZone(opts_.machine)) {
    if (r->objtype == rep::ObjType::kSrv && r->validUntil - t < opts_.recordValiditySec / 2) {
      stale.push_back(r->subject);
    }
  }
  for (const auto& address : stale) publishRegistration(address);
  auto* infra = records_.find(opts_.machine, opts_.machine, rep::ObjType::kInfra);
  if (infra && infra->validUntil - t < opts_.recordValiditySec / 2) {
    rep::Record fresh = rep::makeInfra(opts_.trustDomain, opts_.machine, nextSeq(), endpoint_, brokerValue());
    if (rep::sign(fresh, nodeKey_, t - 60, t + opts_.recordValiditySec).isOk()) {
      infraLine_ = fresh.line;
      records_.offer(fresh);
      persist(fresh);
      (void)transport_->setHello(hello());
      (void)transport_->broadcast(rep::Message{std::string(rep::kRecords), {fresh.line}});
    }
  }
}

std::vector<RemoteWorkload> Replicator::match(const policy::Pattern& p) const {
  std::vector<RemoteWorkload> out;
  auto add = [&](const std::string& address, const std::string& zone) {
    const rep::Record* r = records_.find(zone, address, rep::ObjType::kSrv);
    if (!r || r->objtype != rep::ObjType::kSrv) return;
    if (auto w = remoteOf(*r)) out.push_back(std::move(*w));
  };
  if (p.isExact()) {
    // An address: one lookup, whatever the number of records.
    if (auto it = remoteSrv_.find(p.str()); it != remoteSrv_.end()) add(it->first, it->second);
    return out;
  }
  for (const auto& [address, zone] : remoteSrv_) {  // address order already
    auto a = policy::Address::parse(address);
    if (a.isOk() && p.matches(*a)) add(address, zone);
  }
  return out;
}

std::optional<RemoteWorkload> Replicator::remoteOf(const rep::Record& r) {
  auto address = policy::Address::parse(r.subject);
  if (!address.isOk()) return std::nullopt;  // the verifier admits srv records of valid addresses only
  RemoteWorkload w{std::move(address).value(), r.zone, splitCsv(r.values[rep::kSrvProtocols]),
                   r.values[rep::kSrvTargetKind], {}};
  const std::string& wl = r.values[rep::kSrvWhitelist];
  if (wl != "-") {
    for (const auto& text : splitCsv(wl)) {
      // A pattern this daemon cannot read admits nobody: dropped, as before.
      if (auto p = policy::Pattern::parse(text); p.isOk()) w.whitelist.push_back(std::move(p).value());
    }
  }
  return w;
}

std::optional<RemoteWorkload> Replicator::find(const std::string& address) const {
  auto a = policy::Address::parse(address);
  if (!a.isOk()) return std::nullopt;
  std::string machine(a->machine());
  if (machine == opts_.machine) return std::nullopt;
  const rep::Record* r = records_.find(machine, address, rep::ObjType::kSrv);
  if (r == nullptr) return std::nullopt;
  return remoteOf(*r);
}

std::optional<std::string> Replicator::tunnelEndpointOf(const std::string& machine) const {
  const rep::Record* r = records_.find(machine, machine, rep::ObjType::kInfra);
  if (r == nullptr || r->values.size() <= rep::kInfraBroker || r->values[rep::kInfraBroker] == "-") {
    return std::nullopt;
  }
  return r->values[rep::kInfraBroker];
}

void Replicator::recheck(const std::string& machine) {
  reap();
  if (!transport_) return;
  for (const auto& p : transport_->peers()) {
    if (p.machine == machine && p.up) {
      (void)transport_->send(machine, pullMessage());
      ++stats_.pulls;
    }
  }
}

json Replicator::peersJson() const {
  json list = json::array();
  if (!transport_) return list;
  int64_t mono = systemClock().monotonicMillis();
  for (const auto& p : transport_->peers()) {
    list.push_back({{"machine", p.machine},
                    {"endpoint", p.endpoint},
                    {"node_key", p.nodeKeyHex},
                    {"state", p.up ? "up" : "down"},
                    {"last_seen_ms_ago", p.lastSeenMs > 0 ? mono - p.lastSeenMs : -1},
                    {"rtt_ms", p.rttMs},
                    {"links", p.links},
                    {"encrypted", p.encrypted},
                    {"records", records_.zoneSize(p.machine)},
                    {"messages_in", p.messagesIn},
                    {"messages_out", p.messagesOut}});
  }
  return list;
}

json Replicator::recordsJson() const {
  json list = json::array();
  for (const rep::Record* r : records_.all()) list.push_back(r->line);
  return list;
}

json Replicator::statsJson() const {
  return {{"endpoint", endpoint_},
          {"node_key", nodeKeyHex()},
          {"records", records_.size()},
          {"zones", records_.zoneCount()},
          {"published", stats_.published},
          {"received", stats_.received},
          {"stored", stats_.stored},
          {"replayed", stats_.replayed},
          {"rolled_back", stats_.rolledBack},
          {"rejected", stats_.rejected},
          {"acks", stats_.acks},
          {"pulls", stats_.pulls},
          {"pulls_skipped", stats_.pullsSkipped},
          {"signatures_checked_inline", stats_.checkedInline},
          {"signatures_checked_in_pool", stats_.checkedInPool},
          {"signatures_vouched_by_shard", stats_.vouchedBySeal},
          {"shards_sent", stats_.shardsSent},
          {"shards_accepted", stats_.shardsAccepted},
          {"shards_refused", stats_.shardsRefused},
          {"verify_threads", pool_ ? pool_->threads() : 0},
          {"zone_resends", stats_.zoneResends},
          {"rejected_by_reason", verifier_.rejected()},
          {"transport", transportStatsJson()}};
}

json Replicator::transportStatsJson() const {
  if (!transport_) return nullptr;
  rep::TransportStats t = transport_->stats();
  return {{"messages_in", t.messages_in},
          {"messages_out", t.messages_out},
          {"send_dropped", t.send_dropped},
          {"unverified_dropped", t.unverified_dropped},
          {"malformed", t.malformed_total},
          {"hello_rejected", t.hello_rejected}};
}

}  // namespace kith::daemon
