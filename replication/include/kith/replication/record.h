// Record: one RAINS short assertion, the unit kith replicates (docs/REPLICATION.md).
//
//   unsigned: A <context> <zone> <subject> <objtype> <seq> <value...>
//   signed:   S <valid-from> <valid-until> <cipher> <hexsig> <unsigned>
//
// The signature (cipher 1 = Ed25519) covers exactly the bytes of
// "<valid-from> <valid-until> <cipher> <unsigned>" (signingInput). Tokens are
// printable ASCII without spaces, joined by single spaces; a line is at most
// kMaxRecordLine bytes. Values after seq, per objtype:
//
//   deleg  zone "."      subject machine   1 <hex Ed25519 node public key>
//   infra  zone machine  subject machine   <replication endpoint> <broker endpoint or ->
//   srv    zone machine  subject address   <protocols csv> <listen|unix|tcp> <whitelist csv or -> <identity hash hex>
//   gone   zone machine  subject address   <exit|expired|deregister|replaced>
//   ip4    zone machine  subject machine   <IPv4 literal>
//   ip6    zone machine  subject machine   <IPv6 literal>
//
// Parsing is strict (the parser takes untrusted network input): anything that
// is not exactly this shape is BAD_REQUEST with a message naming what is wrong,
// and every accepted line re-serialises to the same bytes (signedLine). Whether
// a well-formed record is *trusted* is the Verifier's business (verifier.h).
//
// Records are plain values; the functions here are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kith/common/status.h"
#include "kith/identity/keys.h"

namespace kith::replication {

inline constexpr size_t kMaxRecordLine = 4096;
inline constexpr uint8_t kCipherEd25519 = 1;
inline constexpr std::string_view kRootZone = ".";
// "2026-11-22T08:05:52Z" covers 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
inline constexpr int64_t kMaxRecordTime = 253402300799;

enum class ObjType : uint8_t { kDeleg, kInfra, kSrv, kGone, kIp4, kIp6 };

// "deleg", "infra", "srv", "gone", "ip4", "ip6".
std::string_view objTypeName(ObjType t);
std::optional<ObjType> objTypeFromName(std::string_view name);
// How many value tokens follow seq for this objtype.
size_t valueCount(ObjType t);

// Positions in Record::values.
inline constexpr size_t kDelegCipher = 0, kDelegKey = 1;
inline constexpr size_t kInfraReplication = 0, kInfraBroker = 1;
inline constexpr size_t kSrvProtocols = 0, kSrvTargetKind = 1, kSrvWhitelist = 2, kSrvIdentityHash = 3;
inline constexpr size_t kGoneReason = 0;
inline constexpr size_t kIpAddress = 0;
// The token standing for "none" (broker endpoint, whitelist).
inline constexpr std::string_view kNone = "-";

struct Record {
  std::string context;  // the trust domain
  std::string zone;     // the machine that speaks for the record; "." for the root
  std::string subject;  // a machine name or a five-label address
  ObjType objtype = ObjType::kSrv;
  // Per origin (zone), only grows; covered by the signature. At least 1: 0 is
  // what a version vector holds for "nothing seen".
  uint64_t seq = 0;
  std::vector<std::string> values;  // the tokens after seq

  // Set by sign() or parseSigned(); 0 / empty on an unsigned record.
  int64_t validFrom = 0;   // unix seconds, inclusive
  int64_t validUntil = 0;  // unix seconds, inclusive
  uint8_t cipher = kCipherEd25519;
  identity::Signature signature{};
  // The signed line as received or as produced by sign(); empty if unsigned.
  // Informational: verification always recomputes signingInput from the fields.
  std::string line;

  bool isSigned() const { return !line.empty(); }
  // Same content (fields, validity and signature); `line` is not compared.
  bool sameAs(const Record& o) const;
};

// Parses the signed form. Strict; BAD_REQUEST "record: <what is wrong>".
Result<Record> parseSigned(std::string_view line);
// The same, keeping `line` itself as Record::line (no copy of the line).
Result<Record> parseSignedTaking(std::string&& line);
// Parses the unsigned form ("A ..."); validity and signature stay unset.
Result<Record> parseUnsigned(std::string_view line);

// OK iff the fields (not validity or signature) are what parseUnsigned would
// accept: valid names, value count and values for the objtype. sign() refuses
// records that fail this.
Status validate(const Record& r);

// "A <context> <zone> <subject> <objtype> <seq> <value...>"
std::string unsignedForm(const Record& r);
// "<valid-from> <valid-until> <cipher> <unsigned>": the bytes the signature covers.
std::string signingInput(const Record& r);
// "S <valid-from> <valid-until> <cipher> <hexsig> <unsigned>"
std::string signedLine(const Record& r);

// The machine a record speaks about: the subject itself for deleg/infra/ip4/ip6,
// the last label of the address for srv/gone.
std::string_view subjectMachine(const Record& r);
// The node public key bound by a deleg record (BAD_REQUEST for anything else).
Result<identity::PublicKey> delegKey(const Record& r);

// Builders: unsigned records (see signer.h). They do not validate; sign() does.
Record makeDeleg(std::string_view trustDomain, std::string_view machine, uint64_t seq,
                 const identity::PublicKey& nodeKey);
// An empty brokerEndpoint is written as "-".
Record makeInfra(std::string_view trustDomain, std::string_view machine, uint64_t seq,
                 std::string_view replEndpoint, std::string_view brokerEndpoint);
// protocols e.g. {"tcp"}; targetKind "listen", "unix" or "tcp"; an empty
// whitelist is written as "-"; identityHashHex is 64 lowercase hex digits.
Record makeSrv(std::string_view trustDomain, std::string_view machine, std::string_view address,
               uint64_t seq, const std::vector<std::string>& protocols,
               std::string_view targetKind, const std::vector<std::string>& whitelist,
               std::string_view identityHashHex);
// reason: "exit", "expired", "deregister" or "replaced".
Record makeGone(std::string_view trustDomain, std::string_view machine, std::string_view address,
                uint64_t seq, std::string_view reason);

}  // namespace kith::replication
