#include "daemon/engines.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/connection.h"
#include "events/backfill.h"
#include "events/log_cursor.h"
#include "events/prune.h"
#include "events/publish.h"
#include "framework/registry/lost_in_failover.h"
#include "framework/registry/registry_store.h"
#include "framework/verify/checksummer.h"
#include "framework/verify/verifier.h"
#include "site/pause.h"
#include "site/upstream.h"
#include "util/logging.h"
#include "util/loop.h"
#include "util/status_macros.h"

namespace georep::daemon {
namespace {

framework::VerificationOptions Verification(const SiteContext& site, const site::Site& self) {
  const config::Config& c = *site.config;
  return {
      .main_conninfo = c.main_database,
      .tracking_conninfo = c.tracking_database,
      .blobs = site.blobs,
      .repository_root = c.repository_root,
      .worker_id = site.worker_id,
      .interval_seconds = self.reverify_interval_seconds.value_or(c.verification_interval_seconds),
      .repository_interval_seconds = c.repository_interval_seconds,
      .dead_worker_seconds = c.dead_worker_seconds,
      .capacity = std::max(1, self.verification_max_capacity),
      .scrub_rate = c.scrub_rate};
}

// The replicables an engine of this site runs, and those it has disabled
// (config::DisabledReplicables).
struct SplitSpecs {
  std::vector<ReplicableSpec> enabled, disabled;
};
SplitSpecs Split(const SiteContext& site, const site::Site& self) {
  std::vector<std::string> off =
      config::DisabledReplicables(*site.config, self.disabled_replicables);
  SplitSpecs out;
  for (const auto& spec : site.specs) {
    bool is_off = std::find(off.begin(), off.end(), spec.name) != off.end();
    (is_off ? out.disabled : out.enabled).push_back(spec);
  }
  return out;
}

// The settings of a site's row (and its configuration's disabled types) an
// engine is built with.
std::string EngineSettings(const config::Config& config, const site::Site& self) {
  // The selection too: a secondary engine is built with it (backfill, cursor).
  const SelectiveSync& sel = self.selective_sync;
  return absl::StrCat(
      self.files_max_capacity, "/", self.repos_max_capacity, "/", self.verification_max_capacity,
      "/", self.reverify_interval_seconds.value_or(0), "/", SelectiveSyncKindName(sel.kind), ":",
      absl::StrJoin(sel.namespaces, ","), ":", absl::StrJoin(sel.shards, ","), "/",
      absl::StrJoin(config::DisabledReplicables(config, self.disabled_replicables), ","));
}

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

PrimaryEngine::PrimaryEngine(const SiteContext& site, const site::Site& self) {
  // No checksums of a type this site does not replicate.
  threads_.emplace_back(
      [this, options = Verification(site, self), specs = Split(site, self).enabled] {
        framework::Checksummer checksummer(options, specs);
        checksummer.Run(stop_);
      });
  const config::Config& c = *site.config;
  threads_.emplace_back(
      [this, options = events::PruneOptions{.main_conninfo = c.main_database,
                                            .interval_seconds = c.prune_interval_seconds,
                                            .hold_seconds = c.prune_hold_seconds,
                                            .batch = c.prune_batch}] {
        events::EventLogPruner pruner(options);
        pruner.Run(stop_);
      });
}

PrimaryEngine::~PrimaryEngine() {
  stop_.Stop();
  for (auto& t : threads_) t.join();
}

SecondaryEngine::SecondaryEngine(const SiteContext& site, const site::Site& self,
                                 const site::Site& primary)
    : site_(site) {
  const config::Config& c = *site.config;
  // A disabled type gets no engine at all; the backfill removes its rows
  // and copies.
  SplitSpecs split = Split(site, self);
  for (const auto& spec : split.disabled)
    log::Info("replicable disabled on this site: not replicated", {{"replicable", spec.name}});
  events::BackfillOptions backfill{.standby_conninfo = c.main_database,
                                   .tracking_conninfo = c.tracking_database,
                                   .holder = site.worker_id,
                                   .blobs = site_.blobs,
                                   .repository_root = c.repository_root,
                                   .batch = c.backfill_batch,
                                   .interval_seconds = c.backfill_interval_seconds,
                                   .selective_sync = self.selective_sync};
  threads_.emplace_back([this, backfill, specs = split.enabled, disabled = split.disabled] {
    // The first pass after the log cursor's first position: what is created
    // before that position is the backfill's, and found by this pass.
    std::unique_ptr<db::Connection> tracking;
    while (!stop_.stopped()) {
      if (db::EnsureOpen(tracking, backfill.tracking_conninfo).ok()) {
        auto started = events::CursorStarted(*tracking);
        if (started.ok() && *started) break;
        if (!started.ok()) tracking.reset();
      }
      stop_.WaitFor(0.2);
    }
    tracking.reset();
    if (stop_.stopped()) return;
    events::Backfill b(backfill, specs, disabled);
    b.Run(stop_);
  });

  framework::SchedulerOptions sched{
      .sync = {.standby_conninfo = c.main_database,
               .tracking_conninfo = c.tracking_database,
               .storage_root = c.storage_root,
               .blobs = site_.blobs,
               .primary_url = WithoutTrailingSlash(primary.InternalUrl()),
               .access_key = c.access_key,
               .secret_access_key = c.secret_access_key,
               .worker_id = site.worker_id,
               .site_name = primary.name,
               .repository_root = c.repository_root},
      .capacity = std::max(1, self.files_max_capacity),
      .repos_capacity = std::max(1, self.repos_max_capacity),
      .dead_worker_seconds = c.dead_worker_seconds,
      .sync_timeout_seconds = c.sync_timeout_seconds};
  sched.sync.on_unverified = [bell = &verifier_bell_] { bell->Ring(); };
  if (site.metrics != nullptr) {
    sched.on_synced = [metrics = site.metrics](const ReplicableSpec& spec, double seconds) {
      metrics->Observe("georep_sync_duration_seconds", {{"replicable", spec.name}}, seconds);
    };
    sched.on_latencies = [metrics = site.metrics](const ReplicableSpec& spec,
                                                  const std::vector<double>& seconds) {
      for (double s : seconds) {
        metrics->Observe("georep_replication_latency_seconds", {{"replicable", spec.name}}, s);
      }
    };
  }
  scheduler_ = std::make_unique<framework::Scheduler>(sched, split.enabled);
  scheduler_->Start();

  events::CursorOptions cursor{.standby_conninfo = c.main_database,
                               .tracking_conninfo = c.tracking_database,
                               .holder = site.worker_id,
                               .blobs = site_.blobs,
                               .poll_seconds = c.cursor_poll_seconds,
                               .lease_seconds = c.cursor_lease_seconds,
                               .gap_timeout_seconds = c.gap_timeout_seconds,
                               .repository_root = c.repository_root,
                               .selective_sync = self.selective_sync};
  // The log cursor wakes the scheduler when it has queued work.
  cursor.on_applied = [scheduler = scheduler_.get()] { scheduler->Wake(); };
  threads_.emplace_back([this, cursor, specs = split.enabled] {
    events::LogCursor log_cursor(cursor, specs);
    log_cursor.Run(stop_);
  });
  threads_.emplace_back([this, options = Verification(site, self), specs = split.enabled] {
    framework::Verifier verifier(options, specs);
    verifier.Run(stop_, &verifier_bell_);
  });
  // Items a forced failover recorded lost are not fetched (the primary
  // cannot serve them) until salvage removes their records.
  threads_.emplace_back([this, specs = split.enabled] {
    std::unique_ptr<db::Connection> standby, tracking;
    LoopOptions loop{"lost in failover", 1.0, [&] {
                       standby.reset();
                       tracking.reset();
                     }};
    RunLoop(loop, stop_, [&]() -> absl::StatusOr<double> {
      GEOREP_RETURN_IF_ERROR(db::EnsureOpen(standby, site_.config->main_database));
      GEOREP_RETURN_IF_ERROR(db::EnsureOpen(tracking, site_.config->tracking_database));
      auto changed = framework::FollowLostRecords(*standby, *tracking, specs);
      if (!changed.ok()) return changed.status();
      if (*changed > 0) {
        log::Info("registry follows the lost-in-failover records", {{"rows_changed", *changed}});
      }
      return defaults::kLostRecordsIntervalSeconds;
    });
  });
}

SecondaryEngine::~SecondaryEngine() {
  stop_.Stop();
  for (auto& t : threads_) t.join();
  scheduler_->Stop();
  // This engine's worker is retired: the rows it still held (claimed, not
  // run) are reclaimed by the next scheduler's first housekeeping.
  auto tracking = db::Connection::Open(site_.config->tracking_database);
  if (tracking.ok()) (void)framework::RetireWorker(**tracking, site_.worker_id);
}

SiteRunner::SiteRunner(const SiteContext& site, site::LiveRole* role, double role_poll_seconds)
    : site_(site), role_(role), poll_seconds_(role_poll_seconds) {
  watcher_ = std::thread([this] { Watch(); });
}

SiteRunner::~SiteRunner() {
  stop_.Stop();
  watcher_.join();
}

void SiteRunner::Watch() {
  LoopOptions loop{"role watcher", 1.0, [&] {
                     main_.reset();
                     tracking_.reset();
                   }};
  RunLoop(loop, stop_, [&] { return Round(); });
  primary_engine_.reset();
  secondary_engine_.reset();
}

absl::Status SiteRunner::BecomePrimary() {
  if (triggers_checked_) return absl::OkStatus();
  // Replicated from the old primary when this site was promoted; installed
  // (idempotently) all the same, for replicables declared only here.
  auto skipped = events::InstallPublishTriggers(*main_, site_.specs);
  if (!skipped.ok()) return skipped.status();
  triggers_checked_ = true;
  return absl::OkStatus();
}

absl::Status SiteRunner::PrepareSecondary() {
  if (site_.config->tracking_database.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "setting \"database.tracking\" in ", site_.config->path, ": required on a secondary"));
  }
  GEOREP_RETURN_IF_ERROR(db::EnsureOpen(tracking_, site_.config->tracking_database));
  if (registries_ready_) return absl::OkStatus();
  for (const auto& spec : site_.specs) {
    GEOREP_RETURN_IF_ERROR(framework::EnsureRegistryTable(*tracking_, spec));
  }
  registries_ready_ = true;
  return absl::OkStatus();
}

absl::StatusOr<double> SiteRunner::Round() {
  GEOREP_RETURN_IF_ERROR(db::EnsureOpen(main_, site_.config->main_database));
  GEOREP_ASSIGN_OR_RETURN(site::RoleState role, site::ReadRole(*main_, site_.config->site_name));
  role_->Set(role);

  Running want = Running::kNone;
  std::string state;
  bool paused = false;
  if (role.self.primary) {
    if (role.standby) {
      state = "geo_nodes names this site the primary, but its main database is a standby";
    } else {
      // In maintenance mode too: the checksummer must finish what was
      // written before it, or a planned promotion waits for ever for the
      // secondary to verify those items.
      want = Running::kPrimary;
      state = role.maintenance ? "primary in maintenance mode: writes refused" : "primary";
    }
  } else if (!role.primary) {
    state = "secondary with no primary in geo_nodes";
  } else {
    GEOREP_RETURN_IF_ERROR(PrepareSecondary());
    GEOREP_ASSIGN_OR_RETURN(site::PauseState pause, site::ReadPause(*tracking_));
    paused = pause.paused;
    GEOREP_ASSIGN_OR_RETURN(std::optional<site::Detached> detached, site::ReadDetached(*tracking_));
    {
      MutexLock lock(&mu_);
      detached_for_ = detached ? detached->new_primary : "";
    }
    if (!role.self.enabled) {
      state = "secondary, disabled in geo_nodes: no sync or verification until enabled";
    } else if (paused) {
      GEOREP_RETURN_IF_ERROR(site::EnforcePause(*main_, true));
      state = absl::StrCat("secondary, paused since ", pause.since, " by ", pause.by,
                           ": no sync or verification until resumed");
    } else {
      want = Running::kSecondary;
      state =
          absl::StrCat("secondary of ", role.primary->name, " at ", role.primary->InternalUrl());
    }
  }
  paused_ = paused;
  if (state != last_state_) {
    log::Info("site role", {{"site", role.self.name}, {"state", state}});
    last_state_ = state;
  }

  bool new_upstream = role.primary && (role.primary->id != pulling_from_ ||
                                       role.primary->InternalUrl() != pulling_url_);
  std::string settings = EngineSettings(*site_.config, role.self);
  bool new_settings = settings != engine_settings_;
  if (new_settings && (primary_engine_ || secondary_engine_)) {
    log::Info("site settings changed: engine restarts with them",
              {{"site", role.self.name}, {"settings", settings}});
  }
  if (want != Running::kSecondary || new_upstream || new_settings) {
    secondary_engine_.reset();  // stops and joins; held rows go back to pending
  }
  if (want != Running::kPrimary || new_settings) primary_engine_.reset();
  engine_settings_ = settings;
  if (want == Running::kPrimary && !primary_engine_) {
    GEOREP_RETURN_IF_ERROR(BecomePrimary());
    primary_engine_ = std::make_unique<PrimaryEngine>(site_, role.self);
  }
  if (want == Running::kSecondary && !secondary_engine_) {
    if (pulling_from_ != 0 && new_upstream) {
      // A new primary, or the primary at a new URL: what failed against the
      // old one is tried at once.
      int64_t due = 0;
      for (const auto& spec : site_.specs) {
        auto n = framework::RetryFailedNow(*tracking_, spec);
        if (!n.ok()) return n.status();
        due += *n;
      }
      log::Info(
          "new primary or primary URL: failed items are retried now",
          {{"primary", role.primary->name}, {"url", role.primary->InternalUrl()}, {"items", due}});
    }
    // Each engine claims under its own worker id: rows a stopped engine
    // left started (claimed, not yet run) belong to a retired worker, and
    // the next engine's scheduler reclaims them at once. Under the daemon's
    // id, kept alive by the next engine's heartbeat, they would wait out the
    // sync timeout.
    SiteContext engine_site = site_;
    engine_site.worker_id = absl::StrCat(site_.worker_id, ".", ++engines_started_);
    secondary_engine_ = std::make_unique<SecondaryEngine>(engine_site, role.self, *role.primary);
    pulling_from_ = role.primary->id;
    pulling_url_ = role.primary->InternalUrl();
  }
  running_ = want;
  return poll_seconds_;
}

}  // namespace georep::daemon
