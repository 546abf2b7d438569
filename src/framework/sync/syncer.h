// What every strategy's sync of one claimed registry row shares: the
// connections, the lookup of the model row's path and the primary's checksum,
// and recording a failure with backoff. A strategy (blob/blob_sync.h,
// repository/repository_sync.h) implements Fetch: get the bytes and
// complete the row.
//
// One Syncer per worker thread and strategy; MakeSyncer asks the strategy's
// descriptor (framework/sync/strategy.h) for it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "db/connection.h"
#include "framework/registry/registry_store.h"
#include "framework/storage/blob_store.h"
#include "georep/replicable.h"

namespace georep::framework {

struct SyncContext {
  std::string standby_conninfo;
  std::string tracking_conninfo;
  std::string storage_root;                // its temporaries: <root>/.georep-tmp
  std::shared_ptr<const BlobStore> blobs;  // where blobs go (storage/blob_store.h)
  std::string primary_url;                 // internal URL of the primary
  std::string access_key;
  std::string secret_access_key;
  std::string worker_id;
  std::string site_name;  // of the primary, for messages
  std::string repository_root;
  // Shared by one daemon's workers, so finished rows share transactions
  // (set by the Scheduler); null: each row is completed alone.
  std::shared_ptr<CompletionGroup> completions;
  // Set by a sync that could not reach the primary (Unavailable: refused,
  // timed out, 5xx), shared by one daemon's workers: the scheduler stops
  // claiming and probes the primary, and when it answers, retries what
  // failed at once (set by the Scheduler; null: not watched).
  std::shared_ptr<std::atomic<bool>> primary_unreachable;
  // Called once a sync has recorded a copy that could not be verified for
  // want of the primary's checksum (the daemon wakes its verifier, which
  // settles it as soon as that checksum reaches the standby); may be empty.
  std::function<void()> on_unverified;
  // True once the daemon is stopping (set by the Scheduler): a batch synced
  // item by item stops early, and its remaining rows stay started for the
  // next daemon to reclaim; may be empty.
  std::function<bool()> stopping;
};

class Syncer {
 public:
  explicit Syncer(const SyncContext& ctx) : ctx_(ctx) {}
  virtual ~Syncer() = default;

  // Syncs one claimed item and records the outcome in its registry row.
  // Returns an error only when the outcome could not be recorded.
  absl::Status Sync(const ReplicableSpec& spec, const ClaimedItem& item);
  // Several claimed items of one replicable; by default one Sync each. A
  // strategy that can fetch many items at once overrides it.
  virtual absl::Status SyncBatch(const ReplicableSpec& spec, const std::vector<ClaimedItem>& items);

 protected:
  struct Target {
    std::string path;   // relative to the strategy's root
    std::string local;  // confined to that root
    std::optional<std::string> primary_checksum;
  };
  // Where the item goes and the primary's checksum (from the batch lookup, or
  // looked up now); FailedPrecondition when the model row or its path is
  // gone here, PermissionDenied when the path would leave the root.
  absl::Status Lookup(const ReplicableSpec& spec, const ClaimedItem& item, Target* target);
  // Fetches `target` and completes the row (CompleteSync). Its error's code
  // is the decision: NotFound when the primary lacks the data (longer
  // backoff, flagged missing on primary), DataLoss when the bytes do not
  // match the primary's checksum (also fails verification), else a failure
  // retried with backoff.
  virtual absl::Status Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                             const Target& target) = 0;

  // Records a failed sync with its backoff, decided by the code of `s` (see
  // Fetch); an error only when it could not be recorded.
  absl::Status RecordFailure(const ReplicableSpec& spec, const ClaimedItem& item,
                             const absl::Status& s);
  absl::Status Connect();
  // The primary's checksums of `items` as the standby has them now, by
  // model id (those with none are absent; a failed read gives none): for
  // items that had none at lookup, asked again once their bytes are here,
  // since the primary has often recorded it meanwhile and the copy is then
  // verified at once rather than by a later verifier round.
  std::map<int64_t, std::string> PrimaryChecksumsNow(const ReplicableSpec& spec,
                                                     std::vector<ClaimedItem> items);
  // After a recorded sync whose copy has `verification`: wakes the verifier
  // when it is kVerificationDisabled (SyncContext::on_unverified).
  void Recorded(int verification) const;

  const SyncContext& ctx_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
};

std::unique_ptr<Syncer> MakeSyncer(Strategy strategy, const SyncContext& ctx);

// The relative paths of a batch of claimed items, from the model table on the
// standby, in one query; sets looked_up and path on each item.
absl::Status ResolvePaths(db::Connection& standby, const ReplicableSpec& spec,
                          std::vector<ClaimedItem>& items);

// Temp files and folders of a worker are named "<worker id>-<random>…".
// Removes those in `dir` whose worker is not alive (per georep.workers).
absl::Status SweepTempFiles(db::Connection& tracking, const std::string& dir,
                            double dead_after_seconds);

}  // namespace georep::framework
