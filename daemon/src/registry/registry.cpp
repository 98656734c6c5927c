#include "kith/daemon/registry/registry.h"

#include <sodium.h>

#include <algorithm>

#include "kith/common/clock.h"
#include "kith/common/encoding.h"
#include "kith/common/log.h"
#include "kith/daemon/broker/target.h"

namespace kith::daemon {

// Watches one process (pid + start time) for exit, shared by every
// registration that process holds.
class ProcessWatch {
 public:
  ProcessWatch(Registry& reg, api::ProcessPin pin)
      : reg_(reg), pin_(std::move(pin)), poll_(reg.loop_, pin_.pollFd()) {}
  Status start() {
    if (pin_.pollFd() < 0) return Status::ok();  // polled by the liveness timer
    return poll_.start(UV_READABLE, [this](int, int) {
      poll_.stop();
      reg_.onProcessExit(this);
    });
  }
  const api::ProcessPin& pin() const { return pin_; }
  void stop() { poll_.stop(); }

 private:
  Registry& reg_;
  api::ProcessPin pin_;
  Poll poll_;
};

namespace {

constexpr const char* kMod = "registry";

struct DeferredWatch : DeferredDeletable {
  explicit DeferredWatch(std::shared_ptr<ProcessWatch> w) : w(std::move(w)) {}
  std::shared_ptr<ProcessWatch> w;
};

Bytes hashToken(const Bytes& token) {
  Bytes h(crypto_generichash_BYTES);
  crypto_generichash(h.data(), h.size(), token.data(), token.size(), nullptr, 0);
  return h;
}

void hashField(crypto_generichash_state* st, std::string_view v) {
  // Length-prefixed so that no two field lists hash alike.
  uint64_t n = v.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  crypto_generichash_update(st, len, sizeof len);
  crypto_generichash_update(st, reinterpret_cast<const uint8_t*>(v.data()), v.size());
}

std::string spiffeIdFor(const std::string& td, const policy::Address& a) {
  std::string out = "spiffe://" + td;
  for (auto l : a.labels()) {
    out += '/';
    out += l;
  }
  return out;
}

std::string basename(const std::string& path) {
  auto s = path.rfind('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

}  // namespace

std::optional<uint16_t> Registration::targetPort() const {
  if (!hasTarget()) return std::nullopt;
  auto t = Target::parse(row.target);
  if (!t.isOk() || t->kind != Target::Kind::kTcp) return std::nullopt;
  return t->port;
}

Registry::Registry(Loop& loop, Store& store, Options options, const Clock& clock)
    : loop_(loop),
      store_(store),
      opts_(std::move(options)),
      clock_(clock),
      bootId_(api::bootId()),
      leaseTimer_(loop),
      livenessTimer_(loop) {
  livenessTimer_.start(500, 500, [this] {
    // Only needed where pidfds are missing; cheap otherwise (no watches to scan).
    std::vector<ProcessWatch*> dead;
    for (auto& [key, weak] : processes_) {
      auto w = weak.lock();
      if (w && w->pin().pollFd() < 0 && !w->pin().alive()) dead.push_back(w.get());
    }
    for (auto* w : dead) onProcessExit(w);
  });
  livenessTimer_.unref();
}

Registry::~Registry() { shutdown(); }

void Registry::shutdown() {
  if (shutDown_) return;
  shutDown_ = true;
  leaseTimer_.stop();
  livenessTimer_.stop();
  for (auto& [key, weak] : processes_) {
    if (auto w = weak.lock()) w->stop();
  }
  watchers_.clear();
}

const char* endReasonName(EndReason r) {
  switch (r) {
    case EndReason::kExit: return "exit";
    case EndReason::kExpired: return "expired";
    case EndReason::kDeregister: return "deregister";
    case EndReason::kReplaced: return "replaced";
  }
  return "deregister";
}

std::optional<EndReason> endReasonFromName(std::string_view name) {
  for (EndReason r : {EndReason::kExit, EndReason::kExpired, EndReason::kDeregister, EndReason::kReplaced}) {
    if (name == endReasonName(r)) return r;
  }
  return std::nullopt;
}

std::string Registry::tokenKey(const Bytes& h) const {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

Bytes Registry::identityHash(const WorkloadRow& row, std::string_view scope) const {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  hashField(&st, row.spiffeId);
  hashField(&st, row.app);
  hashField(&st, scope);
  hashField(&st, std::to_string(row.pid));
  hashField(&st, std::to_string(row.uid));
  hashField(&st, std::to_string(row.startTime));
  hashField(&st, opts_.machineIdentity);
  for (const auto& w : row.whitelist) hashField(&st, w);
  Bytes out(32);
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

std::shared_ptr<ProcessWatch> Registry::watchFor(pid_t pid, uint64_t startTime, Status* err) {
  auto key = std::make_pair(pid, startTime);
  if (auto it = processes_.find(key); it != processes_.end()) {
    if (auto w = it->second.lock()) return w;
  }
  auto pin = api::ProcessPin::repin(pid, startTime, bootId_);
  if (!pin.isOk()) {
    *err = Status(Code::kUnauthorized, "cannot attest the calling process: " + pin.status().message());
    return nullptr;
  }
  auto w = std::make_shared<ProcessWatch>(*this, std::move(pin).value());
  if (Status st = w->start(); !st.isOk()) {
    *err = st;
    return nullptr;
  }
  processes_[key] = w;
  return w;
}

Status Registry::restore() {
  auto rows = store_.loadWorkloads();
  if (!rows.isOk()) return rows.status();
  auto kvSeq = store_.getKv("origin_seq");
  if (kvSeq.isOk() && kvSeq->has_value()) seq_ = std::max<int64_t>(seq_, std::stoll(**kvSeq));
  size_t kept = 0, dropped = 0;
  for (auto& row : *rows) {
    seq_ = std::max(seq_, row.seq);
    auto addr = policy::Address::parse(row.address);
    std::vector<policy::Pattern> wl;
    bool okRow = addr.isOk() && addr->machine() == opts_.machine;
    for (const auto& w : row.whitelist) {
      auto p = policy::Pattern::parse(w);
      if (!p.isOk()) okRow = false; else wl.push_back(*p);
    }
    Status err;
    std::shared_ptr<ProcessWatch> watch;
    if (okRow && row.bootId == bootId_) watch = watchFor(row.pid, static_cast<uint64_t>(row.startTime), &err);
    if (!watch) {
      ++dropped;
      store_.deleteWorkload(row.address, [](Status) {});
      continue;
    }
    auto r = std::make_unique<Registration>(Registration{std::move(row), *addr, std::move(wl), watch});
    r->active = true;
    byToken_[tokenKey(r->row.tokenHash)] = r->row.address;
    setDeadline(*r, nowMs() + static_cast<uint64_t>(r->row.ttlMs));
    byAddress_[r->row.address] = std::move(r);
    ++kept;
  }
  log::info(kMod, "restored registrations", {{"kept", kept}, {"dropped", dropped}, {"seq", seq_}});
  return Status::ok();
}

Status Registry::registerWorkload(const Caller& caller, RegisterRequest req,
                                  std::function<void(Result<RegisterResult>)> done) {
  if (shutDown_) return Status::internal("daemon is shutting down");
  auto addr = policy::Address::fromName(req.name, opts_.machine);
  if (!addr.isOk()) {
    Code c = addr.status().code() == Code::kUnauthorized ? Code::kUnauthorized : Code::kBadRequest;
    return Status(c, "name: " + addr.status().message());
  }
  std::vector<policy::Pattern> wl;
  for (const auto& w : req.whitelist) {
    auto p = policy::Pattern::parse(w);
    if (!p.isOk()) return Status::badRequest("whitelist: " + p.status().message());
    wl.push_back(*p);
  }
  if (!req.target.empty()) {
    auto t = Target::parse(req.target);
    if (!t.isOk()) return t.status();
  } else if (req.proxyProtocol) {
    return Status::badRequest("proxy_protocol needs a target");
  }
  if (req.protocols.empty()) req.protocols = {"tcp"};
  for (const auto& p : req.protocols) {
    if (p != "tcp" && p != "udp") {
      return Status::badRequest("protocols: '" + p + "' is not one of tcp, udp");
    }
    if (p == "udp" && !req.target.empty()) {
      return Status::badRequest("a target carries tcp streams only; serve udp by listening through libkith");
    }
  }
  int64_t ttl = req.ttlMs == 0 ? opts_.defaultTtlMs : req.ttlMs;
  if (ttl < 1000 || ttl > opts_.maxTtlMs) {
    return Status::badRequest("ttl_ms must be between 1000 and " + std::to_string(opts_.maxTtlMs));
  }
  if (caller.cred.pid <= 0) return Status(Code::kUnauthorized, "the kernel did not report the caller's pid");

  const std::string& address = addr->str();
  if (auto it = byAddress_.find(address); it != byAddress_.end()) {
    Registration& old = *it->second;
    bool sameProcess = old.row.pid == caller.cred.pid &&
                       static_cast<uint64_t>(old.row.startTime) == caller.startTime;
    if (!old.active) {
      return Status(Code::kAlreadyRegistered, address + " is being registered by pid " +
                                                  std::to_string(old.row.pid));
    }
    if (!sameProcess && old.process->pin().alive()) {
      return Status(Code::kAlreadyRegistered,
                    address + " is held by live pid " + std::to_string(old.row.pid));
    }
    end(address, EndReason::kReplaced, nullptr);
  }

  Status err;
  auto watch = watchFor(caller.cred.pid, caller.startTime, &err);
  if (!watch) return err;

  Bytes token(32);
  randombytes_buf(token.data(), token.size());
  WorkloadRow row;
  row.address = address;
  row.spiffeId = spiffeIdFor(opts_.trustDomain, *addr);
  row.tokenHash = hashToken(token);
  row.uid = caller.cred.uid;
  row.gid = caller.cred.gid;
  row.pid = caller.cred.pid;
  row.startTime = static_cast<int64_t>(caller.startTime);
  row.bootId = bootId_;
  row.exe = caller.exe;
  row.app = req.app.empty() ? basename(caller.exe) : req.app;
  row.whitelist = std::move(req.whitelist);
  row.target = std::move(req.target);
  row.proxyProtocol = req.proxyProtocol;
  row.protocols = std::move(req.protocols);
  row.ttlMs = ttl;
  row.registeredAt = clock_.nowMicros();
  row.seq = ++seq_;
  row.identityHash = identityHash(row, addr->scope());

  auto r = std::make_unique<Registration>(Registration{row, *addr, std::move(wl), watch});
  r->connId = caller.connId;
  if (r->connId == 0) setDeadline(*r, nowMs() + static_cast<uint64_t>(ttl));
  std::string tk = tokenKey(row.tokenHash);
  byToken_[tk] = address;
  byAddress_[address] = std::move(r);

  RegisterResult result{address, row.spiffeId, toHex(row.identityHash), toHex(token), ttl};
  store_.putWorkload(std::move(row), [this, address, tk, result = std::move(result),
                                      done = std::move(done)](Status st) mutable {
    auto it = byAddress_.find(address);
    bool stillOurs = it != byAddress_.end() && tokenKey(it->second->row.tokenHash) == tk;
    if (!st.isOk()) {
      if (stillOurs) {
        clearDeadline(*it->second);
        byToken_.erase(tk);
        byAddress_.erase(it);
      }
      log::error(kMod, "registration not stored", {{"address", address}, {"error", st.toString()}});
      done(Status::internal("could not store the registration: " + st.message()));
      return;
    }
    if (!stillOurs) {
      done(Status(Code::kInvalidSource, address + " ended while it was being stored (process exited)"));
      return;
    }
    Registration& reg = *it->second;
    reg.active = true;
    ++stats_.registered;
    log::info(kMod, "registered", {{"address", address}, {"pid", reg.row.pid}, {"uid", reg.row.uid},
                                   {"exe", reg.row.exe}, {"spiffe_id", reg.row.spiffeId}});
    emit(RegistryEvent{RegistryEvent::Kind::kRegister, address, "", reg.row.spiffeId, EndReason::kDeregister,
                       clock_.nowMicros()});
    done(std::move(result));
  });
  return Status::ok();
}

Result<Registration*> Registry::authenticate(const std::string& token, uid_t uid) {
  auto raw = fromHex(token);
  if (!raw || raw->size() != 32) return Status::badRequest("token must be 64 hex digits");
  std::string tk = tokenKey(hashToken(*raw));
  auto it = byToken_.find(tk);
  if (it == byToken_.end()) {
    auto e = endedTokens_.find(tk);
    if (e != endedTokens_.end() && e->second) {
      return Status(Code::kTimeout, "the session's lease expired; register again");
    }
    return Status(Code::kInvalidSource, "the token names no registration");
  }
  Registration* r = byAddress_.at(it->second).get();
  if (r->row.uid != uid) {
    return Status(Code::kUnauthorized, "the token belongs to another uid");
  }
  if (!r->active) return Status(Code::kInvalidSource, "the registration is not yet durable");
  return r;
}

Result<int64_t> Registry::heartbeat(const std::string& token, uid_t uid) {
  auto r = authenticate(token, uid);
  if (!r.isOk()) return r.status();
  Registration& reg = **r;
  if (reg.connId == 0) setDeadline(reg, nowMs() + static_cast<uint64_t>(reg.row.ttlMs));
  return reg.row.ttlMs;
}

Status Registry::deregister(const std::string& token, uid_t uid, std::function<void(Status)> done) {
  auto r = authenticate(token, uid);
  if (!r.isOk()) return r.status();
  end((*r)->row.address, EndReason::kDeregister, std::move(done));
  return Status::ok();
}

void Registry::end(const std::string& address, EndReason why, std::function<void(Status)> done) {
  auto it = byAddress_.find(address);
  if (it == byAddress_.end()) {
    if (done) done(Status::ok());
    return;
  }
  std::unique_ptr<Registration> r = std::move(it->second);
  byAddress_.erase(it);
  clearDeadline(*r);
  std::string tk = tokenKey(r->row.tokenHash);
  byToken_.erase(tk);
  endedTokens_[tk] = why == EndReason::kExpired;
  endedOrder_.push_back(tk);
  while (endedOrder_.size() > opts_.maxEndedTokens) {
    endedTokens_.erase(endedOrder_.front());
    endedOrder_.pop_front();
  }
  ++stats_.ended;
  if (why == EndReason::kExpired) ++stats_.expired;
  if (why == EndReason::kExit) ++stats_.exited;
  if (why != EndReason::kReplaced) {
    store_.putKv("origin_seq", std::to_string(++seq_), [](Status) {});
    store_.deleteWorkload(address, [done = std::move(done), address](Status st) {
      if (!st.isOk()) {
        log::error(kMod, "deregistration not stored", {{"address", address}, {"error", st.toString()}});
      }
      if (done) done(st.isOk() ? st : Status::internal("could not store the deregistration: " + st.message()));
    });
  } else if (done) {
    done(Status::ok());
  }
  if (r->active) {
    log::info(kMod, "deregistered", {{"address", address}, {"reason", endReasonName(why)}});
    emit(RegistryEvent{RegistryEvent::Kind::kDeregister, address, "", "", why, clock_.nowMicros()});
  }
  // r (and possibly the last reference to its ProcessWatch) dies here; a watch
  // whose own callback is running is kept alive by onProcessExit.
}

void Registry::onProcessExit(ProcessWatch* w) {
  std::shared_ptr<ProcessWatch> keep;
  for (auto& [key, weak] : processes_) {
    auto s = weak.lock();
    if (s.get() == w) keep = s;
  }
  if (!keep) return;
  processes_.erase(std::make_pair(keep->pin().pid(), keep->pin().startTime()));
  keep->stop();
  std::vector<std::string> gone;
  for (auto& [addr, r] : byAddress_) {
    if (r->process == keep) gone.push_back(addr);
  }
  for (auto& a : gone) end(a, EndReason::kExit, nullptr);
  // Never destroy the watch inside its own callback.
  loop_.deferredDelete(std::make_unique<DeferredWatch>(std::move(keep)));
}

void Registry::setDeadline(Registration& r, uint64_t deadline) {
  clearDeadline(r);
  r.leaseDeadline = deadline;
  deadlines_.insert({deadline, r.row.address});
  armLeaseTimer();
}

void Registry::clearDeadline(Registration& r) {
  if (r.leaseDeadline != 0) deadlines_.erase({r.leaseDeadline, r.row.address});
  r.leaseDeadline = 0;
}

void Registry::armLeaseTimer() {
  if (shutDown_) return;
  if (deadlines_.empty()) {
    leaseTimer_.stop();
    return;
  }
  uint64_t now = nowMs();
  uint64_t first = deadlines_.begin()->first;
  leaseTimer_.start(first > now ? first - now : 0, 0, [this] { expireLeases(); });
}

void Registry::expireLeases() {
  uint64_t now = nowMs();
  std::vector<std::string> expired;
  for (auto it = deadlines_.begin(); it != deadlines_.end() && it->first <= now; ++it) {
    expired.push_back(it->second);
  }
  for (auto& a : expired) end(a, EndReason::kExpired, nullptr);
  armLeaseTimer();
}

const Registration* Registry::find(const std::string& address) const {
  auto it = byAddress_.find(address);
  return it == byAddress_.end() || !it->second->active ? nullptr : it->second.get();
}

Registration* Registry::findMutable(const std::string& address) {
  auto it = byAddress_.find(address);
  return it == byAddress_.end() || !it->second->active ? nullptr : it->second.get();
}

std::vector<const Registration*> Registry::match(const policy::Pattern& p) const {
  std::vector<const Registration*> out;
  if (p.isExact()) {
    if (auto* r = find(p.str())) out.push_back(r);
    return out;
  }
  for (const auto& [addr, r] : byAddress_) {
    if (r->active && p.matches(r->address)) out.push_back(r.get());
  }
  return out;
}

std::vector<const Registration*> Registry::all() const {
  std::vector<const Registration*> out;
  for (const auto& [addr, r] : byAddress_) {
    if (r->active) out.push_back(r.get());
  }
  return out;
}

void Registry::connectionClosed(uint64_t connId) {
  if (connId == 0) return;
  uint64_t now = nowMs();
  for (auto& [addr, r] : byAddress_) {
    if (r->listenerConnId == connId) r->listenerConnId = 0;
    if (r->connId == connId) {
      r->connId = 0;
      setDeadline(*r, now + static_cast<uint64_t>(r->row.ttlMs));
    }
  }
}

Status Registry::setListener(Registration* r, uint64_t connId) {
  if (r->hasTarget()) {
    return Status::badRequest(r->row.address + " has a target; the daemon dials it, it cannot listen");
  }
  r->listenerConnId = connId;
  return Status::ok();
}

uint64_t Registry::addWatcher(WatchFn fn, uint8_t interest) {
  uint64_t id = nextWatcher_++;
  watchers_[id] = Watcher{std::make_shared<const WatchFn>(std::move(fn)), interest};
  return id;
}

void Registry::removeWatcher(uint64_t id) { watchers_.erase(id); }

bool Registry::wantsRemote(Interest kind) const {
  for (const auto& [id, w] : watchers_) {
    if (w.interest & kind) return true;
  }
  return false;
}

void Registry::emit(const Event& ev) {
  uint8_t kind = ev.local() ? kLocalEvents : ev.isRegister() ? kRemoteRegisters : kRemoteDeregisters;
  // Copy first: a watcher may remove itself (or others) while notified.
  std::vector<std::pair<uint64_t, std::shared_ptr<const WatchFn>>> targets;
  for (const auto& [id, w] : watchers_) {
    if (w.interest & kind) targets.emplace_back(id, w.fn);
  }
  for (const auto& [id, fn] : targets) {
    if (!watchers_.count(id)) continue;  // removed by an earlier watcher
    (*fn)(ev);
  }
}

}  // namespace kith::daemon
