// Verifier: decides whether a parsed record is trusted (docs/REPLICATION.md,
// "Chain of trust").
//
// root key --signs--> deleg(machine M -> node key) --node key signs--> records of zone M
//
// verify() applies every rule of the document except "its seq is newer than
// what is held", which needs the held records and is RecordSet's (record_set.h);
// the owner reports RecordSet's replays and rollbacks back here with count() so
// that all rejections are counted in one place. In order:
//
//   malformed       fields not as parseSigned would accept (validate()), bad window/cipher
//   wrong_context   context is not our trust domain
//   unknown_zone    no held deleg for the record's zone
//   bad_signature   the signature does not verify (root key for a deleg, else
//                   the zone's node key) over signingInput(record)
//   out_of_zone     the subject's machine (last label) is not the zone
//   expired         now > valid-until of the record, or of its zone's deleg
//   not_yet_valid   now < valid-from of the record, or of its zone's deleg
//
// A deleg verifies against the root key alone. addDeleg() verifies one and
// holds it: a higher seq replaces the held deleg of that machine (node key
// rotation: the old key's records stop verifying), the same deleg again is a
// no-op, a different one with the same seq is `replayed`, a lower seq
// `rolled_back`. A held deleg whose window has ended makes its zone's records
// fail with `expired` until a newer deleg arrives; reapExpired() forgets it.
//
// Failures are Status BAD_REQUEST (malformed) or UNAUTHORIZED (everything else)
// with the message "<reason>: <detail>", and bump the reason's counter.
//
// Split verification (for checking signatures on other threads): precheck()
// applies the rules before the signature's (malformed, wrong_context,
// unknown_zone) and says which key must have signed which bytes
// (SignatureCheck, a value any thread may check); conclude() takes the
// signature's verdict and applies the rest, in the same order, with the same
// counters. verify() is exactly precheck + check + conclude. If the zone's
// deleg changed between the two (a rotation arrived meanwhile), conclude()
// checks the signature again against the key held then: a record is always
// judged by the deleg held when it is concluded.
//
// Thread rules: none; one owner uses it (the daemon's loop thread).
// SignatureCheck::valid() is a pure function and may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"
#include "kith/identity/keys.h"
#include "kith/replication/record.h"

namespace kith::replication {

enum class Rejection : uint8_t {
  kMalformed,
  kWrongContext,
  kUnknownZone,
  kBadSignature,
  kOutOfZone,
  kExpired,
  kNotYetValid,
  kReplayed,
  kRolledBack,
};
inline constexpr size_t kRejectionCount = 9;

// "malformed", "wrong_context", "unknown_zone", "bad_signature", "out_of_zone",
// "expired", "not_yet_valid", "replayed", "rolled_back".
std::string_view rejectionName(Rejection r);

// Which key must have signed which bytes: what precheck() leaves to check.
struct SignatureCheck {
  identity::PublicKey key{};
  std::string input;  // signingInput(record)
  identity::Signature signature{};
  // Whether the signature verifies (libsodium Ed25519); thread-safe.
  bool valid() const { return identity::verifyEd25519(key, input, signature); }
};

class Verifier {
 public:
  Verifier(std::string trustDomain, const identity::PublicKey& rootKey);

  // Verifies `deleg` against the root key and holds it (see above). The
  // Rejection, if any, is stored in *why.
  Status addDeleg(const Record& deleg, int64_t now, Rejection* why = nullptr);

  // Every rule but seq-newer (see above); `now` in unix seconds.
  Status verify(const Record& r, int64_t now, Rejection* why = nullptr);

  // The rules before the signature's; on success *check holds what to verify.
  // Without `withInput` check->input stays empty (the caller has the
  // signature's verdict from elsewhere, a shard's seal); conclude() then
  // builds it if it has to check again.
  Status precheck(const Record& r, SignatureCheck* check, Rejection* why = nullptr, bool withInput = true);
  // The rest, given whether check.valid() (see above).
  Status conclude(const Record& r, const SignatureCheck& check, bool signatureValid, int64_t now,
                  Rejection* why = nullptr);

  // parseSigned + verify: the entry point for a line from the network.
  // A parse failure is counted as malformed.
  Result<Record> accept(std::string_view line, int64_t now, Rejection* why = nullptr);

  // Counts a rejection decided elsewhere (RecordSet's replayed / rolled_back).
  void count(Rejection r) { ++counters_[static_cast<size_t>(r)]; }
  uint64_t rejectedCount(Rejection r) const { return counters_[static_cast<size_t>(r)]; }
  // Every reason by name, zeros included.
  std::map<std::string, uint64_t> rejected() const;

  // The held deleg of a machine and its node key, or nullptr.
  const Record* deleg(std::string_view machine) const;
  const identity::PublicKey* nodeKey(std::string_view machine) const;
  size_t delegCount() const { return delegs_.size(); }
  // Machines with a held deleg, in name order.
  std::vector<std::string> machines() const;
  // Forgets delegs whose window ended before `now`; returns their machines.
  std::vector<std::string> reapExpired(int64_t now);

  const std::string& trustDomain() const { return trustDomain_; }
  const identity::PublicKey& rootKey() const { return rootKey_; }

 private:
  struct Held {
    Record record;
    identity::PublicKey key{};
  };

  Status reject(Rejection r, std::string detail, Rejection* why);
  Status checkWindow(const Record& r, int64_t now, std::string_view what, Rejection* why);

  std::string trustDomain_;
  identity::PublicKey rootKey_;
  std::map<std::string, Held, std::less<>> delegs_;
  std::array<uint64_t, kRejectionCount> counters_{};
};

}  // namespace kith::replication
