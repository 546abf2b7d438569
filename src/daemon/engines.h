// The two engines a site daemon runs, one at a time, by its role in
// geo_nodes. Each owns its threads: built, it runs; destroyed, it stops and
// joins them. A role change (promotion) is "destroy one engine, build the
// other" in the same process.
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

#include "framework/scheduler.h"
#include "georep/replicable.h"
#include "site/config.h"
#include "site/sites.h"
#include "util/stop_signal.h"

namespace georep::daemon {

// What both engines work with.
struct SiteContext {
  const site::Config* config = nullptr;
  std::vector<ReplicableSpec> specs;
  std::string worker_id;  // this daemon's, in claims and heartbeats
};

class PrimaryEngine {
 public:
  explicit PrimaryEngine(const SiteContext& site);
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
  std::unique_ptr<framework::Scheduler> scheduler_;
  std::vector<std::thread> threads_;
};

// A secondary's engine under the operator's pause (site/pause.h): a watcher
// reads the pause every `poll_seconds`; while paused it keeps the standby's
// replay paused and no engine runs (no sync, no verification); on resume it
// builds the engine again. Rows a stopped engine held go back to pending,
// so nothing is lost; finished syncs stay recorded, so nothing is fetched
// twice.
class PausableSecondary {
 public:
  PausableSecondary(const SiteContext& site, const site::Site& self, const site::Site& primary,
                    double poll_seconds);
  ~PausableSecondary();
  PausableSecondary(const PausableSecondary&) = delete;
  PausableSecondary& operator=(const PausableSecondary&) = delete;

  bool paused() const { return paused_.load(); }

 private:
  void Watch();

  SiteContext site_;
  site::Site self_;
  site::Site primary_;
  double poll_seconds_;
  std::atomic<bool> paused_{false};
  std::unique_ptr<SecondaryEngine> engine_;  // only the watcher thread touches it
  StopSignal stop_;
  std::thread watcher_;
};

}  // namespace georep::daemon
