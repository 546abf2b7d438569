// The two engines a site daemon runs, one at a time, by its role in
// geo_nodes, and the runner that picks one. Each engine owns its threads:
// built, it runs; destroyed, it stops and joins them. A role change
// (promotion) is "destroy one engine, build the other" in the same process.
//
//   PrimaryEngine    the checksummer (publish triggers are installed before).
//   SecondaryEngine  the log cursor, the consistency backfill, the sync
//                    scheduler and the verifier.
//
// Not thread-safe: one thread builds and destroys an engine.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "db/connection.h"
#include "framework/storage/blob_store.h"
#include "framework/sync/scheduler.h"
#include "georep/replicable.h"
#include "site/role.h"
#include "site/sites.h"
#include "util/metrics.h"
#include "util/mutex.h"
#include "util/stop_signal.h"

namespace georep::daemon {

// What both engines work with.
struct SiteContext {
  const config::Config* config = nullptr;
  std::vector<ReplicableSpec> specs;
  std::string worker_id;               // this daemon's, in claims and heartbeats
  MetricsRegistry* metrics = nullptr;  // may be null (tests)
  // Where this site keeps its blobs (framework/storage/blob_store.h).
  std::shared_ptr<const framework::BlobStore> blobs;
};

class PrimaryEngine {
 public:
  // `self`: this site's geo_nodes row (its re-verification period).
  PrimaryEngine(const SiteContext& site, const site::Site& self);
  ~PrimaryEngine();
  PrimaryEngine(const PrimaryEngine&) = delete;
  PrimaryEngine& operator=(const PrimaryEngine&) = delete;

 private:
  StopSignal stop_;
  std::vector<std::thread> threads_;
};

class SecondaryEngine {
 public:
  // `primary`: the site this one pulls from.
  SecondaryEngine(const SiteContext& site, const site::Site& self, const site::Site& primary);
  ~SecondaryEngine();
  SecondaryEngine(const SecondaryEngine&) = delete;
  SecondaryEngine& operator=(const SecondaryEngine&) = delete;

 private:
  SiteContext site_;
  StopSignal stop_;
  Doorbell verifier_bell_{&stop_};  // rung by syncs that left a copy unverified
  std::unique_ptr<framework::Scheduler> scheduler_;
  std::vector<std::thread> threads_;
};

// Runs the engine this site's role calls for, and changes it when the role
// changes, without a restart. A watcher re-reads the role (site/role.h)
// every `role_poll_seconds` and publishes it in `role`, and, on a
// secondary, the operator's pause (site/pause.h):
//
//   primary, not in maintenance   PrimaryEngine
//   primary in maintenance        PrimaryEngine (its checksums of what was
//                                 written before are awaited by a promotion)
//   secondary                     SecondaryEngine pulling from the primary,
//                                 rebuilt if another site becomes primary
//   secondary, paused             none; the standby's replay kept paused
//   secondary, disabled           none (PUT /api/v1/sites/NAME enabled:false)
//
// An engine is rebuilt when this site's capacities or re-verification
// period in geo_nodes change, so they take effect without a restart.
//
// A secondary whose main database was promoted and whose geo_nodes row now
// says primary (georep promote) becomes the primary here: its publish
// triggers are checked and the PrimaryEngine starts. Rows a stopped
// secondary engine held go back to pending, so nothing is lost; finished
// syncs stay recorded, so nothing is fetched twice.
class SiteRunner {
 public:
  SiteRunner(const SiteContext& site, site::LiveRole* role, double role_poll_seconds);
  ~SiteRunner();
  SiteRunner(const SiteRunner&) = delete;
  SiteRunner& operator=(const SiteRunner&) = delete;

  bool paused() const { return paused_.load(); }
  // The engine running now: "primary", "secondary" or "none".
  const char* engine() const {
    switch (running_.load()) {
      case Running::kPrimary:
        return "primary";
      case Running::kSecondary:
        return "secondary";
      default:
        return "none";
    }
  }
  // The site a promotion detached this standby for; empty when none.
  std::string detached_for() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return detached_for_;
  }

 private:
  enum class Running { kNone, kPrimary, kSecondary };
  void Watch();
  absl::StatusOr<double> Round();
  absl::Status BecomePrimary();
  absl::Status PrepareSecondary();

  SiteContext site_;
  site::LiveRole* role_;
  double poll_seconds_;
  std::atomic<bool> paused_{false};
  mutable Mutex mu_;
  std::string detached_for_ ABSL_GUARDED_BY(mu_);
  // Only the watcher thread touches these.
  std::unique_ptr<db::Connection> main_;
  std::unique_ptr<db::Connection> tracking_;
  std::unique_ptr<PrimaryEngine> primary_engine_;
  std::unique_ptr<SecondaryEngine> secondary_engine_;
  std::atomic<Running> running_{Running::kNone};
  int64_t pulling_from_ = 0;  // the primary's site id the secondary engine pulls from
  std::string pulling_url_;
  std::string engine_settings_;
  int engines_started_ = 0;  // secondary engines built, for their worker ids  // this site's row's
                             // settings the engine runs with
  bool triggers_checked_ = false;
  bool registries_ready_ = false;
  std::string last_state_;  // for one log line a change
  StopSignal stop_;
  std::thread watcher_;
};

}  // namespace georep::daemon
