// What a secondary would lack if it were promoted now, as far as its own
// databases can tell: events in the replayed log that its cursor has not
// applied, and per replicable the exact items that are not synced and
// verified. (The database leg, WAL not yet replayed, is the operator
// verb's: it needs the primary, cli/verbs_dr.cc.)
//
// Read-only; reads the standby (model rows, event log) and the tracking
// database (cursor, gaps, registries) in chunks, so it is exact at any size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "georep/replicable.h"
#include "georep/selective_sync.h"

namespace georep::framework {

struct EventBacklog {
  bool started = false;     // the cursor has recorded a position
  int64_t cursor = 0;       // the last event id the cursor applied (0 before it starts)
  int64_t last_event = 0;   // the newest event id in the replayed log
  int64_t not_applied = 0;  // events after the cursor, and late ones inside its gaps
  // Age of the oldest event after the cursor (by its created_at on the
  // primary); 0 when there is none.
  double oldest_unapplied_seconds = 0;
  // The oldest event id this site may still apply: the first of its gaps
  // (ids skipped that may yet commit), else the one after the cursor. Events
  // below it are no longer needed here; 0 before the cursor starts (it will
  // start at the newest event and needs none of the log).
  int64_t oldest_needed = 0;
  // The primary pruned its log below this id (0: never). When it is above
  // oldest_needed, events this site needed are gone: its cursor falls back
  // (events/log_cursor.h) and not_applied cannot count them.
  int64_t pruned_below = 0;
  bool needs_pruned_events = false;
  int64_t fallbacks = 0;  // times the cursor fell back so far
};
absl::StatusOr<EventBacklog> UnappliedEvents(db::Connection& standby, db::Connection& tracking);

// The ids the event log holds now, oldest and newest (0 and 0 when empty).
// And how far it has been pruned (events/prune.h).
struct EventLogSpan {
  int64_t oldest = 0;
  int64_t newest = 0;
  int64_t pruned_below = 0;        // every event below may be gone (0: never pruned)
  int64_t events_pruned = 0;       // since the log began
  double pruned_seconds_ago = -1;  // -1: never pruned
};
absl::StatusOr<EventLogSpan> ReadEventLogSpan(db::Connection& main);

struct MissingItem {
  int64_t id = 0;
  std::string path;    // relative to the strategy's root; empty if the row has none
  std::string reason;  // "no registry row", "pending", "failed: …", "not verified" …
  bool held = false;   // synced here, not verified: its bytes are here
};
struct ReplicableLoss {
  std::string name;
  int64_t items = 0;                 // model rows on the standby in this site's selection
  std::vector<MissingItem> missing;  // of those, not synced and verified here
  // Of those, recorded lost in a forced failover (lost_in_failover.h): on no
  // site the primary could pull from; not in `missing`.
  std::vector<MissingItem> lost;
  int64_t not_held = 0;  // model rows outside the selection (selective sync)
};
// `sel`: this site's selective sync; items outside it are counted in
// not_held, not listed.
absl::StatusOr<ReplicableLoss> UnverifiedItems(db::Connection& standby, db::Connection& tracking,
                                               const ReplicableSpec& spec,
                                               const SelectiveSync& sel = {});

}  // namespace georep::framework
