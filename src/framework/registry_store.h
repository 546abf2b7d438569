// The registry tables of a secondary's tracking database: one row per item
// of each replicable, the durable queue of all sync work.
//
// States: 0 pending, 1 started, 2 synced, 3 failed. A row is claimed
// (pending → started) with FOR UPDATE SKIP LOCKED and a claim id; it is
// completed or failed only if it is still started under that claim, so an
// `updated` event that reset it to pending meanwhile, or a reclaim after its
// worker died, makes the late result a no-op and the item is synced again.
//
// Stateless; every call takes the connection to use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "georep/replicable.h"

namespace georep::framework {

enum class SyncState : int { kPending = 0, kStarted = 1, kSynced = 2, kFailed = 3 };
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

// Creates the registry table of `spec` with its indexes and count triggers
// (idempotent).
absl::Status EnsureRegistryTable(db::Connection& tracking, const ReplicableSpec& spec);

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
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Queue> queues_;  // by replicable
};

// Marks a claimed row failed with a retry time `delay_seconds` from now
// (and its verification failed too, for a checksum mismatch).
absl::Status FailSync(db::Connection& tracking, const ReplicableSpec& spec, const ClaimedItem& item,
                      const std::string& error, bool missing_on_primary, double delay_seconds,
                      bool verification_failed = false);

// Started rows whose worker stopped beating for `dead_after_seconds`, or
// started longer than `timeout_seconds` ago, go back to pending.
absl::StatusOr<int64_t> ReclaimStarted(db::Connection& tracking, const ReplicableSpec& spec,
                                       double dead_after_seconds, double timeout_seconds);

// Registry counts per replicable and state (folded counts plus recent deltas).
using Counts = std::map<std::string, std::map<int, int64_t>>;
absl::StatusOr<Counts> ReadCounts(db::Connection& tracking);
absl::Status FoldCounts(db::Connection& tracking);

// Worker liveness.
absl::Status Heartbeat(db::Connection& tracking, const std::string& worker_id);
absl::Status RetireWorker(db::Connection& tracking, const std::string& worker_id);

}  // namespace georep::framework
