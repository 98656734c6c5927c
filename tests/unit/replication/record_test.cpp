#include "kith/replication/record.h"

#include <boost/test/unit_test.hpp>

#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "kith/common/clock.h"
#include "kith/replication/signer.h"
#include "record_fixtures.h"

using namespace kith::replication;
using namespace kith::replication::testing;

namespace {

// The test vector: root = RFC 8032 TEST 1 seed, node = RFC 8032 TEST 2 seed,
// valid 2026-11-22T08:05:52Z .. 2026-11-29T08:05:52Z. The signatures were
// cross-checked with an independent Ed25519 (Python `cryptography`).
constexpr std::string_view kDelegInput =
    "2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 A dev.kith . node1 deleg 1 1 "
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr std::string_view kDelegSig =
    "22873fd44a213b4632be62dc0f6f78ff5986a170a78a104a1b46ed6cad917d1b"
    "0ef7c4e30bc740245677397f2f3d32561a75a9f24f7b0b83a42117188181c10d";
constexpr std::string_view kDelegLine =
    "S 2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 "
    "22873fd44a213b4632be62dc0f6f78ff5986a170a78a104a1b46ed6cad917d1b"
    "0ef7c4e30bc740245677397f2f3d32561a75a9f24f7b0b83a42117188181c10d "
    "A dev.kith . node1 deleg 1 1 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
constexpr std::string_view kSrvInput =
    "2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 A dev.kith node1 dev.web.nginx1.default.node1 "
    "srv 7 tcp listen dev.client.*.*.* "
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr std::string_view kSrvSig =
    "36331566daeb422b0a63e8df76accac2a901a4f194037efaea7903a3f632a467"
    "42d94fa5dc7d24223ef45a86120c949a104ac0394bef4337e83ec2b91f9e410d";
constexpr std::string_view kSrvLine =
    "S 2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 "
    "36331566daeb422b0a63e8df76accac2a901a4f194037efaea7903a3f632a467"
    "42d94fa5dc7d24223ef45a86120c949a104ac0394bef4337e83ec2b91f9e410d "
    "A dev.kith node1 dev.web.nginx1.default.node1 srv 7 tcp listen dev.client.*.*.* "
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t sp = s.find(' ', start);
    out.push_back(s.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
    if (sp == std::string::npos) return out;
    start = sp + 1;
  }
}

std::string join(const std::vector<std::string>& t) {
  std::string out;
  for (const auto& x : t) {
    if (!out.empty()) out += ' ';
    out += x;
  }
  return out;
}

// `line` with token i replaced (an empty replacement removes the token).
std::string withToken(std::string_view line, size_t i, const std::string& value) {
  auto t = split(std::string(line));
  BOOST_REQUIRE(i < t.size());
  if (value.empty()) {
    t.erase(t.begin() + static_cast<long>(i));
  } else {
    t[i] = value;
  }
  return join(t);
}

std::string withExtraToken(std::string_view line, const std::string& value) {
  return std::string(line) + " " + value;
}

// Signed lines of every objtype (signatures valid; parsing does not check them).
Record signedOf(Record r) { return signedOrFail(std::move(r), nodeKey()); }

Record ipRecord(ObjType type, std::string value) {
  Record r;
  r.context = "dev.kith";
  r.zone = "node1";
  r.subject = "node1";
  r.objtype = type;
  r.seq = 3;
  r.values = {std::move(value)};
  return signedOf(std::move(r));
}

std::vector<Record> oneOfEach() {
  auto node = nodeKey();
  return {
      signedOf(makeDeleg(kTrustDomain, "node1", 1, node.publicKey())),
      signedOf(makeInfra(kTrustDomain, "node1", 2, "tcp://10.0.0.1:7001", "10.0.0.1:7443")),
      signedOf(makeInfra(kTrustDomain, "node1", 2, "tcp://[::1]:7001", "")),
      signedOf(makeSrv(kTrustDomain, "node1", "dev.web.nginx1.default.node1", 4, {"tcp", "udp"},
                       "tcp", {"dev.client.*.*.*", "dev.pg-[0-9]?.x*.default.node*"}, kHashHex)),
      signedOf(makeSrv(kTrustDomain, "node1", "dev.web.nginx1.default.node1", 5, {"udp"},
                       "unix", {}, kHashHex)),
      signedOf(makeGone(kTrustDomain, "node1", "dev.web.nginx1.default.node1", 6, "deregister")),
      ipRecord(ObjType::kIp4, "192.0.2.1"),
      ipRecord(ObjType::kIp6, "2001:db8::1"),
  };
}

void expectRejected(std::string_view line, std::string_view needle) {
  auto r = parseSigned(line);
  BOOST_TEST_CONTEXT("line: " << line.substr(0, 300)) {
    BOOST_TEST(!r.isOk());
    if (!r.isOk()) {
      BOOST_TEST((r.status().code() == kith::Code::kBadRequest));
      BOOST_TEST(r.status().message().rfind("record: ", 0) == 0u, r.status().message());
      BOOST_TEST(r.status().message().find(needle) != std::string::npos,
                 "'" << r.status().message() << "' lacks '" << needle << "'");
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replication_record)

BOOST_AUTO_TEST_CASE(test_vector_pins_signing_input_and_signed_line_byte_for_byte) {
  auto root = rootKey();
  auto node = nodeKey();
  BOOST_TEST(kith::toHex(node.publicKey().data(), 32) == kNodePubHex);

  Record deleg = makeDeleg("dev.kith", "node1", 1, node.publicKey());
  BOOST_REQUIRE(sign(deleg, root, kFrom, kUntil).isOk());
  BOOST_TEST(signingInput(deleg) == kDelegInput);
  BOOST_TEST(kith::toHex(deleg.signature.data(), deleg.signature.size()) == kDelegSig);
  BOOST_TEST(deleg.line == kDelegLine);
  BOOST_TEST(signedLine(deleg) == kDelegLine);
  BOOST_TEST(kith::identity::verifyEd25519(root.publicKey(), kDelegInput, deleg.signature));

  Record srv = makeSrv("dev.kith", "node1", "dev.web.nginx1.default.node1", 7, {"tcp"}, "listen",
                       {"dev.client.*.*.*"}, kHashHex);
  BOOST_REQUIRE(sign(srv, node, kFrom, kUntil).isOk());
  BOOST_TEST(signingInput(srv) == kSrvInput);
  BOOST_TEST(unsignedForm(srv) == kSrvInput.substr(kSrvInput.find("A ")));
  BOOST_TEST(kith::toHex(srv.signature.data(), srv.signature.size()) == kSrvSig);
  BOOST_TEST(srv.line == kSrvLine);
  BOOST_TEST(kith::identity::verifyEd25519(node.publicKey(), kSrvInput, srv.signature));
}

BOOST_AUTO_TEST_CASE(test_vector_lines_parse_into_their_fields) {
  auto d = parseSigned(kDelegLine);
  BOOST_REQUIRE_MESSAGE(d.isOk(), d.status().toString());
  BOOST_TEST(d->context == "dev.kith");
  BOOST_TEST(d->zone == ".");
  BOOST_TEST(d->subject == "node1");
  BOOST_TEST((d->objtype == ObjType::kDeleg));
  BOOST_TEST(d->seq == 1u);
  BOOST_TEST(d->validFrom == kFrom);
  BOOST_TEST(d->validUntil == kUntil);
  BOOST_TEST(d->cipher == 1);
  BOOST_TEST(d->line == kDelegLine);
  auto key = delegKey(*d);
  BOOST_REQUIRE(key.isOk());
  BOOST_TEST((*key == nodeKey().publicKey()));
  BOOST_TEST(subjectMachine(*d) == "node1");

  auto s = parseSigned(kSrvLine);
  BOOST_REQUIRE_MESSAGE(s.isOk(), s.status().toString());
  BOOST_TEST(s->zone == "node1");
  BOOST_TEST(s->subject == "dev.web.nginx1.default.node1");
  BOOST_TEST(s->seq == 7u);
  BOOST_TEST((s->values == std::vector<std::string>{"tcp", "listen", "dev.client.*.*.*",
                                                      std::string(kHashHex)}));
  BOOST_TEST(subjectMachine(*s) == "node1");
  BOOST_TEST(signingInput(*s) == kSrvInput);
  BOOST_TEST(!delegKey(*s).isOk());
}

BOOST_AUTO_TEST_CASE(every_objtype_round_trips_through_its_signed_line) {
  for (const Record& r : oneOfEach()) {
    BOOST_TEST_CONTEXT(r.line) {
      auto p = parseSigned(r.line);
      BOOST_REQUIRE_MESSAGE(p.isOk(), p.status().toString());
      BOOST_TEST(p->sameAs(r));
      BOOST_TEST(signedLine(*p) == r.line);
      BOOST_TEST(p->line == r.line);
      auto u = parseUnsigned(unsignedForm(r));
      BOOST_REQUIRE_MESSAGE(u.isOk(), u.status().toString());
      BOOST_TEST(unsignedForm(*u) == unsignedForm(r));
      BOOST_TEST(!u->isSigned());
    }
  }
}

BOOST_AUTO_TEST_CASE(builders_write_none_for_empty_lists_and_endpoints) {
  Record infra = makeInfra(kTrustDomain, "node1", 2, "tcp://10.0.0.1:7001", "");
  BOOST_TEST(unsignedForm(infra) == "A dev.kith node1 node1 infra 2 tcp://10.0.0.1:7001 -");
  Record srv = makeSrv(kTrustDomain, "node1", "a.b.c.d.node1", 9, {"tcp", "udp"}, "unix", {},
                       kHashHex);
  BOOST_TEST(unsignedForm(srv) ==
             "A dev.kith node1 a.b.c.d.node1 srv 9 tcp,udp unix - " + std::string(kHashHex));
  Record gone = makeGone(kTrustDomain, "node1", "a.b.c.d.node1", 10, "exit");
  BOOST_TEST(unsignedForm(gone) == "A dev.kith node1 a.b.c.d.node1 gone 10 exit");
  BOOST_TEST(!infra.isSigned());
}

BOOST_AUTO_TEST_CASE(largest_seq_is_accepted) {
  std::string line = withToken(kSrvLine, 10, "18446744073709551615");
  auto r = parseSigned(line);
  BOOST_REQUIRE_MESSAGE(r.isOk(), r.status().toString());
  BOOST_TEST(r->seq == UINT64_MAX);
  BOOST_TEST(signedLine(*r) == line);
}

BOOST_AUTO_TEST_CASE(layout_errors_are_rejected_with_what_is_wrong) {
  const std::string l(kSrvLine);
  expectRejected("", "empty line");
  expectRejected(l + " ", "empty token at byte " + std::to_string(l.size() + 1));
  expectRejected(" " + l, "empty token at byte 0");
  expectRejected("S  " + l.substr(2), "empty token at byte 2");
  std::string dbl = l;
  dbl.insert(dbl.find(" A ") + 1, " ");
  expectRejected(dbl, "(leading, trailing or double space)");
  expectRejected(l + "\n", "byte 0x0a at offset " + std::to_string(l.size()));
  std::string tab = l;
  tab[1] = '\t';
  expectRejected(tab, "byte 0x09 at offset 1 is not printable ASCII");
  expectRejected(l + "\xc3\xa9", "byte 0xc3");
  expectRejected(std::string("S\0x", 3), "byte 0x00 at offset 1");
  expectRejected("S " + std::string(4095, 'x'), "line is 4097 bytes, at most 4096");
  expectRejected(withToken(l, 0, "s"), "signed form starts with 's', not 'S'");
  expectRejected(l.substr(l.find("A ")), "signed form starts with 'A'");
  expectRejected("S 2026-11-22T08:05:52Z x", "signed form has 3 tokens, at least 11 expected");
  expectRejected(withToken(l, 5, "B"), "unsigned form starts with 'B', not 'A'");
  expectRejected(withToken(l, 9, "txt"), "unknown objtype 'txt'");
  expectRejected(withToken(l, 9, "SRV"), "unknown objtype 'SRV'");
}

BOOST_AUTO_TEST_CASE(wrong_token_counts_per_objtype_are_rejected) {
  const std::string srv(kSrvLine);
  expectRejected(withToken(srv, 14, ""), "srv takes 4 values after seq, got 3");
  expectRejected(withExtraToken(srv, "extra"), "srv takes 4 values after seq, got 5");
  std::string many = srv;
  for (int i = 0; i < 30; ++i) many += " x";
  expectRejected(many, "srv takes 4 values after seq, got 34");
  const std::string deleg(kDelegLine);
  expectRejected(withToken(deleg, 12, ""), "deleg takes 2 values after seq, got 1");
  expectRejected(withExtraToken(deleg, "x"), "deleg takes 2 values after seq, got 3");
  auto all = oneOfEach();
  expectRejected(withExtraToken(all[5].line, "exit"), "gone takes 1 values after seq, got 2");
  expectRejected(withToken(all[1].line, 12, ""), "infra takes 2 values after seq, got 1");
  expectRejected(withExtraToken(all[6].line, "192.0.2.2"), "ip4 takes 1 values after seq, got 2");
  expectRejected(withToken(all[7].line, 11, ""), "ip6 takes 1 values after seq, got 0");
  // No seq at all.
  expectRejected("S 2026-11-22T08:05:52Z 2026-11-29T08:05:52Z 1 " + std::string(kSrvSig) +
                     " A dev.kith node1 a.b.c.d.node1 gone",
                 "signed form has 10 tokens, at least 11 expected");
}

BOOST_AUTO_TEST_CASE(bad_times_are_rejected) {
  const std::string l(kSrvLine);
  for (const char* t : {"2026-11-22T08:05:52", "2026-11-22t08:05:52Z", "2026-11-22T08:05:52.0Z",
                        "2026-1-22T08:05:52Z", "+026-11-22T08:05:52Z", "2026-11-22T08:05:5Z",
                        "2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z",
                        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
                        "2026-11-22T24:00:00Z", "2026-11-22T08:60:00Z", "2026-11-22T08:05:60Z",
                        "1969-12-31T23:59:59Z", "20261122T080552Z", "1795334752"}) {
    expectRejected(withToken(l, 1, t), std::string("valid-from '") + t +
                                           "' is not an ISO 8601 UTC time");
  }
  expectRejected(withToken(l, 2, "2026-11-22T08:05:5x"), "valid-until '2026-11-22T08:05:5x'");
  expectRejected(withToken(l, 2, "2026-11-22T08:05:51Z"), "valid-until is before valid-from");
  // A leap day in a leap year and the last representable second are fine.
  BOOST_TEST(parseSigned(withToken(l, 1, "2024-02-29T00:00:00Z")).isOk());
  BOOST_TEST(parseSigned(withToken(l, 2, "9999-12-31T23:59:59Z")).isOk());
  BOOST_TEST(parseSigned(withToken(withToken(l, 1, "2000-02-29T00:00:00Z"), 2,
                                   "2000-02-29T00:00:00Z"))
                 .isOk());
}

BOOST_AUTO_TEST_CASE(times_parse_as_common_formats_them) {
  std::mt19937_64 rng(1122);
  std::uniform_int_distribution<int64_t> when(0, kMaxRecordTime);
  auto node = nodeKey();
  Record base = makeGone(kTrustDomain, "node1", "a.b.c.d.node1", 1, "exit");
  for (int i = 0; i < 500; ++i) {
    int64_t a = when(rng), b = when(rng);
    if (a > b) std::swap(a, b);
    if (i == 0) { a = 0; b = kMaxRecordTime; }
    Record r = base;
    BOOST_REQUIRE(sign(r, node, a, b).isOk());
    auto p = parseSigned(r.line);
    BOOST_REQUIRE_MESSAGE(p.isOk(), p.status().toString());
    BOOST_TEST(p->validFrom == a);
    BOOST_TEST(p->validUntil == b);
    int64_t viaCommon = -1;
    BOOST_TEST(kith::parseSecondsIso(kith::formatSecondsIso(a), &viaCommon));
    BOOST_TEST(viaCommon == a);
  }
}

BOOST_AUTO_TEST_CASE(wrong_cipher_and_bad_signature_hex_are_rejected) {
  const std::string l(kSrvLine);
  for (const char* c : {"2", "0", "01", "ed25519", "+1"}) {
    expectRejected(withToken(l, 3, c), std::string("cipher '") + c + "' is not 1 (Ed25519)");
  }
  std::string sig(kSrvSig);
  std::string upper = sig;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& s : {sig.substr(1), sig + "0", upper, "g" + sig.substr(1),
                               std::string(128, 'x'), std::string("-")}) {
    expectRejected(withToken(l, 4, s), "signature is not 128 lowercase hex digits");
  }
}

BOOST_AUTO_TEST_CASE(bad_seq_is_rejected) {
  const std::string l(kSrvLine);
  for (const char* s : {"18446744073709551616", "99999999999999999999999", "-1", "+1", "007",
                        "1e3", "0x10", "seven"}) {
    expectRejected(withToken(l, 10, s), std::string("seq '") + s + "' is not a decimal uint64");
  }
  expectRejected(withToken(l, 10, "0"), "seq must be at least 1");
}

BOOST_AUTO_TEST_CASE(bad_names_are_rejected) {
  const std::string srv(kSrvLine);
  const std::string deleg(kDelegLine);
  expectRejected(withToken(srv, 6, "Dev.Kith"), "context 'Dev.Kith' is not a valid trust domain");
  expectRejected(withToken(srv, 6, std::string(256, 'a')), "is not a valid trust domain");
  expectRejected(withToken(srv, 7, "node.1"), "zone 'node.1' is not a valid machine name");
  expectRejected(withToken(srv, 7, "."), "zone '.' is not a valid machine name");
  expectRejected(withToken(srv, 7, std::string(64, 'n')), "is not a valid machine name");
  expectRejected(withToken(deleg, 7, "node1"), "deleg zone 'node1' is not '.'");
  expectRejected(withToken(deleg, 8, "node/1"), "deleg subject 'node/1' is not a valid machine name");
  expectRejected(withToken(srv, 8, "dev.web.nginx1.node1"),
                 "srv subject 'dev.web.nginx1.node1' is not a five-label address");
  expectRejected(withToken(srv, 8, "dev.web.nginx1.default.node1.x"), "is not a five-label address");
  expectRejected(withToken(srv, 8, "dev..nginx1.default.node1"), "is not a five-label address");
  expectRejected(withToken(srv, 8, "dev.web.ngi*x1.default.node1"), "is not a five-label address");
  expectRejected(withToken(srv, 8, "dev.web." + std::string(64, 'a') + ".default.node1"),
                 "is not a five-label address");
  auto all = oneOfEach();
  expectRejected(withToken(all[1].line, 8, "a.b.c.d.node1"),
                 "infra subject 'a.b.c.d.node1' is not a valid machine name");
}

BOOST_AUTO_TEST_CASE(bad_values_are_rejected) {
  const std::string srv(kSrvLine);
  expectRejected(withToken(srv, 11, "tcp,tcp"), "srv protocol item 'tcp' is repeated");
  expectRejected(withToken(srv, 11, "sctp"), "srv protocol item 'sctp' is not valid");
  expectRejected(withToken(srv, 11, "tcp,"), "srv protocol item '' is not valid");
  expectRejected(withToken(srv, 12, "pipe"), "srv target kind 'pipe' is not listen, unix or tcp");
  expectRejected(withToken(srv, 13, "dev.*"), "srv whitelist item 'dev.*' is not valid");
  expectRejected(withToken(srv, 13, "a.b.c.d.e,"), "srv whitelist item '' is not valid");
  expectRejected(withToken(srv, 13, "a.b.c.d.e/f"), "srv whitelist item 'a.b.c.d.e/f' is not valid");
  expectRejected(withToken(srv, 14, std::string(kHashHex).substr(2)),
                 "is not 64 lowercase hex digits");
  expectRejected(withToken(srv, 14, "AA" + std::string(kHashHex).substr(2)),
                 "srv identity hash 'AA");
  const std::string deleg(kDelegLine);
  expectRejected(withToken(deleg, 11, "2"), "deleg cipher '2' is not 1");
  expectRejected(withToken(deleg, 12, std::string(kNodePubHex).substr(1)),
                 "deleg key 'd4017c3e");
  expectRejected(withToken(deleg, 12, "3D" + std::string(kNodePubHex).substr(2)),
                 "is not 64 lowercase hex digits");
  auto all = oneOfEach();
  expectRejected(withToken(all[5].line, 11, "crash"),
                 "gone reason 'crash' is not exit, expired, deregister or replaced");
  expectRejected(withToken(all[1].line, 11, "-"), "infra replication endpoint '-' is not valid");
  expectRejected(withToken(all[1].line, 12, std::string(256, 'e')),
                 "infra broker endpoint '");
  expectRejected(withToken(all[6].line, 11, "300.1.1.1"), "ip4 value '300.1.1.1' is not an IPv4");
  expectRejected(withToken(all[6].line, 11, "2001:db8::1"), "is not an IPv4 address");
  expectRejected(withToken(all[7].line, 11, "fe80::1::2"), "ip6 value 'fe80::1::2' is not an IPv6");
}

BOOST_AUTO_TEST_CASE(sign_refuses_malformed_records_and_oversize_lines) {
  auto node = nodeKey();
  Record r = makeSrv(kTrustDomain, "node1", "dev.web.nginx1.default.node1", 1, {}, "listen", {},
                     kHashHex);
  kith::Status st = sign(r, node, kFrom, kUntil);
  BOOST_TEST(!st.isOk());
  BOOST_TEST(st.message().find("value '' is empty") != std::string::npos, st.message());
  BOOST_TEST(!r.isSigned());

  Record zero = makeGone(kTrustDomain, "node1", "a.b.c.d.node1", 0, "exit");
  BOOST_TEST(sign(zero, node, kFrom, kUntil).message() == "record: seq must be at least 1");
  Record spaced = makeGone(kTrustDomain, "node1", "a.b.c.d.node1", 1, "ex it");
  BOOST_TEST(!sign(spaced, node, kFrom, kUntil).isOk());

  Record ok = makeGone(kTrustDomain, "node1", "a.b.c.d.node1", 1, "exit");
  BOOST_TEST(!sign(ok, node, kUntil, kFrom).isOk());
  BOOST_TEST(!sign(ok, node, -1, kFrom).isOk());
  BOOST_TEST(!sign(ok, node, kFrom, kMaxRecordTime + 1).isOk());
  BOOST_TEST(!ok.isSigned());

  // 70 patterns of 60 bytes: every token is valid but the line is too long.
  std::vector<std::string> wl(70, "dev." + std::string(48, 'w') + ".*.*.*");
  Record big = makeSrv(kTrustDomain, "node1", "dev.web.nginx1.default.node1", 1, {"tcp"}, "listen",
                       wl, kHashHex);
  st = sign(big, node, kFrom, kUntil);
  BOOST_TEST(st.message().find("signed line would be") != std::string::npos, st.message());
  BOOST_TEST(!big.isSigned());
}

BOOST_AUTO_TEST_CASE(random_bytes_and_mutated_lines_never_crash_the_parser) {
  std::mt19937 rng(20261122);
  std::vector<std::string> seeds;
  for (const Record& r : oneOfEach()) seeds.push_back(r.line);
  seeds.emplace_back(kSrvLine);
  static const std::string kAlphabet = "SA .:-TZ0123456789abcdef,*_xdelgsrvnoinfra";
  size_t accepted = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string s;
    switch (i % 4) {
      case 0: {  // raw random bytes
        s.resize(rng() % 200);
        for (char& c : s) c = static_cast<char>(rng() & 0xff);
        break;
      }
      case 1: {  // random text from the record alphabet
        s.resize(rng() % 300);
        for (char& c : s) c = kAlphabet[rng() % kAlphabet.size()];
        break;
      }
      default: {  // a valid line with a few byte edits
        s = seeds[rng() % seeds.size()];
        int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits && !s.empty(); ++e) {
          size_t at = rng() % s.size();
          switch (rng() % 4) {
            case 0: s[at] = kAlphabet[rng() % kAlphabet.size()]; break;
            case 1: s.erase(at, 1 + rng() % 8); break;
            case 2: s.insert(at, 1, static_cast<char>(rng() & 0xff)); break;
            case 3: s.resize(at); break;
          }
        }
      }
    }
    auto r = parseSigned(s);
    if (r.isOk()) {
      ++accepted;
      // Whatever is accepted is canonical: it re-serialises to the same bytes.
      if (signedLine(*r) != s) BOOST_ERROR("accepted non-canonical line: " << s);
    } else if (r.status().message().rfind("record: ", 0) != 0) {
      BOOST_ERROR("unexpected error text: " << r.status().message());
    }
    (void)parseUnsigned(s);
  }
  BOOST_TEST_MESSAGE("random inputs accepted (valid after edits): " << accepted);
  BOOST_TEST(accepted < 30000u);
}

BOOST_AUTO_TEST_CASE(objtype_names_round_trip) {
  for (ObjType t : {ObjType::kDeleg, ObjType::kInfra, ObjType::kSrv, ObjType::kGone,
                    ObjType::kIp4, ObjType::kIp6}) {
    auto back = objTypeFromName(objTypeName(t));
    BOOST_REQUIRE(back.has_value());
    BOOST_TEST((*back == t));
  }
  BOOST_TEST(!objTypeFromName("").has_value());
  BOOST_TEST(!objTypeFromName("Srv").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
