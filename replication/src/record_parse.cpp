// The strict parser and validation of records (record.h); the canonical forms
// and builders are in record.cpp.

#include "kith/replication/record.h"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "kith/identity/spiffe.h"

namespace kith::replication {
namespace {

// 5 signed-form tokens + "A" + context zone subject objtype seq + at most 4 values.
constexpr size_t kMaxTokens = 15;
constexpr size_t kSignedHeadTokens = 5;    // S vf vu cipher hexsig
constexpr size_t kUnsignedHeadTokens = 6;  // A context zone subject objtype seq
constexpr size_t kMaxEndpoint = 255;
constexpr size_t kMaxPatternLabel = 255;
constexpr size_t kIdentityHashHex = 64;
constexpr size_t kSignatureHex = 2 * identity::kEd25519SignatureSize;
constexpr size_t kKeyHex = 2 * identity::kEd25519PublicKeySize;

Status bad(std::string what) { return Status::badRequest("record: " + what); }

// A token for an error message: printable, at most 64 bytes, quoted.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 64) out += "...";
  out += "'";
  return out;
}

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// [A-Za-z0-9_-]{1,63}: an address label, and so a machine name.
bool validLabel(std::string_view s) {
  if (s.empty() || s.size() > identity::kMaxLabelLength) return false;
  for (char c : s) {
    if (!isLabelChar(c)) return false;
  }
  return true;
}

// Exactly five labels joined by dots.
bool validAddress(std::string_view s) {
  size_t labels = 0;
  while (true) {
    size_t dot = s.find('.');
    if (!validLabel(s.substr(0, dot))) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return labels == identity::kAddressLabels;
}

bool isPatternChar(char c) {
  return isLabelChar(c) || c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '^';
}

// A destination pattern: five labels of label or glob characters. Full glob
// syntax is policy's to judge when the daemon compiles the whitelist.
bool validPattern(std::string_view s) {
  size_t labels = 0;
  while (true) {
    size_t dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > kMaxPatternLabel) return false;
    for (char c : label) {
      if (!isPatternChar(c)) return false;
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return labels == identity::kAddressLabels;
}

bool isLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

uint8_t hexNibble(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

template <size_t N>
void decodeHex(std::string_view s, std::array<uint8_t, N>* out) {
  for (size_t i = 0; i < N; ++i) {
    (*out)[i] = static_cast<uint8_t>(hexNibble(s[2 * i]) << 4 | hexNibble(s[2 * i + 1]));
  }
}

// Decimal uint64: digits only, no sign, no leading zero, no overflow.
bool parseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// "YYYY-MM-DDTHH:MM:SSZ", a real UTC date from 1970 to 9999, no leap second.
// Does not allocate (common's parseSecondsIso takes a std::string and lets
// day 31 of any month through; formatSecondsIso is its exact inverse here).
bool parseIso(std::string_view s, int64_t* out) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  auto num = [&](size_t at, size_t n, unsigned* v) {
    *v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      *v = *v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
  };
  unsigned y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || !num(5, 2, &mo) || !num(8, 2, &d) || !num(11, 2, &h) ||
      !num(14, 2, &mi) || !num(17, 2, &se)) {
    return false;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return false;
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  unsigned monthDays = kDays[mo - 1] + (mo == 2 && leap ? 1 : 0);
  if (d > monthDays) return false;
  *out = daysFromCivil(y, mo, d) * 86400 + int64_t{h} * 3600 + int64_t{mi} * 60 + se;
  return true;
}

// Splits on single spaces. Keeps up to kMaxTokens views and counts all tokens;
// an empty token (leading, trailing or double space) is an error.
struct Tokens {
  std::array<std::string_view, kMaxTokens> v;
  size_t count = 0;
};

Status tokenize(std::string_view line, Tokens* t) {
  size_t start = 0;
  while (true) {
    size_t sp = line.find(' ', start);
    size_t end = sp == std::string_view::npos ? line.size() : sp;
    if (end == start) {
      return bad("empty token at byte " + std::to_string(start) +
                 " (leading, trailing or double space)");
    }
    if (t->count < kMaxTokens) t->v[t->count] = line.substr(start, end - start);
    ++t->count;
    if (sp == std::string_view::npos) return Status::ok();
    start = sp + 1;
  }
}

Status checkLine(std::string_view line) {
  if (line.empty()) return bad("empty line");
  if (line.size() > kMaxRecordLine) {
    return bad("line is " + std::to_string(line.size()) + " bytes, at most " +
               std::to_string(kMaxRecordLine));
  }
  for (size_t i = 0; i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return bad(std::string("byte ") + buf + " at offset " + std::to_string(i) +
                 " is not printable ASCII");
    }
  }
  return Status::ok();
}

Status checkCsv(std::string_view what, std::string_view csv, bool (*item)(std::string_view),
                bool unique) {
  size_t start = 0;
  while (true) {
    size_t comma = csv.find(',', start);
    std::string_view it = csv.substr(start, comma == std::string_view::npos ? csv.npos : comma - start);
    if (!item(it)) return bad(std::string(what) + " item " + quote(it) + " is not valid");
    if (unique) {
      // Lists are short (bounded by the line); quadratic is fine.
      size_t s2 = 0;
      while (s2 < start) {
        size_t c2 = csv.find(',', s2);
        if (csv.substr(s2, c2 - s2) == it) {
          return bad(std::string(what) + " item " + quote(it) + " is repeated");
        }
        s2 = c2 + 1;
      }
    }
    if (comma == std::string_view::npos) return Status::ok();
    start = comma + 1;
  }
}

bool validProtocol(std::string_view p) { return p == "tcp" || p == "udp"; }

bool validEndpoint(std::string_view e) { return isToken(e) && e.size() <= kMaxEndpoint; }

bool validIp(int family, std::string_view s) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  unsigned char addr[16];
  return inet_pton(family, buf, addr) == 1;
}

Status checkValues(const Record& r) {
  const auto& v = r.values;
  switch (r.objtype) {
    case ObjType::kDeleg:
      if (v[kDelegCipher] != "1") return bad("deleg cipher " + quote(v[kDelegCipher]) + " is not 1");
      if (!isLowerHex(v[kDelegKey], kKeyHex)) {
        return bad("deleg key " + quote(v[kDelegKey]) + " is not 64 lowercase hex digits");
      }
      return Status::ok();
    case ObjType::kInfra:
      if (!validEndpoint(v[kInfraReplication]) || v[kInfraReplication] == kNone) {
        return bad("infra replication endpoint " + quote(v[kInfraReplication]) + " is not valid");
      }
      if (!validEndpoint(v[kInfraBroker])) {
        return bad("infra broker endpoint " + quote(v[kInfraBroker]) + " is not valid");
      }
      return Status::ok();
    case ObjType::kSrv: {
      KITH_RETURN_IF_ERROR(checkCsv("srv protocol", v[kSrvProtocols], validProtocol, true));
      const std::string& kind = v[kSrvTargetKind];
      if (kind != "listen" && kind != "unix" && kind != "tcp") {
        return bad("srv target kind " + quote(kind) + " is not listen, unix or tcp");
      }
      if (v[kSrvWhitelist] != kNone) {
        KITH_RETURN_IF_ERROR(checkCsv("srv whitelist", v[kSrvWhitelist], validPattern, false));
      }
      if (!isLowerHex(v[kSrvIdentityHash], kIdentityHashHex)) {
        return bad("srv identity hash " + quote(v[kSrvIdentityHash]) +
                   " is not 64 lowercase hex digits");
      }
      return Status::ok();
    }
    case ObjType::kGone: {
      const std::string& why = v[kGoneReason];
      if (why != "exit" && why != "expired" && why != "deregister" && why != "replaced") {
        return bad("gone reason " + quote(why) + " is not exit, expired, deregister or replaced");
      }
      return Status::ok();
    }
    case ObjType::kIp4:
      if (!validIp(AF_INET, v[kIpAddress])) return bad("ip4 value " + quote(v[kIpAddress]) + " is not an IPv4 address");
      return Status::ok();
    case ObjType::kIp6:
      if (!validIp(AF_INET6, v[kIpAddress])) return bad("ip6 value " + quote(v[kIpAddress]) + " is not an IPv6 address");
      return Status::ok();
  }
  return bad("unknown objtype");
}

// Everything but validity and signature.
Status checkFields(const Record& r) {
  if (!identity::isValidTrustDomain(r.context)) {
    return bad("context " + quote(r.context) + " is not a valid trust domain");
  }
  bool root = r.objtype == ObjType::kDeleg;
  if (root) {
    if (r.zone != kRootZone) return bad("deleg zone " + quote(r.zone) + " is not '.'");
  } else if (!validLabel(r.zone)) {
    return bad("zone " + quote(r.zone) + " is not a valid machine name");
  }
  bool addressSubject = r.objtype == ObjType::kSrv || r.objtype == ObjType::kGone;
  if (addressSubject) {
    if (!validAddress(r.subject)) {
      return bad(std::string(objTypeName(r.objtype)) + " subject " + quote(r.subject) +
                 " is not a five-label address");
    }
  } else if (!validLabel(r.subject)) {
    return bad(std::string(objTypeName(r.objtype)) + " subject " + quote(r.subject) +
               " is not a valid machine name");
  }
  if (r.values.size() != valueCount(r.objtype)) {
    return bad(std::string(objTypeName(r.objtype)) + " takes " +
               std::to_string(valueCount(r.objtype)) + " values after seq, got " +
               std::to_string(r.values.size()));
  }
  for (const auto& v : r.values) {
    if (!isToken(v)) return bad("value " + quote(v) + " is empty or has a space or control byte");
  }
  return checkValues(r);
}

// Fills the unsigned part from tokens t.v[at..count).
Status parseUnsignedTokens(const Tokens& t, size_t at, Record* r) {
  size_t n = t.count - at;
  if (n < kUnsignedHeadTokens) {
    return bad("unsigned form has " + std::to_string(n) + " tokens, at least " +
               std::to_string(kUnsignedHeadTokens) + " expected");
  }
  if (t.v[at] != "A") return bad("unsigned form starts with " + quote(t.v[at]) + ", not 'A'");
  auto type = objTypeFromName(t.v[at + 4]);
  if (!type) return bad("unknown objtype " + quote(t.v[at + 4]));
  size_t values = n - kUnsignedHeadTokens;
  if (values != valueCount(*type)) {
    return bad(std::string(objTypeName(*type)) + " takes " + std::to_string(valueCount(*type)) +
               " values after seq, got " + std::to_string(values));
  }
  if (!parseU64(t.v[at + 5], &r->seq)) {
    return bad("seq " + quote(t.v[at + 5]) +
               " is not a decimal uint64 (digits only, no sign or leading zero)");
  }
  if (r->seq == 0) return bad("seq must be at least 1");
  r->objtype = *type;
  r->context.assign(t.v[at + 1]);
  r->zone.assign(t.v[at + 2]);
  r->subject.assign(t.v[at + 3]);
  r->values.reserve(values);
  for (size_t i = at + kUnsignedHeadTokens; i < t.count; ++i) r->values.emplace_back(t.v[i]);
  return checkFields(*r);
}

// parseSigned without Record::line.
Result<Record> parseSignedFields(std::string_view line) {
  KITH_RETURN_IF_ERROR(checkLine(line));
  Tokens t;
  KITH_RETURN_IF_ERROR(tokenize(line, &t));
  if (t.v[0] != "S") return bad("signed form starts with " + quote(t.v[0]) + ", not 'S'");
  if (t.count < kSignedHeadTokens + kUnsignedHeadTokens) {
    return bad("signed form has " + std::to_string(t.count) + " tokens, at least " +
               std::to_string(kSignedHeadTokens + kUnsignedHeadTokens) + " expected");
  }
  Record r;
  if (!parseIso(t.v[1], &r.validFrom)) {
    return bad("valid-from " + quote(t.v[1]) + " is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
  }
  if (!parseIso(t.v[2], &r.validUntil)) {
    return bad("valid-until " + quote(t.v[2]) + " is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
  }
  if (r.validUntil < r.validFrom) return bad("valid-until is before valid-from");
  if (t.v[3] != "1") return bad("cipher " + quote(t.v[3]) + " is not 1 (Ed25519)");
  r.cipher = kCipherEd25519;
  if (!isLowerHex(t.v[4], kSignatureHex)) {
    return bad("signature is not 128 lowercase hex digits");
  }
  decodeHex(t.v[4], &r.signature);
  KITH_RETURN_IF_ERROR(parseUnsignedTokens(t, kSignedHeadTokens, &r));
  return r;
}

}  // namespace

Result<Record> parseSigned(std::string_view line) {
  auto r = parseSignedFields(line);
  if (r.isOk()) r->line.assign(line);
  return r;
}

Result<Record> parseSignedTaking(std::string&& line) {
  auto r = parseSignedFields(line);
  if (r.isOk()) r->line = std::move(line);
  return r;
}

Result<Record> parseUnsigned(std::string_view line) {
  KITH_RETURN_IF_ERROR(checkLine(line));
  Tokens t;
  KITH_RETURN_IF_ERROR(tokenize(line, &t));
  Record r;
  KITH_RETURN_IF_ERROR(parseUnsignedTokens(t, 0, &r));
  return r;
}

Status validate(const Record& r) {
  if (r.seq == 0) return bad("seq must be at least 1");
  return checkFields(r);
}

Result<identity::PublicKey> delegKey(const Record& r) {
  if (r.objtype != ObjType::kDeleg || r.values.size() != valueCount(ObjType::kDeleg) ||
      !isLowerHex(r.values[kDelegKey], kKeyHex)) {
    return bad("not a deleg record with a node key");
  }
  identity::PublicKey key{};
  decodeHex(r.values[kDelegKey], &key);
  return key;
}

}  // namespace kith::replication
