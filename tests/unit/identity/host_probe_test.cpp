// The client side of probes: answers are checked against their hostchain and
// zone; pins refuse rollback, fork and a hostname that changes HostID.
#include "kith/identity/host_probe.h"

#include <boost/test/unit_test.hpp>

#include "kith/identity/host_dir.h"
#include "test_util.h"

namespace id = kith::identity;
using id::HostKeyRole;

namespace {

id::ProbeAnswer answerFor(const id::HostDir& h, const id::HostDir* primary = nullptr) {
  id::ProbeAnswer a;
  a.hostname = h.hostname();
  a.hostId = h.id();
  a.chain = h.chain();
  a.zone.hostname = h.hostname();
  a.zone.hostId = h.id();
  a.zone.probe = a.zone.user = a.zone.reg = a.zone.merkleQuery = h.hostname() + ":1";
  const id::HostDir& keys = primary ? *primary : h;
  a.zone.sign(*keys.key(HostKeyRole::kMetadata));
  if (primary) {
    a.primaryHostname = primary->hostname();
    a.primaryId = primary->id();
    a.primaryChain = primary->chain();
  }
  return a;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(identity_host_probe)

BOOST_AUTO_TEST_CASE(answer_checks_name_id_chain_and_zone) {
  kith::identity::testing::TempDir tmp;
  auto p = id::HostDir::create(tmp.file("p"), "p.example.test", 1);
  auto q = id::HostDir::create(tmp.file("q"), "q.example.test", 1);
  BOOST_REQUIRE(p.isOk() && q.isOk());
  auto a = answerFor(*p);
  BOOST_TEST(id::checkProbeAnswer(a, std::string("p.example.test"), p->id()).isOk());
  BOOST_TEST(!id::checkProbeAnswer(a, std::string("q.example.test"), std::nullopt).isOk());
  BOOST_TEST(!id::checkProbeAnswer(a, std::nullopt, q->id()).isOk());
  auto forged = a;
  forged.zone.sign(*q->key(HostKeyRole::kMetadata));  // not p's metadata key
  BOOST_TEST(!id::checkProbeAnswer(forged, std::nullopt, std::nullopt).isOk());
  auto swapped = a;
  swapped.chain = q->chain();  // another host's chain under p's name and ID
  BOOST_TEST(!id::checkProbeAnswer(swapped, std::nullopt, std::nullopt).isOk());
  // JSON round trip of the daemon's answer form.
  nlohmann::json j = {{"ok", true}, {"hostname", a.hostname}, {"host_id", a.hostId.toString()},
                      {"chain", id::chainToJson(a.chain)}, {"zone", a.zone.toJson()}};
  auto parsed = id::parseProbeAnswer(j);
  BOOST_REQUIRE(parsed.isOk());
  BOOST_TEST(id::checkProbeAnswer(*parsed, std::nullopt, std::nullopt).isOk());
}

BOOST_AUTO_TEST_CASE(vhost_answer_needs_the_primary_its_alias_names) {
  kith::identity::testing::TempDir tmp;
  auto p = id::HostDir::create(tmp.file("p"), "p.example.test", 1);
  auto other = id::HostDir::create(tmp.file("o"), "o.example.test", 1);
  BOOST_REQUIRE(p.isOk() && other.isOk());
  auto v = id::HostDir::create(tmp.file("v"), "v.example.test", 1, p->id());
  BOOST_REQUIRE(v.isOk());
  auto a = answerFor(*v, &*p);
  auto c = id::checkProbeAnswer(a, std::string("v.example.test"), std::nullopt);
  BOOST_REQUIRE_MESSAGE(c.isOk(), c.status().message());
  BOOST_TEST((c->keys().hostId == p->id()));
  auto wrong = answerFor(*v, &*other);
  BOOST_TEST(!id::checkProbeAnswer(wrong, std::nullopt, std::nullopt).isOk());
}

BOOST_AUTO_TEST_CASE(pins_refuse_rollback_fork_and_a_changed_host_id) {
  kith::identity::testing::TempDir tmp;
  auto p = id::HostDir::create(tmp.file("p"), "p.example.test", 1);
  BOOST_REQUIRE(p.isOk());
  auto at1 = answerFor(*p);
  auto s1 = id::replayHostchain(at1.chain).state;
  id::HostPins pins;
  BOOST_TEST(pins.check(at1, s1).isOk());
  pins.record(at1, s1);
  BOOST_REQUIRE(p->rotate(HostKeyRole::kMerkle, 2).isOk());
  auto at2 = answerFor(*p);
  auto s2 = id::replayHostchain(at2.chain).state;
  BOOST_TEST(pins.check(at2, s2).isOk());  // extends
  pins.record(at2, s2);
  BOOST_REQUIRE(pins.save(tmp.file("pins.json")).isOk());
  auto loaded = id::HostPins::load(tmp.file("pins.json"));
  BOOST_REQUIRE(loaded.isOk());
  auto rb = loaded->check(at1, s1);
  BOOST_TEST(rb.message().rfind("rollback: ", 0) == 0u, rb.message());
  // A fork: the same link-1 history, another link 2.
  auto forkDir = id::HostDir::load(tmp.file("p"));
  BOOST_REQUIRE(forkDir.isOk());
  auto forkAnswer = at1;
  auto forkLink = id::makeLink(&s1, s1.hostId, 3, *forkDir->key(HostKeyRole::kHost), {},
                          {*s1.current(HostKeyRole::kMerkle)});
  forkAnswer.chain.push_back(forkLink);
  auto fs = id::replayHostchain(forkAnswer.chain);
  BOOST_REQUIRE_MESSAGE(fs.ok(), fs.message);
  auto fk = loaded->check(forkAnswer, fs.state);
  BOOST_TEST(fk.message().rfind("fork: ", 0) == 0u, fk.message());
  // Same hostname, another HostID.
  auto imposter = id::HostDir::create(tmp.file("i"), "p.example.test", 1);
  BOOST_REQUIRE(imposter.isOk());
  auto ia = answerFor(*imposter);
  auto pin = loaded->check(ia, id::replayHostchain(ia.chain).state);
  BOOST_TEST(pin.message().rfind("pin: ", 0) == 0u, pin.message());
}

BOOST_AUTO_TEST_SUITE_END()
