// RogueNode: a test-side replication peer with a VALID node identity (issued
// by the mesh's own CA with `kithctl ca issue-node`) that speaks the real
// protocol through replication::Transport — real ZeroMQ, real CURVE, a real
// HELLO — so a test can push whatever records it likes to a real kithd and
// check what the daemon does with them (docs/REPLICATION.md: rejections are
// counted by reason and never stored or served).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "kith/common/clock.h"
#include "kith/identity/ca_dir.h"
#include "kith/replication/record.h"
#include "kith/replication/shard.h"
#include "kith/replication/signer.h"
#include "kith/replication/transport.h"
#include "kith/replication/version_vector.h"
#include "mesh.h"

namespace kith::test {

class RogueNode {
 public:
  // Issues a node identity for `machine` from the mesh CA, binds a transport
  // and dials `target` (a running daemon of the mesh).
  RogueNode(Mesh& mesh, const std::string& machine, const std::string& target)
      : machine_(machine), td_("mesh.kith") {
    std::string dir = mesh.dir.path() + "/" + machine + "-node", out;
    BOOST_REQUIRE_MESSAGE(runCommand(binDir() + "/kithctl ca issue-node " + machine + " --ca " + mesh.ca +
                                         " --out " + dir, &out) == 0, out);
    auto node = identity::NodeIdentity::load(dir);
    BOOST_REQUIRE_MESSAGE(node.isOk(), node.status().message());
    key_ = node->key.clone();
    std::string deleg;
    BOOST_REQUIRE(runCommand("head -n1 " + dir + "/deleg | tr -d '\\n'", &deleg) == 0);
    replication::TransportConfig tc;
    tc.machine = machine;
    tc.bind_endpoint = "tcp://127.0.0.1:0";
    // The daemon's HELLO: take the deleg's machine and key (the transport
    // checks them against what addPeer pinned).
    tc.verify_hello = [](const replication::Message& m) -> Result<replication::PeerIdentity> {
      if (m.frames.empty()) return Status::badRequest("no deleg");
      auto d = replication::parseSigned(m.frames[0]);
      if (!d.isOk()) return d.status();
      auto k = replication::delegKey(*d);
      if (!k.isOk()) return k.status();
      return replication::PeerIdentity{d->subject, *k};
    };
    replication::Record infra = makeInfra(1);
    tc.hello = replication::Message{"HELLO", {deleg, infra.line, "{}"}};
    auto t = replication::Transport::start(key_, std::move(tc), [](replication::Event) {});
    BOOST_REQUIRE_MESSAGE(t.isOk(), t.status().message());
    transport_ = std::move(t).value();
    target_ = target;
    dial(mesh, target);
  }
  // Dials another daemon of the mesh too and waits until it is up.
  void dial(Mesh& mesh, const std::string& target) {
    json peers = mesh.admin(target).request({{"op", "peers"}})->json;
    std::string keyHex = peers["node_key"];
    identity::PublicKey pk{};
    auto raw = fromHex(keyHex);
    BOOST_REQUIRE(raw && raw->size() == 32);
    std::copy(raw->begin(), raw->end(), pk.begin());
    BOOST_REQUIRE(transport_->addPeer(target, peers["endpoint"], pk).isOk());
    BOOST_REQUIRE_MESSAGE(waitFor([&] {
      for (const auto& p : transport_->peers()) {
        if (p.machine == target && p.up) return true;
      }
      return false;
    }, 15000), "the daemon never answered the rogue HELLO");
  }
  ~RogueNode() { transport_->stop(); }

  const std::string& machine() const { return machine_; }
  const identity::SigningKey& key() const { return key_; }

  // A signed srv record for `address` (its zone is `zone`), valid [from, until].
  replication::Record srv(const std::string& zone, const std::string& address, uint64_t seq, int64_t from,
                          int64_t until) const {
    replication::Record r = replication::makeSrv(td_, zone, address, seq, {"tcp"}, "listen", {},
                                                 std::string(64, '0'));
    BOOST_REQUIRE(replication::sign(r, key_, from, until).isOk());
    return r;
  }
  static int64_t now() { return systemClock().nowMicros() / 1'000'000; }

  // A shard seal (docs/REPLICATION.md, Shards) over `lines` as zone `zone`,
  // signed with this node's key; push({seal, lines...}) sends them sealed.
  std::string seal(const std::string& zone, const std::vector<std::string>& lines, int64_t from,
                   int64_t until) const {
    auto s = replication::sealShard(td_, zone, lines, key_, from, until);
    BOOST_REQUIRE_MESSAGE(s.isOk(), s.status().message());
    return *s;
  }
  std::vector<std::string> sealed(const std::string& zone, const std::vector<std::string>& lines) const {
    std::vector<std::string> out{seal(zone, lines, now() - 60, now() + 600)};
    out.insert(out.end(), lines.begin(), lines.end());
    return out;
  }

  void push(const std::vector<std::string>& lines) { push(target_, lines); }
  void push(const std::string& target, const std::vector<std::string>& lines) {
    BOOST_REQUIRE(transport_->send(target, replication::Message{"RECORDS", lines}).isOk());
  }

 private:
  using json = nlohmann::json;
  replication::Record makeInfra(uint64_t seq) const {
    replication::Record r = replication::makeInfra(td_, machine_, seq, "tcp://127.0.0.1:1", "-");
    BOOST_REQUIRE(replication::sign(r, key_, now() - 60, now() + 3600).isOk());
    return r;
  }

  std::string machine_, td_, target_;
  identity::SigningKey key_ = identity::SigningKey::generate();
  std::unique_ptr<replication::Transport> transport_;
};

// The `replication` block of a daemon's status, and its rejections by reason.
inline nlohmann::json replicationStats(Mesh& mesh, const std::string& m) {
  return mesh.admin(m).request({{"op", "status"}})->json["replication"];
}
inline uint64_t rejectedFor(Mesh& mesh, const std::string& m, const std::string& reason) {
  return replicationStats(mesh, m)["rejected_by_reason"].value(reason, uint64_t{0});
}

}  // namespace kith::test
