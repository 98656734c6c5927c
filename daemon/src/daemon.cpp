#include "kith/daemon/daemon.h"

#include <sys/stat.h>

#include <cerrno>

#include "kith/common/clock.h"
#include "kith/common/log.h"
#include "kith/daemon/config/state_dir.h"

namespace kith::daemon {
namespace {

constexpr const char* kMod = "kithd";

Status makeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Status::fromErrno("mkdir " + path, errno);
  }
  return Status::ok();
}

}  // namespace

Daemon::Daemon(Loop& loop, DaemonOptions opts) : loop_(loop), opts_(std::move(opts)) {}

Daemon::~Daemon() {
  drain();
  // Flush the store: its completions (posted to the loop) capture the
  // registry, so they must run while the registry still lives.
  if (store_) store_->close();
  loop_.runPosted();
  // Same for log records the logger's tap posted for the event window.
  if (events_) events_->detachFromLogger();
  loop_.runPosted();
  metricsHttp_.reset();
  metrics_.reset();
  health_.reset();
  service_.reset();
  admin_.reset();
  tunnels_.reset();
  loop_.runPosted();
  svids_.reset();
  vhost_.reset();
  replicator_.reset();
  creds_.reset();
  broker_.reset();
  ends_.reset();
  authorizer_.reset();
  server_.reset();
  registry_.reset();
  store_.reset();
  events_.reset();
}

Result<std::unique_ptr<Daemon>> Daemon::create(Loop& loop, DaemonOptions opts) {
  std::unique_ptr<Daemon> d(new Daemon(loop, std::move(opts)));
  KITH_RETURN_IF_ERROR(makeDir(d->opts_.runDir, 0755));
  KITH_RETURN_IF_ERROR(makeDir(d->opts_.runDir + "/streams", 0711));
  d->events_ = std::make_unique<EventLog>(loop);
  d->events_->attachToLogger();
  d->policy_ = std::make_unique<PolicyManager>(d->opts_.policyFile);
  KITH_RETURN_IF_ERROR(d->policy_->load());
  KITH_RETURN_IF_ERROR(checkStateDir(d->opts_.storePath));
  auto store = Store::open(d->opts_.storePath, [&loop](std::function<void()> fn) {
    loop.post(std::move(fn));
  });
  if (!store.isOk()) return store.status();
  d->store_ = std::move(store).value();
  Registry::Options ro;
  ro.machine = d->opts_.machine;
  ro.trustDomain = d->opts_.trustDomain;
  ro.machineIdentity = d->opts_.machineIdentity.empty() ? d->opts_.machine : d->opts_.machineIdentity;
  ro.defaultTtlMs = d->opts_.defaultTtlMs;
  ro.maxTtlMs = d->opts_.maxTtlMs;
  d->registry_ = std::make_unique<Registry>(loop, *d->store_, ro);
  KITH_RETURN_IF_ERROR(d->registry_->restore());
  return d;
}

Status Daemon::start() {
  ServiceInfo info{opts_.machine, opts_.trustDomain, static_cast<int64_t>(loop_.nowMs())};
  // Each part is made after what it uses, so nothing is wired afterwards: the
  // API server first (the broker hands `incoming` streams to its listening
  // connections; it serves once the service exists), then the stream path,
  // replication, tunnels and the broker, then what answers requests.
  server_ = std::make_unique<ApiServer>(
      loop_, ApiServer::Options{opts_.apiSocket, opts_.adminSocket, opts_.adminGroup, opts_.maxConnections});
  authorizer_ = std::make_unique<StreamAuthorizer>(*policy_);
  ends_ = std::make_unique<ServerEnds>(loop_, *registry_, *server_);
  // The tunnel listener is bound before replication starts, so that our infra
  // record names where other daemons reach it.
  std::optional<TunnelListener> tunnelListener;
  if (opts_.tunnels) {
    auto l = bindTunnelListener(opts_.tunnels->listen, opts_.tunnels->advertise);
    if (!l.isOk()) return l.status();
    tunnelListener = std::move(l).value();
  }
  if (opts_.replication && opts_.nodeKey) {
    ReplicatorOptions ro = *opts_.replication;
    if (tunnelListener) ro.brokerEndpoint = tunnelListener->endpoint;
    auto r = Replicator::create(loop_, *store_, *registry_, *opts_.nodeKey, std::move(ro));
    if (!r.isOk()) return r.status();
    replicator_ = std::move(r).value();
  }
  if (tunnelListener) {
    if (!replicator_) return Status::config("[broker] listen needs [replication] (where machines take tunnels)");
    auto t = TunnelBroker::create(loop_, TunnelDeps{*registry_, *ends_, *authorizer_, *replicator_, *replicator_, systemClock()},
                                  std::move(*tunnelListener), *opts_.tunnels);
    if (!t.isOk()) return t.status();
    tunnels_ = std::move(t).value();
  }
  broker_ = std::make_unique<LocalBroker>(
      loop_, *registry_, *ends_, *authorizer_, replicator_.get(), tunnels_.get(),
      LocalBroker::Options{opts_.machine, opts_.trustDomain, opts_.runDir + "/streams", opts_.localHandoff});
  // Live enforcement: a deregistration closes the streams of that workload; a
  // policy swap re-checks every open stream.
  registry_->addWatcher([this](const Registry::Event& ev) {
    // A process that exits closes its own sockets; what it already sent is
    // still delivered (cutting its streams would lose it). Every other end
    // of a registration (deregister, expiry, replacement) revokes at once.
    if (!ev.isRegister() && ev.reason != EndReason::kExit) {
      std::string why = std::string("deregistered (") + endReasonName(ev.reason) + ")";
      broker_->closeStreamsOf(ev.address, why);
      if (tunnels_) tunnels_->closeStreamsOf(ev.address, why);
    }
  }, Registry::kLocalEvents | Registry::kRemoteDeregisters);
  policy_->onChange([this] {
    broker_->revalidate();
    if (tunnels_) tunnels_->revalidate();
  });
  for (const auto& u : opts_.upstreams) {
    auto up = Upstream::create(loop_, *registry_, *broker_, u);
    if (!up.isOk()) return up.status();
    upstreams_.push_back(std::move(up).value());
  }
  if (opts_.node) {
    creds_ = std::make_unique<NodeCredentials>(loop_, opts_.nodeDir, opts_.node);
    svids_ = std::make_unique<SvidService>(loop_, *registry_, *creds_, opts_.svidTtlSec);
    creds_->onRotate([this](const NodeSnapshot& now, const NodeSnapshot&) {
      if (replicator_ && !now.delegLine.empty()) replicator_->rotateIdentity(now.identity.key, now.delegLine);
      // New tunnel links present the new certificate; open ones keep theirs.
      if (tunnels_) {
        (void)tunnels_->setTls({now.identity.certPem, now.identity.key.toPkcs8Pem(), now.identity.rootPem,
                                opts_.trustDomain});
      }
    });
    creds_->startWatching(opts_.nodeWatchMs);
  }
  vhost_ = std::make_unique<VhostService>(loop_, *store_, *registry_, *broker_, opts_.vhost);
  KITH_RETURN_IF_ERROR(vhost_->start());
  // Observability: health (events), the HTTP listener, the metrics collector.
  health_ = std::make_unique<HealthMonitor>(loop_, *policy_, *server_, *store_, replicator_.get(), tunnels_.get(),
                                            HealthOptions{opts_.nodeDir, opts_.healthIntervalMs});
  policy_->onChange([this] { health_->check(); });
  policy_->onReject([this] { health_->check(); });
  if (!opts_.metricsListen.empty()) {
    metricsHttp_ = std::make_unique<MetricsHttp>(
        loop_, MetricsHttp::Options{opts_.metricsListen, opts_.metricsAllowNonLoopback},
        [] { return metrics().render(); });
    KITH_RETURN_IF_ERROR(metricsHttp_->start());
  }
  admin_ = std::make_unique<AdminOps>(AdminDeps{loop_, *registry_, *events_, *policy_, *broker_, tunnels_.get(),
                                                replicator_.get(), vhost_.get(), metricsHttp_.get(), opts_.machine});
  service_ = std::make_unique<ApiService>(ApiServiceDeps{loop_, *registry_, *broker_, *policy_, *server_, *admin_,
                                                         replicator_.get(), tunnels_.get(), svids_.get(),
                                                         health_.get()},
                                          info);
  KITH_RETURN_IF_ERROR(server_->start(*service_));
  metrics_ = std::make_unique<DaemonMetrics>(DaemonMetricsSources{
      *registry_, *server_, *service_, *broker_, *policy_, *store_, *events_, *health_, replicator_.get(),
      tunnels_.get()});
  health_->start();
  log::info(kMod, "serving", {{"machine", opts_.machine}, {"trust_domain", opts_.trustDomain},
                              {"api", opts_.apiSocket}, {"admin", opts_.adminSocket},
                              {"workloads", registry_->size()}});
  return Status::ok();
}

void Daemon::drain() {
  if (drained_) return;
  drained_ = true;
  log::info(kMod, "draining", {{"workloads", registry_ ? registry_->size() : 0}});
  upstreams_.clear();
  if (server_) server_->stop();
  metricsHttp_.reset();
  if (replicator_) replicator_->stop();
  if (tunnels_) tunnels_->closeAll();
  if (creds_) creds_->stop();
  if (broker_) broker_->closeAll();
  if (ends_) ends_->closeAll();
  if (vhost_) vhost_->stop();
  if (registry_) registry_->shutdown();
}

void Daemon::checkNodeIdentity() {
  if (creds_) (void)creds_->checkForRotation();  // logs cert_rotated / cert_rotation_rejected
}

Status Daemon::reloadPolicy() { return policy_->reload(); }

}  // namespace kith::daemon
