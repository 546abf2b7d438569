// The replication states of DESIGN §3 and the kinds of event the primary
// publishes, named once, and their one rendering into SQL: statements write
// $S_SYNCED, $V_SUCCEEDED, $E_UPDATED … (StateSql, and so SpecSql, replaces
// them), never bare numbers or names. The numbers are stored in smallint
// columns, the event kinds' names in georep.geo_events.event_name: neither
// may ever change.
//
//   registry (sync):  pending → started → synced | failed → (retry) started;
//                     synced | failed → pending (update event, resync,
//                     reconciliation, verification mismatch);
//                     pending | failed → lost, when the item is recorded lost
//                     in a failover (framework/registry/lost_in_failover.h):
//                     never claimed; lost → pending when the record goes
//                     (salvaged) or an update event comes
//   verification:     pending → started → succeeded | failed;
//                     any → pending when the row is queued again (update
//                     event, resync): the copy it judged is being replaced;
//                     pending → disabled (the primary has no checksum yet);
//                     disabled → succeeded | failed (its checksum arrived);
//                     succeeded | failed → pending (interval, reverify)
// The primary's checksum states (<name>_states) use the verification states.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace georep::framework {

enum class SyncState : int { kPending = 0, kStarted = 1, kSynced = 2, kFailed = 3, kLost = 4 };
const char* SyncStateName(int state);

// Verification states, of a secondary's copy and of the primary's checksum.
enum VerificationState : int {
  kVerificationPending = 0,
  kVerificationStarted = 1,
  kVerificationSucceeded = 2,
  kVerificationFailed = 3,
  kVerificationDisabled = 4,  // the primary has no checksum yet
};
const char* VerificationStateName(int state);
// "pending", "started", "succeeded", "failed", "disabled": metric labels.
const char* VerificationShortName(int state);

// The state a name gives ("failed"; for verification also the short names
// "pending", "started", "succeeded", "failed", "disabled"); nullopt for none.
std::optional<int> ParseSyncState(absl::string_view name);
std::optional<int> ParseVerificationState(absl::string_view name);

// What happened to a model row on the primary, as its event says: created,
// changed (its bytes or its path), or deleted.
enum class EventKind { kCreated, kUpdated, kDeleted };
// "created", "updated", "deleted": the name stored, the only ones
// georep.publish_event accepts.
const char* EventKindName(EventKind kind);
// The kind a stored name gives; nullopt for none.
std::optional<EventKind> ParseEventKind(absl::string_view name);

// `text` with $S_PENDING, $S_STARTED, $S_SYNCED, $S_FAILED, $S_LOST and $V_PENDING,
// $V_STARTED, $V_SUCCEEDED, $V_FAILED, $V_DISABLED replaced by the states'
// numbers, and $E_CREATED, $E_UPDATED, $E_DELETED by the event kinds' names
// as string literals ('created', …).
std::string StateSql(absl::string_view text);

// Which rows an operator's action applies to: one id, the failed ones, or all.
struct Selection {
  int64_t id = 0;
  bool failed_only = false;
  bool all = false;
};
// The WHERE condition of `sel`: its id, `failed_clause`, or true.
std::string SelectionSql(const Selection& sel, absl::string_view failed_clause);

}  // namespace georep::framework
