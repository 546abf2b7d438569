// Consistency backfill: makes each registry match its model table, so a new
// secondary of an existing site, or one that missed events, converges.
//
// Walks the model table (on the standby) in id ranges of `batch` ids; per
// range one set-based INSERT … ON CONFLICT DO NOTHING creates the missing
// registry rows, and rows whose model is gone (or outside the site's
// selective sync) are deleted with their files.
// A would-be orphan is looked up on the standby again after the registry was
// read, so a row created by the cursor meanwhile is never taken for one.
// Progress is kept in georep.backfill_state, so a restart resumes. One
// backfiller runs per secondary (lease "backfill"). A full pass runs every
// interval, and at once when the log cursor falls back past events the
// primary pruned (events/log_cursor.h).
//
// Not thread-safe: one thread runs a Backfill.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/defaults.h"
#include "db/connection.h"
#include "framework/storage/blob_store.h"
#include "georep/replicable.h"
#include "georep/selective_sync.h"
#include "util/stop_signal.h"

namespace georep::events {

struct BackfillOptions {
  std::string standby_conninfo;
  std::string tracking_conninfo;
  std::string holder;                                 // lease holder id
  std::shared_ptr<const framework::BlobStore> blobs;  // orphans' blobs are removed from here
  std::string repository_root;                        // and orphans' repositories from here
  int batch = defaults::kBackfillBatch;
  double interval_seconds = defaults::kBackfillIntervalSeconds;  // pause between complete passes
  // What this secondary holds: rows outside it are not created, and
  // existing ones are removed with their copies, like orphans. A replicable
  // whose scope (ScopeSql) differs from the one its saved position was made
  // under starts its pass again from the first id.
  SelectiveSync selective_sync;
};

struct BackfillStats {
  int64_t created = 0;
  int64_t removed = 0;
  bool pass_complete = false;  // every replicable reached its end
};

class Backfill {
 public:
  // `disabled`: replicables this site does not replicate; every pass removes
  // their registry rows and copies.
  Backfill(BackfillOptions options, std::vector<ReplicableSpec> specs,
           std::vector<ReplicableSpec> disabled = {});

  void Run(const StopSignal& stop);
  // Steps every replicable until each has reached the end of its table, or
  // `budget_seconds` pass.
  absl::StatusOr<BackfillStats> Pass(double budget_seconds);

 private:
  absl::Status Connect();
  // One range of one replicable; sets *at_end when the table is exhausted.
  absl::StatusOr<BackfillStats> Step(const ReplicableSpec& spec, bool* at_end);
  // Removes a batch of a disabled replicable's rows and their copies; sets
  // *at_end when none is left.
  absl::StatusOr<BackfillStats> Clear(const ReplicableSpec& spec, bool* at_end);

  BackfillOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::vector<ReplicableSpec> disabled_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
};

}  // namespace georep::events
