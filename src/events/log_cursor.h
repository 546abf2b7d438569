// The log cursor of a secondary: reads the primary's event log from the
// local standby and turns events into registry rows in the tracking DB.
//
// Several daemons of one secondary may run a cursor; one holds the exclusive
// lease (a row in georep.leases with a short time to live, renewed every
// cycle), the others stand by and take over when it expires. Every batch is
// applied in one tracking transaction that also renews the lease (fencing: a
// holder that lost its lease cannot write) and moves the cursor, so an event
// is applied exactly once.
//
// Event ids come from a sequence and can commit out of order. Ids skipped
// between the cursor and the newest event seen are kept in georep.event_gaps
// as ranges (one row per run of ids, whatever its length, so a transaction
// of any size that commits late loses nothing) and looked for again on every
// cycle (a late commit shows up within one poll, not GitLab's ten minutes),
// a batch at a time, until they are found or `gap_timeout` passes; anything
// missed even then is found by the consistency backfill.
// With no saved position the cursor starts at the newest event: rows that
// existed before are the backfill's job, whose first pass comes after
// (CursorStarted).
// The primary prunes its log below what reporting secondaries still need
// (events/prune.h). A cursor that needed an event below the watermark (its
// site was away past the hold, or disabled) falls back: it skips to the
// watermark, restarts the backfill's pass, and counts a fallback, which the
// verifier answers by comparing every copy with the primary's checksum.
//
// Not thread-safe: one thread runs a LogCursor.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
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

struct CursorOptions {
  std::string standby_conninfo;  // this secondary's main DB (the standby)
  std::string tracking_conninfo;
  std::string holder;                                 // this daemon's worker id
  std::shared_ptr<const framework::BlobStore> blobs;  // where deleted blobs are removed from
  double poll_seconds = defaults::kCursorPollSeconds;
  double lease_seconds = defaults::kCursorLeaseSeconds;
  double gap_timeout_seconds = defaults::kGapTimeoutSeconds;
  int batch_size = 1000;
  std::string repository_root;       // where deleted repositories are removed from
  std::function<void()> on_applied;  // after a batch that changed registries
  // What this secondary holds: a created event for an item outside it is
  // skipped, an updated one removes the row and its copy (the item moved
  // out), a deleted one is always applied.
  SelectiveSync selective_sync;
};

class LogCursor {
 public:
  LogCursor(CursorOptions options, std::vector<ReplicableSpec> specs);

  // Cycles until `stop`.
  void Run(const StopSignal& stop);

  // One cycle: take or renew the lease and, if held, apply one batch.
  // Returns the number of events applied, or -1 when another holder has the lease.
  absl::StatusOr<int> Cycle();

  bool holds_lease() const { return holds_lease_; }

 private:
  absl::Status Connect();
  absl::StatusOr<bool> TakeLease();
  // One batch of the log and what it does (log_cursor.cc).
  struct Batch;
  absl::StatusOr<int> ApplyBatch();
  // The steps of ApplyBatch, in order. With no saved position, the newest
  // event's id becomes the position.
  absl::Status StartAtNewest();
  // The gaps awaited, the events after `batch.last` and in the gaps, and
  // whether events needed were pruned.
  absl::Status ReadBatch(Batch& batch);
  // Drops or turns into deletions the actions on items outside this site's
  // selective sync.
  absl::Status KeepInScope(Batch& batch);
  // In the tracking transaction: renews the lease (Aborted when lost),
  // applies the actions, saves the gaps, moves the cursor, falls back.
  absl::Status Commit(Batch& batch);
  // Of `ids` (items with created or updated events), those in this site's
  // selective sync, read from the standby.
  absl::StatusOr<std::set<int64_t>> InScope(const ReplicableSpec& spec,
                                            const std::vector<int64_t>& ids);
  // Whether Run may skip a cycle: the last one found nothing to do (no
  // event, no gap awaited), the lease is not due for renewal, and the
  // standby's newest event id is still at most the position then: one
  // index probe instead of a cycle's lease write and reads.
  bool NothingNew();

  CursorOptions opt_;
  std::map<std::string, ReplicableSpec> specs_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
  bool holds_lease_ = false;
  bool idle_ = false;       // the last cycle found nothing to do
  int64_t idle_at_ = 0;     // the position then
  double lease_taken_ = 0;  // monotonic seconds of the last TakeLease
};

inline constexpr char kCursorLease[] = "log_cursor";

// Whether the log cursor of this tracking database has recorded a position.
// The backfill's first pass waits for it: rows created between a pass and
// the cursor's first position would otherwise wait for the next pass.
absl::StatusOr<bool> CursorStarted(db::Connection& tracking);

}  // namespace georep::events
