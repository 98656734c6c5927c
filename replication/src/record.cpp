#include "kith/replication/record.h"

#include "kith/common/clock.h"
#include "kith/common/encoding.h"

// Canonical forms and builders of records (record.h); parsing is in record_parse.cpp.

namespace kith::replication {
namespace {

constexpr size_t kSignatureHex = 2 * identity::kEd25519SignatureSize;

void appendUnsigned(const Record& r, std::string* out) {
  out->append("A ");
  out->append(r.context);
  out->push_back(' ');
  out->append(r.zone);
  out->push_back(' ');
  out->append(r.subject);
  out->push_back(' ');
  out->append(objTypeName(r.objtype));
  out->push_back(' ');
  out->append(std::to_string(r.seq));
  for (const auto& v : r.values) {
    out->push_back(' ');
    out->append(v);
  }
}

size_t unsignedSize(const Record& r) {
  size_t n = 2 + r.context.size() + 1 + r.zone.size() + 1 + r.subject.size() + 1 + 5 + 1 + 20;
  for (const auto& v : r.values) n += 1 + v.size();
  return n;
}

void appendValidity(const Record& r, std::string* out) {
  out->append(formatSecondsIso(r.validFrom));
  out->push_back(' ');
  out->append(formatSecondsIso(r.validUntil));
  out->push_back(' ');
  out->append(std::to_string(r.cipher));
  out->push_back(' ');
}

}  // namespace

std::string_view objTypeName(ObjType t) {
  switch (t) {
    case ObjType::kDeleg: return "deleg";
    case ObjType::kInfra: return "infra";
    case ObjType::kSrv: return "srv";
    case ObjType::kGone: return "gone";
    case ObjType::kIp4: return "ip4";
    case ObjType::kIp6: return "ip6";
  }
  return "?";
}

std::optional<ObjType> objTypeFromName(std::string_view name) {
  for (ObjType t : {ObjType::kDeleg, ObjType::kInfra, ObjType::kSrv, ObjType::kGone, ObjType::kIp4,
                    ObjType::kIp6}) {
    if (objTypeName(t) == name) return t;
  }
  return std::nullopt;
}

size_t valueCount(ObjType t) {
  switch (t) {
    case ObjType::kDeleg: return 2;
    case ObjType::kInfra: return 2;
    case ObjType::kSrv: return 4;
    case ObjType::kGone: return 1;
    case ObjType::kIp4: return 1;
    case ObjType::kIp6: return 1;
  }
  return 0;
}

bool Record::sameAs(const Record& o) const {
  return context == o.context && zone == o.zone && subject == o.subject && objtype == o.objtype &&
         seq == o.seq && values == o.values && validFrom == o.validFrom &&
         validUntil == o.validUntil && cipher == o.cipher && signature == o.signature;
}

std::string unsignedForm(const Record& r) {
  std::string out;
  out.reserve(unsignedSize(r));
  appendUnsigned(r, &out);
  return out;
}

std::string signingInput(const Record& r) {
  std::string out;
  out.reserve(44 + unsignedSize(r));
  appendValidity(r, &out);
  appendUnsigned(r, &out);
  return out;
}

std::string signedLine(const Record& r) {
  std::string out;
  out.reserve(2 + 44 + kSignatureHex + 1 + unsignedSize(r));
  out.append("S ");
  out.append(formatSecondsIso(r.validFrom));
  out.push_back(' ');
  out.append(formatSecondsIso(r.validUntil));
  out.push_back(' ');
  out.append(std::to_string(r.cipher));
  out.push_back(' ');
  out.append(toHex(r.signature.data(), r.signature.size()));
  out.push_back(' ');
  appendUnsigned(r, &out);
  return out;
}

std::string_view subjectMachine(const Record& r) {
  std::string_view s = r.subject;
  if (r.objtype == ObjType::kSrv || r.objtype == ObjType::kGone) {
    size_t dot = s.rfind('.');
    if (dot != std::string_view::npos) s.remove_prefix(dot + 1);
  }
  return s;
}

Record makeDeleg(std::string_view trustDomain, std::string_view machine, uint64_t seq,
                 const identity::PublicKey& nodeKey) {
  Record r;
  r.context.assign(trustDomain);
  r.zone.assign(kRootZone);
  r.subject.assign(machine);
  r.objtype = ObjType::kDeleg;
  r.seq = seq;
  r.values = {"1", toHex(nodeKey.data(), nodeKey.size())};
  return r;
}

Record makeInfra(std::string_view trustDomain, std::string_view machine, uint64_t seq,
                 std::string_view replEndpoint, std::string_view brokerEndpoint) {
  Record r;
  r.context.assign(trustDomain);
  r.zone.assign(machine);
  r.subject.assign(machine);
  r.objtype = ObjType::kInfra;
  r.seq = seq;
  r.values = {std::string(replEndpoint),
              std::string(brokerEndpoint.empty() ? kNone : brokerEndpoint)};
  return r;
}

namespace {
std::string joinCsv(const std::vector<std::string>& items) {
  if (items.empty()) return std::string(kNone);
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out.push_back(',');
    out += i;
  }
  return out;
}
}  // namespace

Record makeSrv(std::string_view trustDomain, std::string_view machine, std::string_view address,
               uint64_t seq, const std::vector<std::string>& protocols,
               std::string_view targetKind, const std::vector<std::string>& whitelist,
               std::string_view identityHashHex) {
  Record r;
  r.context.assign(trustDomain);
  r.zone.assign(machine);
  r.subject.assign(address);
  r.objtype = ObjType::kSrv;
  r.seq = seq;
  // An empty protocol list gives an empty token, which validate() refuses.
  std::string protos;
  for (const auto& p : protocols) {
    if (!protos.empty()) protos.push_back(',');
    protos += p;
  }
  r.values = {protos, std::string(targetKind), joinCsv(whitelist), std::string(identityHashHex)};
  return r;
}

Record makeGone(std::string_view trustDomain, std::string_view machine, std::string_view address,
                uint64_t seq, std::string_view reason) {
  Record r;
  r.context.assign(trustDomain);
  r.zone.assign(machine);
  r.subject.assign(address);
  r.objtype = ObjType::kGone;
  r.seq = seq;
  r.values = {std::string(reason)};
  return r;
}

}  // namespace kith::replication
