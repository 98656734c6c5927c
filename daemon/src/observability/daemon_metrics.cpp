#include "kith/daemon/observability/daemon_metrics.h"

#include "kith/common/clock.h"

namespace kith::daemon {

DaemonMetrics::DaemonMetrics(DaemonMetricsSources s) : s_(s) {
  metrics().gauge("kith_build_info", "kithd's version (value is always 1)", {{"version", KITH_VERSION}}).set(1);
  // Make the families appear in the first scrape even before anything happens.
  metrics().counter("kith_relayed_bytes_total", "Bytes relayed by the local broker between workloads");
  (void)apiErrorCounter(Code::kBadRequest);  // makes every kith_api_errors_total{code} series
  metrics().gauge("kith_start_time_seconds", "When this kithd started, Unix seconds")
      .set(static_cast<double>(systemClock().nowMicros() / 1000000));
  collector_ = metrics().addCollector([this] { collect(); });
}

DaemonMetrics::~DaemonMetrics() { metrics().removeCollector(collector_); }

void DaemonMetrics::collect() {
  Metrics& m = metrics();
  m.gauge("kith_workloads", "Workloads registered on this machine").set(static_cast<double>(s_.registry.size()));
  const auto& rs = s_.registry.stats();
  m.counter("kith_registrations_total", "Registrations acknowledged").set(rs.registered);
  m.counter("kith_registration_ends_total", "Registrations ended, by reason", {{"reason", "expired"}}).set(rs.expired);
  m.counter("kith_registration_ends_total", "Registrations ended, by reason", {{"reason", "exited"}}).set(rs.exited);
  m.counter("kith_registration_ends_total", "Registrations ended, by reason", {{"reason", "other"}})
      .set(rs.ended - rs.expired - rs.exited);
  m.gauge("kith_api_connections", "Open socket-API connections (sessions), api.sock and admin.sock")
      .set(static_cast<double>(s_.server.connections()));
  m.counter("kith_api_requests_total", "Socket-API requests handled").set(s_.service.stats().requests);
  m.counter("kith_api_accept_pauses_total", "Times accepting paused for 100 ms for lack of file descriptors")
      .set(s_.server.acceptBackoffs());
  const auto& bs = s_.broker.stats();
  m.gauge("kith_streams_open", "Relayed streams open now").set(static_cast<double>(s_.broker.openStreams()));
  m.counter("kith_connects_total", "connect requests, by outcome", {{"result", "relayed"}}).set(bs.relayed);
  m.counter("kith_connects_total", "connect requests, by outcome", {{"result", "handed_off"}}).set(bs.handedOff);
  m.counter("kith_connects_total", "connect requests, by outcome", {{"result", "denied"}}).set(bs.denied);
  m.counter("kith_connects_total", "connect requests, by outcome", {{"result", "failed"}}).set(bs.failed);
  m.counter("kith_streams_revoked_total", "Relayed streams closed by policy or deregistration").set(bs.revoked);
  const auto& ps = s_.policy.stats();
  m.counter("kith_policy_decisions_total", "Policy decisions, by result", {{"result", "allow"}}).set(ps.allowed);
  m.counter("kith_policy_decisions_total", "Policy decisions, by result", {{"result", "deny"}}).set(ps.denied);
  m.counter("kith_policy_decisions_total", "Policy decisions, by result", {{"result", "audit"}}).set(ps.audited);
  m.counter("kith_policy_reloads_total", "Policy reloads, by result", {{"result", "ok"}}).set(ps.reloads);
  m.counter("kith_policy_reloads_total", "Policy reloads, by result", {{"result", "rejected"}}).set(ps.rejectedReloads);
  m.gauge("kith_policy_rules", "Rules in the policy in force").set(static_cast<double>(s_.policy.current()->rules().size()));
  auto st = s_.store.stats();
  m.counter("kith_store_writes_total", "State database writes, by result", {{"result", "ok"}}).set(st.opsCommitted);
  m.counter("kith_store_writes_total", "State database writes, by result", {{"result", "failed"}}).set(st.opsFailed);
  m.counter("kith_store_batches_total", "State database transactions (group commits)").set(st.batchesCommitted);
  m.gauge("kith_events_window", "Records held in the recent-events window").set(static_cast<double>(s_.events.size()));
  m.gauge("kith_healthy", "1 when no action is required and nothing is degraded").set(s_.health.healthy() ? 1 : 0);
  for (const auto& [file, notAfter] : s_.health.certExpiry()) {
    m.gauge("kith_certificate_expiry_timestamp_seconds", "notAfter of the node's certificates, Unix seconds",
            {{"file", file}})
        .set(static_cast<double>(notAfter));
  }
  if (s_.tunnels) {
    // Tunnels between machines (docs/TUNNELS.md): streams, links, bytes.
    const TunnelBroker& t = *s_.tunnels;
    nlohmann::json ts = t.statsJson();
    m.gauge("kith_tunnel_streams_open", "Streams to or from other machines open now")
        .set(static_cast<double>(t.openStreams()));
    m.gauge("kith_tunnel_links", "TLS links to other daemons (up or connecting)")
        .set(static_cast<double>(ts.value("links", 0)));
    m.counter("kith_tunnel_opens_total", "Streams this daemon opened to other machines, by outcome",
              {{"result", "opened"}})
        .set(ts.value("opened", uint64_t{0}));
    m.counter("kith_tunnel_opens_total", "Streams this daemon opened to other machines, by outcome",
              {{"result", "unreachable"}})
        .set(ts.value("unreachable", uint64_t{0}));
    m.counter("kith_tunnel_accepts_total", "Streams other machines opened here, by outcome", {{"result", "accepted"}})
        .set(ts.value("accepted", uint64_t{0}));
    m.counter("kith_tunnel_accepts_total", "Streams other machines opened here, by outcome", {{"result", "refused"}})
        .set(ts.value("refused", uint64_t{0}));
    uint64_t in = 0, out = 0;
    for (const auto& l : t.linksJson()) {
      in += l.value("bytes_in", uint64_t{0});
      out += l.value("bytes_out", uint64_t{0});
    }
    // Of the links up now (a closed link's bytes leave the sum).
    m.gauge("kith_tunnel_link_bytes", "Stream bytes carried by the links up now", {{"dir", "in"}})
        .set(static_cast<double>(in));
    m.gauge("kith_tunnel_link_bytes", "Stream bytes carried by the links up now", {{"dir", "out"}})
        .set(static_cast<double>(out));
  }
  if (s_.replicator) {
    nlohmann::json peers = s_.replicator->peersJson();
    int64_t up = 0, down = 0;
    for (const auto& p : peers) {
      bool isUp = p.value("state", "") == "up";
      (isUp ? up : down)++;
      std::string machine = p.value("machine", std::string("?"));
      int64_t ago = p.value("last_seen_ms_ago", int64_t{-1});
      // Replication lag as far as this side can see it: how long ago the peer
      // was last heard from (-1: never).
      m.gauge("kith_replication_peer_last_seen_seconds", "Seconds since the peer was last heard from (-1: never)",
              {{"peer", machine}})
          .set(ago < 0 ? -1.0 : static_cast<double>(ago) / 1000.0);
      m.gauge("kith_replication_peer_records", "Records held from the peer's zone", {{"peer", machine}})
          .set(p.value("records", 0.0));
    }
    m.gauge("kith_peers", "Replication peers, by state", {{"state", "up"}}).set(static_cast<double>(up));
    m.gauge("kith_peers", "Replication peers, by state", {{"state", "down"}}).set(static_cast<double>(down));
    nlohmann::json rs2 = s_.replicator->statsJson();
    m.gauge("kith_records", "Replicated records held").set(rs2.value("records", 0.0));
    for (const char* ev : {"published", "received", "stored", "replayed", "rolled_back", "rejected", "acks"}) {
      m.counter("kith_replication_records_total", "Replication record events, by kind", {{"event", ev}})
          .set(rs2.value(ev, uint64_t{0}));
    }
  } else {
    m.gauge("kith_peers", "Replication peers, by state", {{"state", "up"}}).set(0);
    m.gauge("kith_peers", "Replication peers, by state", {{"state", "down"}}).set(0);
    m.gauge("kith_records", "Replicated records held").set(0);
  }
}

}  // namespace kith::daemon
