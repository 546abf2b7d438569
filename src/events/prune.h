// Event-log pruning on the primary: events every secondary has applied are
// deleted, so the log does not grow for ever.
//
// The horizon is the lowest `cursor.oldest_needed_event_id` (a cursor's
// first gap, else the event after its position) in the status reports of
// the enabled secondaries that reported within the hold (default 24 h);
// with none, the whole log goes. A report is at most one interval old and a
// cursor's need only rises, so a report never lets go of an event its site
// still needs. A site that has not reported for longer than the hold, or
// disabled, holds nothing back; when it returns, its cursor finds the
// watermark (georep.event_log_pruned, replicated) above what it needed and
// falls back to a backfill and a checksum comparison (events/log_cursor.h).
//
// Deleted a batch at a time, each batch one transaction that also raises
// the watermark, under a transaction-level advisory lock so two daemons of
// the primary do not prune at once. An uncommitted event is invisible to
// the delete and survives it: a late commit below the horizon is still read
// by a cursor that kept its gap.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/defaults.h"
#include "db/connection.h"
#include "util/stop_signal.h"

namespace georep::events {

// One secondary, as the pruner sees it.
struct LogHold {
  std::string site;
  bool holds = false;         // its report holds the log back
  int64_t oldest_needed = 0;  // from its report; 0: none reported
  double report_age = -1;     // seconds; -1: no report
  std::string why;            // why it does not hold, when it does not
};

struct PruneHorizon {
  int64_t below = 0;  // events with a lower id may be deleted
  std::vector<LogHold> sites;
};

absl::StatusOr<PruneHorizon> ReadPruneHorizon(db::Connection& main, double hold_seconds);

// Deletes the events of the next `batch` ids below `below` (fewer where ids
// were skipped) and raises the watermark, in one transaction. Returns how
// many were deleted: 0 when none is left below `below`, or another daemon is
// pruning.
absl::StatusOr<int64_t> PruneBatch(db::Connection& main, int64_t below, int batch);

struct PruneOptions {
  std::string main_conninfo;
  double interval_seconds = defaults::kPruneIntervalSeconds;
  double hold_seconds = defaults::kPruneHoldSeconds;
  int batch = defaults::kPruneBatch;
};

// The primary engine's pruning loop.
class EventLogPruner {
 public:
  explicit EventLogPruner(PruneOptions options) : opt_(std::move(options)) {}
  void Run(const StopSignal& stop);
  // Prunes down to the horizon, batch by batch, until done or `stop`.
  // Returns the events deleted.
  absl::StatusOr<int64_t> Round(const StopSignal& stop);

 private:
  PruneOptions opt_;
  std::unique_ptr<db::Connection> main_;
  std::string last_holds_;  // logged when who holds the log changes
};

}  // namespace georep::events
