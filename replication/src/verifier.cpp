#include "kith/replication/verifier.h"

#include <utility>

#include "kith/common/clock.h"

namespace kith::replication {
namespace {

// "srv dev.web.a.default.node1 seq 7 of zone node1", at most ~200 bytes.
std::string describe(const Record& r) {
  auto clip = [](std::string_view s) {
    return std::string(s.substr(0, 80)) + (s.size() > 80 ? "..." : "");
  };
  return std::string(objTypeName(r.objtype)) + " " + clip(r.subject) + " seq " +
         std::to_string(r.seq) + " of zone " + clip(r.zone);
}

}  // namespace

std::string_view rejectionName(Rejection r) {
  switch (r) {
    case Rejection::kMalformed: return "malformed";
    case Rejection::kWrongContext: return "wrong_context";
    case Rejection::kUnknownZone: return "unknown_zone";
    case Rejection::kBadSignature: return "bad_signature";
    case Rejection::kOutOfZone: return "out_of_zone";
    case Rejection::kExpired: return "expired";
    case Rejection::kNotYetValid: return "not_yet_valid";
    case Rejection::kReplayed: return "replayed";
    case Rejection::kRolledBack: return "rolled_back";
  }
  return "unknown";
}

Verifier::Verifier(std::string trustDomain, const identity::PublicKey& rootKey)
    : trustDomain_(std::move(trustDomain)), rootKey_(rootKey) {}

Status Verifier::reject(Rejection r, std::string detail, Rejection* why) {
  count(r);
  if (why) *why = r;
  std::string msg = std::string(rejectionName(r)) + ": " + detail;
  return r == Rejection::kMalformed ? Status::badRequest(std::move(msg))
                                    : Status(Code::kUnauthorized, std::move(msg));
}

Status Verifier::checkWindow(const Record& r, int64_t now, std::string_view what,
                             Rejection* why) {
  if (now > r.validUntil) {
    return reject(Rejection::kExpired,
                  std::string(what) + " expired at " + formatSecondsIso(r.validUntil), why);
  }
  if (now < r.validFrom) {
    return reject(Rejection::kNotYetValid,
                  std::string(what) + " is valid from " + formatSecondsIso(r.validFrom), why);
  }
  return Status::ok();
}

Status Verifier::verify(const Record& r, int64_t now, Rejection* why) {
  SignatureCheck check;
  KITH_RETURN_IF_ERROR(precheck(r, &check, why));
  return conclude(r, check, check.valid(), now, why);
}

Status Verifier::precheck(const Record& r, SignatureCheck* check, Rejection* why, bool withInput) {
  if (Status st = validate(r); !st.isOk()) {
    return reject(Rejection::kMalformed, st.message(), why);
  }
  if (r.cipher != kCipherEd25519 || r.validFrom < 0 || r.validUntil > kMaxRecordTime ||
      r.validUntil < r.validFrom) {
    return reject(Rejection::kMalformed, describe(r) + ": bad cipher or validity window", why);
  }
  if (r.context != trustDomain_) {
    return reject(Rejection::kWrongContext,
                  describe(r) + " is for trust domain '" + r.context.substr(0, 80) + "', not '" +
                      trustDomain_ + "'",
                  why);
  }
  if (r.objtype == ObjType::kDeleg) {
    // validate() guaranteed zone "." and a machine-name subject.
    check->key = rootKey_;
  } else {
    auto it = delegs_.find(r.zone);
    if (it == delegs_.end()) {
      return reject(Rejection::kUnknownZone, describe(r) + ": no deleg held for the zone", why);
    }
    check->key = it->second.key;
  }
  if (withInput) check->input = signingInput(r);
  check->signature = r.signature;
  return Status::ok();
}

Status Verifier::conclude(const Record& r, const SignatureCheck& check, bool signatureValid,
                          int64_t now, Rejection* why) {
  if (r.objtype == ObjType::kDeleg) {
    if (!signatureValid || check.key != rootKey_) {
      return reject(Rejection::kBadSignature,
                    describe(r) + " does not verify with the root key", why);
    }
    return checkWindow(r, now, describe(r), why);
  }
  auto it = delegs_.find(r.zone);
  if (it == delegs_.end()) {
    // Its deleg was reaped since precheck().
    return reject(Rejection::kUnknownZone, describe(r) + ": no deleg held for the zone", why);
  }
  const Held& held = it->second;
  if (held.key != check.key) {
    // The zone's deleg now names another key: judge by the one held now.
    SignatureCheck again{held.key, check.input.empty() ? signingInput(r) : check.input, check.signature};
    signatureValid = again.valid();
  }
  if (!signatureValid) {
    return reject(Rejection::kBadSignature,
                  describe(r) + " does not verify with the zone's node key (deleg seq " +
                      std::to_string(held.record.seq) + ")",
                  why);
  }
  if (subjectMachine(r) != r.zone) {
    return reject(Rejection::kOutOfZone,
                  describe(r) + ": a zone may only speak for its own machine's subjects", why);
  }
  KITH_RETURN_IF_ERROR(checkWindow(held.record, now, "the deleg of zone " + r.zone, why));
  return checkWindow(r, now, describe(r), why);
}

Status Verifier::addDeleg(const Record& deleg, int64_t now, Rejection* why) {
  if (deleg.objtype != ObjType::kDeleg) {
    return reject(Rejection::kMalformed, describe(deleg) + " is not a deleg", why);
  }
  KITH_RETURN_IF_ERROR(verify(deleg, now, why));
  auto it = delegs_.find(deleg.subject);
  if (it != delegs_.end()) {
    const Record& old = it->second.record;
    if (deleg.seq < old.seq) {
      return reject(Rejection::kRolledBack,
                    describe(deleg) + " is older than the held seq " + std::to_string(old.seq),
                    why);
    }
    if (deleg.seq == old.seq) {
      if (deleg.sameAs(old)) return Status::ok();  // the one we hold, again
      return reject(Rejection::kReplayed,
                    describe(deleg) + " differs from the held deleg with the same seq", why);
    }
  }
  auto key = delegKey(deleg);
  if (!key.isOk()) return reject(Rejection::kMalformed, key.status().message(), why);
  Held held{deleg, *key};
  if (it == delegs_.end()) {
    delegs_.emplace(deleg.subject, std::move(held));
  } else {
    it->second = std::move(held);
  }
  return Status::ok();
}

Result<Record> Verifier::accept(std::string_view line, int64_t now, Rejection* why) {
  auto r = parseSigned(line);
  if (!r.isOk()) return reject(Rejection::kMalformed, r.status().message(), why);
  KITH_RETURN_IF_ERROR(verify(*r, now, why));
  return r;
}

std::map<std::string, uint64_t> Verifier::rejected() const {
  std::map<std::string, uint64_t> out;
  for (size_t i = 0; i < kRejectionCount; ++i) {
    out.emplace(rejectionName(static_cast<Rejection>(i)), counters_[i]);
  }
  return out;
}

const Record* Verifier::deleg(std::string_view machine) const {
  auto it = delegs_.find(machine);
  return it == delegs_.end() ? nullptr : &it->second.record;
}

const identity::PublicKey* Verifier::nodeKey(std::string_view machine) const {
  auto it = delegs_.find(machine);
  return it == delegs_.end() ? nullptr : &it->second.key;
}

std::vector<std::string> Verifier::machines() const {
  std::vector<std::string> out;
  out.reserve(delegs_.size());
  for (const auto& [m, held] : delegs_) out.push_back(m);
  return out;
}

std::vector<std::string> Verifier::reapExpired(int64_t now) {
  std::vector<std::string> out;
  for (auto it = delegs_.begin(); it != delegs_.end();) {
    if (it->second.record.validUntil < now) {
      out.push_back(it->first);
      it = delegs_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace kith::replication
