#include "daemon/engines.h"

#include "db/connection.h"
#include "events/log_cursor.h"
#include "framework/backfill.h"
#include "framework/checksummer.h"
#include "framework/registry_store.h"
#include "framework/verifier.h"
#include "site/pause.h"
#include "util/logging.h"
#include "util/loop.h"
#include "util/status_macros.h"

namespace georep::daemon {
namespace {

framework::VerificationOptions Verification(const SiteContext& site) {
  const site::Config& c = *site.config;
  return {.main_conninfo = c.main_database,
          .tracking_conninfo = c.tracking_database,
          .storage_root = c.storage_root,
          .repository_root = c.repository_root,
          .worker_id = site.worker_id,
          .interval_seconds = c.verification_interval_seconds,
          .repository_interval_seconds = c.repository_interval_seconds,
          .dead_worker_seconds = c.dead_worker_seconds};
}

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

PrimaryEngine::PrimaryEngine(const SiteContext& site) {
  threads_.emplace_back([this, options = Verification(site), specs = site.specs] {
    framework::Checksummer checksummer(options, specs);
    checksummer.Run(stop_);
  });
}

PrimaryEngine::~PrimaryEngine() {
  stop_.Stop();
  for (auto& t : threads_) t.join();
}

SecondaryEngine::SecondaryEngine(const SiteContext& site, const site::Site& self,
                                 const site::Site& primary)
    : site_(site) {
  const site::Config& c = *site.config;
  framework::BackfillOptions backfill{.standby_conninfo = c.main_database,
                                      .tracking_conninfo = c.tracking_database,
                                      .holder = site.worker_id,
                                      .storage_root = c.storage_root,
                                      .batch = c.backfill_batch,
                                      .interval_seconds = c.backfill_interval_seconds};
  threads_.emplace_back([this, backfill, specs = site.specs] {
    framework::Backfill b(backfill, specs);
    b.Run(stop_);
  });

  framework::SchedulerOptions sched{
      .sync = {.standby_conninfo = c.main_database,
               .tracking_conninfo = c.tracking_database,
               .storage_root = c.storage_root,
               .primary_url = WithoutTrailingSlash(primary.InternalUrl()),
               .access_key = c.access_key,
               .secret_access_key = c.secret_access_key,
               .worker_id = site.worker_id,
               .site_name = primary.name,
               .repository_root = c.repository_root},
      .capacity = std::max(1, self.files_max_capacity),
      .dead_worker_seconds = c.dead_worker_seconds,
      .sync_timeout_seconds = c.sync_timeout_seconds};
  scheduler_ = std::make_unique<framework::Scheduler>(sched, site.specs);
  scheduler_->Start();

  events::CursorOptions cursor{.standby_conninfo = c.main_database,
                               .tracking_conninfo = c.tracking_database,
                               .holder = site.worker_id,
                               .storage_root = c.storage_root,
                               .poll_seconds = c.cursor_poll_seconds,
                               .lease_seconds = c.cursor_lease_seconds,
                               .gap_timeout_seconds = c.gap_timeout_seconds,
                               .repository_root = c.repository_root};
  // The log cursor wakes the scheduler when it has queued work.
  cursor.on_applied = [scheduler = scheduler_.get()] { scheduler->Wake(); };
  threads_.emplace_back([this, cursor, specs = site.specs] {
    events::LogCursor log_cursor(cursor, specs);
    log_cursor.Run(stop_);
  });
  threads_.emplace_back([this, options = Verification(site), specs = site.specs] {
    framework::Verifier verifier(options, specs);
    verifier.Run(stop_);
  });
}

SecondaryEngine::~SecondaryEngine() {
  stop_.Stop();
  for (auto& t : threads_) t.join();
  scheduler_->Stop();
  // Rows this daemon still held go back to the queue at once.
  auto tracking = db::Connection::Open(site_.config->tracking_database);
  if (tracking.ok()) (void)framework::RetireWorker(**tracking, site_.worker_id);
}

PausableSecondary::PausableSecondary(const SiteContext& site, const site::Site& self,
                                     const site::Site& primary, double poll_seconds)
    : site_(site), self_(self), primary_(primary), poll_seconds_(poll_seconds) {
  watcher_ = std::thread([this] { Watch(); });
}

PausableSecondary::~PausableSecondary() {
  stop_.Stop();
  watcher_.join();
}

void PausableSecondary::Watch() {
  std::unique_ptr<db::Connection> tracking;
  std::unique_ptr<db::Connection> standby;
  LoopOptions loop{"pause watcher", 1.0, [&] {
                     tracking.reset();
                     standby.reset();
                   }};
  bool first = true;
  RunLoop(loop, stop_, [&]() -> absl::StatusOr<double> {
    GEOREP_RETURN_IF_ERROR(db::EnsureOpen(tracking, site_.config->tracking_database));
    GEOREP_ASSIGN_OR_RETURN(site::PauseState pause, site::ReadPause(*tracking));
    if (pause.paused) {
      GEOREP_RETURN_IF_ERROR(db::EnsureOpen(standby, site_.config->main_database));
      GEOREP_RETURN_IF_ERROR(site::EnforcePause(*standby, true));
    }
    if (pause.paused != paused_.load() || first) {
      log::Info(pause.paused ? "replication paused: no sync or verification until resumed"
                             : "replication running",
                {{"since", pause.since}, {"by", pause.by}});
    }
    first = false;
    paused_ = pause.paused;
    if (pause.paused) {
      engine_.reset();  // stops and joins its threads; held rows go back to pending
    } else if (!engine_) {
      engine_ = std::make_unique<SecondaryEngine>(site_, self_, primary_);
    }
    return poll_seconds_;
  });
  engine_.reset();
}

}  // namespace georep::daemon
