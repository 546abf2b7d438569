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

}  // namespace georep::daemon
