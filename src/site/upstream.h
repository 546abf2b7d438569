// Where a secondary's standby streams WAL from (its upstream), and moving it
// to a new primary after a promotion without a new base backup.
//
// A standby can follow a promoted sibling by streaming alone only if it has
// received nothing of the old primary's WAL past the promotion point (the
// "fork point" in the new primary's timeline history): WAL it received past
// it is replayed before the timeline switch, and then the new timeline
// "forked off before the current recovery point". A planned promotion
// therefore first detaches every other secondary's standby from the old
// primary (DetachUpstream) and promotes only once its own standby has
// replayed at least as far as each of them received; `georep follow` then
// points the standby at the new primary (SetUpstream), whose timeline it
// crosses by itself (recovery_target_timeline = 'latest', the default).
//
// Changing primary_conninfo needs ALTER SYSTEM on the standby (a superuser,
// or PostgreSQL 15's GRANT ALTER SYSTEM ON PARAMETER primary_conninfo,
// primary_slot_name). Stateless; every call takes the connections to use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"

namespace georep::site {

// "0/4002120" ⇄ a byte position in the WAL.
absl::StatusOr<uint64_t> ParseLsn(const std::string& text);
std::string FormatLsn(uint64_t lsn);

struct Upstream {
  std::string conninfo;  // primary_conninfo; empty: streams from nowhere
  std::string slot;      // primary_slot_name
};
absl::StatusOr<Upstream> ReadUpstream(db::Connection& standby);
// ALTER SYSTEM both settings and reload: PostgreSQL restarts its WAL
// receiver with them.
absl::Status SetUpstream(db::Connection& standby, const Upstream& upstream);

// A handover in progress on this secondary: the upstream it had before
// DetachUpstream, kept in its tracking database (tracking migration 7).
struct Detached {
  Upstream previous;
  std::string new_primary;  // the site being promoted
  std::string since;
};
absl::StatusOr<std::optional<Detached>> ReadDetached(db::Connection& tracking);

// Stops the standby receiving WAL (primary_conninfo emptied, the previous
// upstream saved unless a handover is already under way) and waits up to
// `wait_seconds` for its WAL receiver to end. Returns the position it has
// received up to (or replayed, when it never streamed since it started).
absl::StatusOr<uint64_t> DetachUpstream(db::Connection& standby, db::Connection& tracking,
                                        const std::string& new_primary, double wait_seconds);
// Puts back the upstream saved by DetachUpstream (a handover that did not
// happen). OK when none is saved.
absl::Status ReattachUpstream(db::Connection& standby, db::Connection& tracking);
// Forgets the saved upstream (the standby follows the new primary now).
absl::Status ForgetDetached(db::Connection& tracking);

// How far this standby has got, and on which timeline.
struct LocalPosition {
  std::string system_id;  // pg_control_system(): the cluster it is a copy of
  int timeline = 0;       // of its last restartpoint, or the streamed one
  uint64_t received = 0;  // 0 when it has not streamed since it started
  uint64_t replayed = 0;
  bool streaming = false;      // its WAL receiver is connected
  std::string streaming_from;  // host:port of that connection
};
absl::StatusOr<LocalPosition> ReadLocalPosition(db::Connection& standby);

// A primary to stream from, asked over a replication connection
// (replication=true in the conninfo, the simple query protocol).
struct TimelineSwitch {
  int timeline = 0;          // this timeline …
  uint64_t switchpoint = 0;  // … ended here, where the next one began
};
struct SourceSystem {
  std::string system_id;
  int timeline = 0;
  uint64_t position = 0;                // its current WAL flush position
  std::vector<TimelineSwitch> history;  // its timeline's ancestors, oldest first
};
absl::StatusOr<SourceSystem> IdentifySource(db::Connection& replication);
// The lines of a timeline history file ("1\t0/4002120\treason").
absl::StatusOr<std::vector<TimelineSwitch>> ParseTimelineHistory(const std::string& text);
// A physical slot reserving WAL from now on; OK if it exists already.
absl::Status CreatePhysicalSlot(db::Connection& replication, const std::string& slot);

// Whether `local` can follow `source` by streaming alone.
struct ForkVerdict {
  bool can_stream = false;
  uint64_t fork_point = 0;  // where local's timeline ends in source's history (0: not in it)
  std::string reason;       // why not, for the operator
};
ForkVerdict CheckFork(const LocalPosition& local, const SourceSystem& source);

}  // namespace georep::site
