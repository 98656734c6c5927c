// Hostchains: a seven-link history replays; every class of tampering is refused
// with its own error; HostID text form; zones; host directories on disk.
#include "kith/common/json.h"
#include "kith/identity/hostchain.h"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "kith/identity/host_cert.h"
#include "kith/identity/host_dir.h"
#include "kith/identity/host_zone.h"
#include "kith/identity/cert.h"
#include "test_util.h"

namespace id = kith::identity;
using id::HostchainError;
using id::HostchainLink;
using id::HostKeyRole;
using id::SigningKey;

namespace {

// The seven-link history of the issue, with the keys that made it.
struct History {
  SigningKey host1 = SigningKey::generate(), host2 = SigningKey::generate();
  SigningKey tls1 = SigningKey::generate(), tls2 = SigningKey::generate();
  SigningKey merkle1 = SigningKey::generate(), merkle2 = SigningKey::generate();
  SigningKey meta1 = SigningKey::generate(), meta2 = SigningKey::generate();
  id::HostId hid = id::HostId::fromHostKey(host1.publicKey());
  std::vector<HostchainLink> links;
  id::HostState state;

  void add(const SigningKey& signer, std::vector<id::NewKey> adds, std::vector<id::PublicKey> revokes) {
    auto l = id::makeLink(links.empty() ? nullptr : &state, hid, 1000 + static_cast<int64_t>(links.size()),
                          signer, adds, revokes);
    auto r = id::extendHostchain(state, l);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.message);
    state = r.state;
    links.push_back(l);
  }

  History() {
    // 1: the host key and its three delegated keys, stacked signatures.
    add(host1, {{HostKeyRole::kHost, &host1}, {HostKeyRole::kTlsCa, &tls1},
                {HostKeyRole::kMerkle, &merkle1}, {HostKeyRole::kMetadata, &meta1}}, {});
    add(host1, {}, {merkle1.publicKey()});                           // 2: revoke a delegated key
    add(host1, {{HostKeyRole::kMerkle, &merkle2}}, {});              // 3: a new Merkle signer
    add(host1, {{HostKeyRole::kTlsCa, &tls2}}, {tls1.publicKey()});  // 4: rotate the TLS CA
    add(host1, {{HostKeyRole::kHost, &host2}}, {});                  // 5: a second host key
    add(host2, {}, {host1.publicKey()});                             // 6: revoke the first
    add(host2, {{HostKeyRole::kMetadata, &meta2}}, {meta1.publicKey()});  // 7: signed by the second
  }
};

// Re-signs a link after tampering, with the given signer and the stacked keys.
void resign(HostchainLink& l, const SigningKey& signer, std::vector<const SigningKey*> adds = {}) {
  l.signer = signer.publicKey();
  l.signatures.clear();
  auto payload = l.payload();
  kith::Bytes outer = payload;
  for (auto* k : adds) {
    auto s = k->sign(payload);
    l.signatures.push_back(s);
    outer.insert(outer.end(), s.begin(), s.end());
  }
  l.signatures.push_back(signer.sign(outer));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identity_hostchain)

BOOST_AUTO_TEST_CASE(host_id_text_form_is_stable_and_round_trips) {
  SigningKey k = SigningKey::generate();
  auto hid = id::HostId::fromHostKey(k.publicKey());
  BOOST_TEST(hid.bytes()[0] == 0x02);
  std::string text = hid.toString();
  BOOST_TEST(text.size() == 53u);
  BOOST_TEST(text[0] == 'a');
  auto back = id::HostId::parse(text);
  BOOST_REQUIRE(back.isOk());
  BOOST_TEST((*back == hid));
  std::string upper = text;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  BOOST_TEST(id::HostId::parse(upper).isOk());
  BOOST_TEST(!id::HostId::parse(text.substr(0, 52)).isOk());
  BOOST_TEST(!id::HostId::parse("b" + text.substr(1)).isOk());  // wrong type byte
  BOOST_TEST(!id::HostId::parse(text + "a").isOk());
}

BOOST_AUTO_TEST_CASE(seven_link_history_replays_to_the_expected_keys) {
  History h;
  BOOST_REQUIRE(h.links.size() == 7u);
  auto r = id::replayHostchain(h.links);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.message);
  BOOST_TEST(r.state.seqno == 7u);
  BOOST_TEST((r.state.hostId == h.hid));
  BOOST_TEST((*r.state.current(HostKeyRole::kHost) == h.host2.publicKey()));
  BOOST_TEST((*r.state.current(HostKeyRole::kTlsCa) == h.tls2.publicKey()));
  BOOST_TEST((*r.state.current(HostKeyRole::kMerkle) == h.merkle2.publicKey()));
  BOOST_TEST((*r.state.current(HostKeyRole::kMetadata) == h.meta2.publicKey()));
  BOOST_TEST(r.state.revoked.size() == 4u);
  BOOST_TEST(!r.state.isLive(HostKeyRole::kHost, h.host1.publicKey()));
  // JSON round trip keeps every byte the signatures cover.
  auto j = id::chainToJson(h.links);
  auto back = id::chainFromJson(kith::parseJson(kith::dumpJson(j)));
  BOOST_REQUIRE(back.isOk());
  auto r2 = id::replayHostchain(*back);
  BOOST_TEST(r2.ok(), r2.message);
  BOOST_TEST((r2.state.lastHash == r.state.lastHash));
}

BOOST_AUTO_TEST_CASE(seqno_not_one_more_is_bad_seqno) {
  History h;
  h.links[3].seqno = 5;
  resign(h.links[3], h.host1, {&h.tls2});
  auto r = id::replayHostchain(h.links);
  BOOST_TEST((r.error == HostchainError::kBadSeqno), r.message);
  BOOST_TEST(r.state.seqno == 3u);  // valid up to the last good link
}

BOOST_AUTO_TEST_CASE(dropped_link_is_bad_seqno_and_reordered_prev_is_bad_prev_hash) {
  History h;
  auto dropped = h.links;
  dropped.erase(dropped.begin() + 2);
  BOOST_TEST((id::replayHostchain(dropped).error == HostchainError::kBadSeqno));
  h.links[4].prev[0] ^= 1;
  resign(h.links[4], h.host1, {&h.host2});
  auto r = id::replayHostchain(h.links);
  BOOST_TEST((r.error == HostchainError::kBadPrevHash), r.message);
}

BOOST_AUTO_TEST_CASE(first_link_not_signed_by_the_host_key_is_refused) {
  History h;
  SigningKey other = SigningKey::generate();
  auto l = h.links[0];
  resign(l, other, {&h.host1, &h.tls1, &h.merkle1, &h.meta1});
  auto r = id::replayHostchain({l});
  BOOST_TEST((r.error == HostchainError::kFirstLinkNotByHostKey), r.message);
  // Signed by the host key but not introducing it as a host key.
  auto l2 = id::makeLink(nullptr, h.hid, 1, h.host1, {{HostKeyRole::kTlsCa, &h.tls1}}, {});
  BOOST_TEST((id::replayHostchain({l2}).error == HostchainError::kFirstLinkNotByHostKey));
}

BOOST_AUTO_TEST_CASE(unknown_signer_is_refused) {
  History h;
  SigningKey stranger = SigningKey::generate();
  resign(h.links[1], stranger);
  BOOST_TEST((id::replayHostchain(h.links).error == HostchainError::kUnknownSigner));
  // A delegated key is not a host key either.
  History h2;
  resign(h2.links[1], h2.tls1);
  BOOST_TEST((id::replayHostchain(h2.links).error == HostchainError::kUnknownSigner));
}

BOOST_AUTO_TEST_CASE(revoked_signer_is_refused) {
  History h;
  // Link 7 signed by host1, which link 6 revoked.
  resign(h.links[6], h.host1, {&h.meta2});
  auto r = id::replayHostchain(h.links);
  BOOST_TEST((r.error == HostchainError::kRevokedSigner), r.message);
}

BOOST_AUTO_TEST_CASE(revoking_the_last_host_key_is_refused) {
  History h;
  auto l = id::makeLink(&h.state, h.hid, 2000, h.host2, {}, {h.host2.publicKey()});
  auto r = id::extendHostchain(h.state, l);
  BOOST_TEST((r.error == HostchainError::kRevokeLastHostKey), r.message);
}

BOOST_AUTO_TEST_CASE(changing_the_host_id_is_refused) {
  History h;
  SigningKey other = SigningKey::generate();
  h.links[2].hostId = id::HostId::fromHostKey(other.publicKey());
  resign(h.links[2], h.host1, {&h.merkle2});
  auto r = id::replayHostchain(h.links);
  BOOST_TEST((r.error == HostchainError::kHostIdChanged), r.message);
}

BOOST_AUTO_TEST_CASE(tampered_content_or_missing_stacked_signature_is_bad_signature) {
  History h;
  auto t = h.links;
  t[3].time += 1;  // not re-signed
  BOOST_TEST((id::replayHostchain(t).error == HostchainError::kBadSignature));
  t = h.links;
  t[4].signatures.erase(t[4].signatures.begin());  // the new host key did not sign
  BOOST_TEST((id::replayHostchain(t).error == HostchainError::kBadSignature));
  t = h.links;
  // Adding a key without proof of possession: the signer signs, but the new key's
  // signature is by someone else.
  SigningKey fake = SigningKey::generate();
  resign(t[4], h.host1, {&fake});
  BOOST_TEST((id::replayHostchain(t).error == HostchainError::kBadSignature));
}

BOOST_AUTO_TEST_CASE(revoking_an_unknown_key_or_re_adding_a_revoked_one_is_bad_change) {
  History h;
  SigningKey stranger = SigningKey::generate();
  auto l = id::makeLink(&h.state, h.hid, 2000, h.host2, {}, {stranger.publicKey()});
  BOOST_TEST((id::extendHostchain(h.state, l).error == HostchainError::kBadChange));
  auto l2 = id::makeLink(&h.state, h.hid, 2000, h.host2, {{HostKeyRole::kMerkle, &h.merkle1}}, {});
  BOOST_TEST((id::extendHostchain(h.state, l2).error == HostchainError::kBadChange));
}

BOOST_AUTO_TEST_CASE(zone_verifies_only_with_the_live_metadata_key) {
  History h;
  id::HostZone z;
  z.hostname = "a.example.test";
  z.hostId = h.hid;
  z.probe = z.reg = z.user = z.merkleQuery = "a.example.test:4430";
  z.time = 5;
  z.sign(h.meta2);
  BOOST_TEST(z.verify(h.state, nullptr).isOk());
  auto back = id::HostZone::fromJson(kith::parseJson(kith::dumpJson(z.toJson())));
  BOOST_REQUIRE(back.isOk());
  BOOST_TEST(back->verify(h.state, nullptr).isOk());
  back->probe = "evil.test:1";
  BOOST_TEST(!back->verify(h.state, nullptr).isOk());
  z.sign(h.meta1);  // revoked in link 7
  BOOST_TEST(!z.verify(h.state, nullptr).isOk());
}

BOOST_AUTO_TEST_CASE(host_dir_creates_0600_keys_rotates_and_reloads) {
  kith::identity::testing::TempDir tmp;
  auto p = id::HostDir::create(tmp.file("p"), "p.example.test", 100);
  BOOST_REQUIRE_MESSAGE(p.isOk(), p.status().toString());
  for (const char* f : {"host.key", "tls-ca.key", "merkle.key", "metadata.key"}) {
    struct stat st {};
    BOOST_REQUIRE(::stat(tmp.file(std::string("p/") + f).c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u, f);
  }
  auto caInfo = id::parseCertificatePem(p->tlsCaCertPem());
  BOOST_REQUIRE(caInfo.isOk());
  BOOST_TEST((caInfo->publicKey == p->key(HostKeyRole::kTlsCa)->publicKey()));
  BOOST_REQUIRE(p->rotate(HostKeyRole::kHost, 101).isOk());
  BOOST_REQUIRE(p->rotate(HostKeyRole::kTlsCa, 102).isOk());
  BOOST_TEST(p->chain().size() == 3u);
  auto again = id::HostDir::load(tmp.file("p"));
  BOOST_REQUIRE_MESSAGE(again.isOk(), again.status().toString());
  BOOST_TEST((again->id() == p->id()));
  BOOST_TEST(again->state().seqno == 3u);
  BOOST_TEST((again->key(HostKeyRole::kTlsCa)->publicKey() == *again->state().current(HostKeyRole::kTlsCa)));

  auto v = id::HostDir::create(tmp.file("v"), "v.example.test", 100, p->id());
  BOOST_REQUIRE(v.isOk());
  BOOST_TEST(v->isVhost());
  BOOST_TEST(v->key(HostKeyRole::kTlsCa) == nullptr);
  BOOST_TEST(!v->rotate(HostKeyRole::kMerkle, 101).isOk());
  // Loosened key file: refused.
  BOOST_REQUIRE(::chmod(tmp.file("v/host.key").c_str(), 0644) == 0);
  auto loose = id::HostDir::load(tmp.file("v"));
  BOOST_TEST(!loose.isOk());
  BOOST_TEST(loose.status().message().find("host.key") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(client_certificate_names_its_host_and_chains_to_the_host_ca) {
  kith::identity::testing::TempDir tmp;
  auto p = id::HostDir::create(tmp.file("p"), "p.example.test", 100);
  BOOST_REQUIRE(p.isOk());
  SigningKey leaf = SigningKey::generate();
  auto cert = id::issueHostClientCertificate(*p->key(HostKeyRole::kTlsCa), p->tlsCaCertPem(),
                                             leaf.publicKey(), p->id(), "alice");
  BOOST_REQUIRE(cert.isOk());
  auto info = id::parseCertificatePem(*cert);
  BOOST_REQUIRE(info.isOk());
  BOOST_REQUIRE(info->uriSans.size() == 1u);
  BOOST_TEST(info->uriSans[0] == id::hostUserUri(p->id(), "alice"));
  auto named = id::hostIdOfUri(info->uriSans[0]);
  BOOST_REQUIRE(named.isOk());
  BOOST_TEST((*named == p->id()));
  BOOST_TEST(id::verifyCertificate(*cert, p->tlsCaCertPem()).isOk());
  auto server = id::issueHostServerCertificate(*p->key(HostKeyRole::kTlsCa), p->tlsCaCertPem(),
                                               leaf.publicKey(), "p.example.test", p->id());
  BOOST_REQUIRE(server.isOk());
  BOOST_TEST(id::parseCertificatePem(*server)->dnsSans.at(0) == "p.example.test");
}

BOOST_AUTO_TEST_SUITE_END()
