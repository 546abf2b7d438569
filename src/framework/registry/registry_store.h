// The registry tables of a secondary's tracking database: one row per item
// of each replicable, the durable queue of all sync and verification work.
// Every statement on georep.<name>_registry lives in this file: the state
// machine of framework/spec/states.h is readable here in one piece.
//
// Invariants:
//   - A row is claimed (pending → started, or a failed row due for a retry)
//     with FOR UPDATE SKIP LOCKED and a claim id; it is completed or failed
//     only while it is still started under that claim, so an `updated` event
//     that reset it to pending meanwhile, or a reclaim after its worker died,
//     makes the late result a no-op and the item is synced again.
//   - A row is recorded synced only after its copy is in place and durable.
//   - A verification failure is also a sync failure (the copy is fetched
//     again); a verification is recorded only under its claim
//     (verification_worker) and only while the row is synced.
//   - Deleting a row is the only way a copy is removed; the caller removes
//     the local paths returned, after the commit.
//
// Stateless; every call takes the connection to use.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/spec/states.h"
#include "georep/replicable.h"
#include "util/mutex.h"

namespace georep::framework {

// Creates the registry table of `spec` with its indexes and count triggers,
// or brings an existing one up to the latest of its versioned steps (each
// recorded in georep.registry_migrations, per replicable; a table made
// before versions were recorded is recognised by its columns). Idempotent;
// a table newer than this binary is FailedPrecondition.
absl::Status EnsureRegistryTable(db::Connection& tracking, const ReplicableSpec& spec);
// The version EnsureRegistryTable brings every registry table to.
int LatestRegistryVersion();

struct ClaimedItem {
  int64_t model_id = 0;
  int retry_count = 0;
  int64_t claim_id = 0;
  std::optional<std::string> local_path;  // where the last sync put the copy
  // Filled by the scheduler for a whole batch at once: the model row's
  // relative path, or nullopt when the row (or its path) does not exist.
  bool looked_up = false;
  std::optional<std::string> path;
  // The primary's checksum, when its state is succeeded.
  std::optional<std::string> primary_checksum;
};

// Claims up to `limit` rows: pending first, then failed rows whose retry time
// has come (at most half of `limit`, so retries never starve new work).
absl::StatusOr<std::vector<ClaimedItem>> ClaimBatch(db::Connection& tracking,
                                                    const ReplicableSpec& spec,
                                                    const std::string& worker_id, int limit);

struct SyncResult {
  std::string local_path;
  int64_t size = 0;
  std::string checksum;                            // SHA-256 hex of the bytes
  int verification_state = kVerificationDisabled;  // succeeded when it matched the primary's
  // The install puts a new entry at local_path (a rename into place): its
  // folder is fsynced before the row is recorded synced. False when the copy
  // was updated in place and is already durable.
  bool new_entry = true;
};

// Makes the entries that a batch's installs put in place durable, before the
// batch's rows are recorded synced: fsyncs the folder of each, once per folder.
absl::Status MakeInstallsDurable(const std::vector<std::string>& installed_paths);
using DurabilityBarrier = std::function<absl::Status(const std::vector<std::string>&)>;

// Marks a claimed row synced. Runs `install` (rename into place) inside the
// transaction after the row is locked, so a concurrent delete waits for it,
// and makes what it installed durable before the transaction commits.
// Returns false, without calling `install`, if the row is no longer started
// under this claim.
absl::StatusOr<bool> CompleteSync(db::Connection& tracking, const ReplicableSpec& spec,
                                  const ClaimedItem& item, const SyncResult& result,
                                  const std::function<absl::Status()>& install);

// One row of CompleteSyncBatch: what to record, and the outcome.
struct Completion {
  const ClaimedItem* item = nullptr;
  const SyncResult* result = nullptr;
  const std::function<absl::Status()>* install = nullptr;
  bool done = false;    // marked synced (its install ran and succeeded)
  absl::Status status;  // the install's error; the row stays started
};

// CompleteSync of many rows of one replicable in one transaction: marks
// synced the rows still started under their claim and runs their installs
// while they are locked. A row whose install fails keeps its error in
// `status` and stays started; the others are marked again without it. An
// error is the transaction's: nothing was recorded (installs that ran may
// have put files in place; their rows are synced again later). `durable`
// runs after the installs, before the commit, with the paths of the rows'
// new entries; its error is the transaction's.
absl::Status CompleteSyncBatch(db::Connection& tracking, const ReplicableSpec& spec,
                               std::vector<Completion>& batch,
                               const DurabilityBarrier& durable = MakeInstallsDurable);

// Group commit of CompleteSync across the worker threads of one daemon. A
// worker hands its finished row to Complete; if no batch of that replicable
// is being recorded, it records every row of it waiting, in one transaction
// on its own connection, while the others wait for their outcome. A lone row
// goes at once, so an idle site's latency is unchanged, and replicables never
// wait for each other; under load a replicable's rows share a transaction,
// its round trips and its count-trigger runs.
class CompletionGroup {
 public:
  absl::StatusOr<bool> Complete(db::Connection& tracking, const ReplicableSpec& spec,
                                const ClaimedItem& item, const SyncResult& result,
                                const std::function<absl::Status()>& install);

 private:
  struct Entry {
    Completion completion;
    absl::Status error;  // the transaction's
    bool finished = false;
  };
  struct Queue {
    bool recording = false;       // a thread is recording a batch
    std::vector<Entry*> waiting;  // not yet taken into a batch
  };
  Mutex mu_;
  CondVar cv_;                                                // a batch was recorded
  std::map<std::string, Queue> queues_ ABSL_GUARDED_BY(mu_);  // by replicable
};

// How a sync failed, as FailSync records it.
struct SyncFailure {
  std::string error;
  bool missing_on_primary = false;
  double delay_seconds = 0;          // retried this long from now
  bool verification_failed = false;  // a checksum mismatch: verification failed too
  bool counted = true;               // one more retry (whose count sets the backoff)
};

// Marks a claimed row failed as `failure` says.
absl::Status FailSync(db::Connection& tracking, const ReplicableSpec& spec, const ClaimedItem& item,
                      const SyncFailure& failure);

// Started rows whose worker stopped beating for `dead_after_seconds`, or
// started longer than `timeout_seconds` ago, go back to pending.
absl::StatusOr<int64_t> ReclaimStarted(db::Connection& tracking, const ReplicableSpec& spec,
                                       double dead_after_seconds, double timeout_seconds);

// Registry counts per replicable and state (folded counts plus recent deltas).
using Counts = std::map<std::string, std::map<int, int64_t>>;
absl::StatusOr<Counts> ReadCounts(db::Connection& tracking);
absl::Status FoldCounts(db::Connection& tracking);

// ---- the registry browser (GET /api/v1/replicables/NAME/registry, `georep failures`)

struct RegistryFilter {
  std::optional<int> state;         // SyncState
  std::optional<int> verification;  // VerificationState
  std::optional<int64_t> id;        // one row
  int64_t after = 0;                // keyset: rows with model_id > after
  int limit = 50;                   // 1 to kMaxRegistryPage
};
inline constexpr int kMaxRegistryPage = 1000;

// One registry row as an operator reads it; times are ISO 8601 UTC, empty
// when unset.
struct RegistryRow {
  int64_t model_id = 0;
  std::string state;
  int retry_count = 0;
  std::string retry_at;
  std::string last_synced_at;
  std::string last_sync_failure;
  bool missing_on_primary = false;
  std::string local_path;
  std::optional<int64_t> file_size;
  std::string checksum;
  std::string verification_state;
  std::string verified_at;
  std::string verification_failure;
  int verification_retry_count = 0;
  std::string created_at;
};

// Rows matching `filter` in model id order, at most filter.limit of them.
absl::StatusOr<std::vector<RegistryRow>> ListRegistry(db::Connection& tracking,
                                                      const ReplicableSpec& spec,
                                                      const RegistryFilter& filter);

// Worker liveness.
absl::Status Heartbeat(db::Connection& tracking, const std::string& worker_id);
absl::Status RetireWorker(db::Connection& tracking, const std::string& worker_id);

// ---- the log cursor's effects of events (events/log_cursor.h)

// `created`: a pending row, unless there is one (a synced copy stays).
// `event_us` (parallel to `ids`, or empty) is each event's time on the
// primary, µs since the epoch: kept in the row's event_at until the copy is
// verified, for the replication latency (CollectLatencies).
absl::Status ApplyCreated(db::Connection& tracking, const ReplicableSpec& spec,
                          const std::vector<int64_t>& ids,
                          const std::vector<int64_t>& event_us = {});
// Failed rows waiting out their backoff become due now (the primary
// changed: failures against the old one say nothing of the new one).
// Returns how many.
absl::StatusOr<int64_t> RetryFailedNow(db::Connection& tracking, const ReplicableSpec& spec);
// `updated`: pending again, with a fresh retry count (synced anew).
// An unverified row keeps the time of its oldest change not yet verified.
absl::Status ApplyUpdated(db::Connection& tracking, const ReplicableSpec& spec,
                          const std::vector<int64_t>& ids,
                          const std::vector<int64_t>& event_us = {});
// Seconds from the event to the verified copy of every row verified since
// the last call (clock skew between the sites' databases is not corrected;
// negative values are 0). Each row is counted once, by one caller.
absl::StatusOr<std::vector<double>> CollectLatencies(db::Connection& tracking,
                                                     const ReplicableSpec& spec);
// `deleted`, or an orphan found by the backfill: the rows go. Returns how
// many, and the local paths they named, for the caller to remove after the
// commit.
struct RemovedRows {
  int64_t count = 0;
  std::vector<std::string> local_paths;
};
absl::StatusOr<RemovedRows> RemoveRows(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::vector<int64_t>& ids);

// ---- the consistency backfill (events/backfill.h)

// Pending rows for those of `ids` that have none. Returns how many.
absl::StatusOr<int64_t> InsertMissing(db::Connection& tracking, const ReplicableSpec& spec,
                                      const std::vector<int64_t>& ids);
// Ids of rows in [lo, hi] (no upper bound when hi is nullopt) not in `ids`.
absl::StatusOr<std::vector<int64_t>> RowsNotIn(db::Connection& tracking, const ReplicableSpec& spec,
                                               int64_t lo, std::optional<int64_t> hi,
                                               const std::vector<int64_t>& ids);

// ---- verification of copies on a secondary (framework/verify/verifier.h)

// Checks claimed by verifiers whose heartbeat stopped are released (a
// started check goes back to pending).
absl::Status ReleaseDeadVerifications(db::Connection& tracking, const ReplicableSpec& spec,
                                      double dead_after_seconds);
enum class VerificationPick {
  kAsked,  // pending: after a sync that could not be verified inline, or reverify
  kDue,    // verified longer ago than the interval (stays counted verified)
};
struct VerificationClaim {
  int64_t model_id = 0;
  std::string local_path;  // empty when the row names none
  int retry_count = 0;     // verification retries
};
absl::StatusOr<std::vector<VerificationClaim>> ClaimVerifications(db::Connection& tracking,
                                                                  const ReplicableSpec& spec,
                                                                  const std::string& worker_id,
                                                                  int limit, VerificationPick pick,
                                                                  double interval_seconds);
// The outcomes of claimed checks.
absl::Status RecordVerified(db::Connection& tracking, const ReplicableSpec& spec,
                            const std::string& worker_id, const std::vector<int64_t>& ids,
                            const std::vector<std::string>& checksums);
// Also a sync failure: fetched again after `retry_delay_seconds`.
absl::Status RecordVerificationFailure(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::string& worker_id, int64_t id,
                                       const std::string& failure, double retry_delay_seconds);
// The primary has no (trusted) checksum: disabled until it has.
absl::Status RecordVerificationDisabled(db::Connection& tracking, const ReplicableSpec& spec,
                                        const std::string& worker_id,
                                        const std::vector<int64_t>& ids);
// Synced rows waiting for the primary's checksum: id → the copy's checksum.
absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> DisabledRows(
    db::Connection& tracking, const ReplicableSpec& spec, int limit);
// The primary's checksum arrived: equal → verified; different → failed and
// fetched again at once.
absl::Status SettleDisabled(db::Connection& tracking, const ReplicableSpec& spec,
                            const std::vector<int64_t>& matching,
                            const std::vector<int64_t>& mismatching);
// Synced rows whose checksum is not the primary's (bigint[] and text[]
// literals of the primary's ids and checksums) go back to pending. Returns
// how many.
absl::StatusOr<int64_t> QueueDiffering(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::string& ids, const std::string& checksums);
// The checksum of a synced and verified copy; nullopt otherwise.
absl::StatusOr<std::optional<std::string>> VerifiedChecksum(db::Connection& tracking,
                                                            const ReplicableSpec& spec, int64_t id);
// A synced and verified copy: its checksum and where the sync put it.
struct VerifiedCopy {
  std::string checksum;
  std::string local_path;  // full path; empty if the row names none
};
absl::StatusOr<std::optional<VerifiedCopy>> VerifiedCopyOf(db::Connection& tracking,
                                                           const ReplicableSpec& spec, int64_t id);

// ---- lost in failover (framework/registry/lost_in_failover.h)

// Rows of `lost_ids` that are pending or failed become lost (never claimed)
// with `reasons` (one per id) as their failure; lost rows whose id is not
// in `lost_ids` go back to pending, to be fetched again. Rows being synced
// or synced are left: a synced copy is this site's, not lost. Returns rows
// changed.
absl::StatusOr<int64_t> MarkLost(db::Connection& tracking, const ReplicableSpec& spec,
                                 const std::vector<int64_t>& lost_ids,
                                 const std::vector<std::string>& reasons);

// ---- the data-loss report (framework/registry/dataloss.h)

struct RegistryState {
  int state = 0;
  int verification_state = 0;
  std::string failure;  // the last sync failure, if any
};
// The rows with ids in [first, last], by id.
absl::StatusOr<std::map<int64_t, RegistryState>> RegistryStates(db::Connection& tracking,
                                                                const ReplicableSpec& spec,
                                                                int64_t first, int64_t last);

// ---- operators

// Sync again: rows back to pending (not those being synced). Returns rows
// changed.
absl::StatusOr<int64_t> Resync(db::Connection& tracking, const ReplicableSpec& spec,
                               const Selection& sel);
// Re-read and re-check synced copies.
absl::StatusOr<int64_t> ReverifySecondary(db::Connection& tracking, const ReplicableSpec& spec,
                                          const Selection& sel);

}  // namespace georep::framework
