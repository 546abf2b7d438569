// The blob strategy's sync of one claimed registry row on a secondary:
// find where the model row says the file lives, download it from the
// primary into a temp file (hashing while streaming), fsync, and rename it
// into place in the same transaction that marks the row synced.
//
// Temp files live in <storage_root>/.georep-tmp (same file system, so the
// rename is atomic) and carry the worker id in their name, so files left by
// a killed daemon are removed when it, or any other, starts (SweepTempFiles).
//
// One BlobSyncer per worker thread.
//
// Its tracking connection commits asynchronously (synchronous_commit off): a
// crash of the tracking DB can lose the last few "synced" marks, and those
// items are simply synced again; the file itself is fsynced before.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "db/connection.h"
#include "framework/registry_store.h"
#include "georep/replicable.h"
#include "transport/blob_download.h"

namespace georep::framework {

struct SyncContext {
  std::string standby_conninfo;
  std::string tracking_conninfo;
  std::string storage_root;
  std::string primary_url;  // internal URL of the primary
  std::string access_key;
  std::string secret_access_key;
  std::string worker_id;
  std::string site_name;  // of the primary, for messages
};

class BlobSyncer {
 public:
  explicit BlobSyncer(const SyncContext& ctx) : ctx_(ctx) {}

  // Syncs one claimed item and records the outcome in its registry row.
  // Returns an error only when the outcome could not be recorded.
  absl::Status Sync(const ReplicableSpec& spec, const ClaimedItem& item);

 private:
  absl::Status Connect();
  // Downloads and installs; on failure says whether the primary lacks the file.
  absl::Status Fetch(const ReplicableSpec& spec, const ClaimedItem& item, bool* missing_on_primary);

  const SyncContext& ctx_;
  std::unique_ptr<db::Connection> standby_;
  std::unique_ptr<db::Connection> tracking_;
  transport::BlobDownloader downloader_;
};

std::string TempDir(const std::string& storage_root);

// The relative paths of a batch of claimed items, from the model table on the
// standby, in one query; sets looked_up and path on each item.
absl::Status ResolvePaths(db::Connection& standby, const ReplicableSpec& spec,
                          std::vector<ClaimedItem>& items);
// Removes temp files of workers that are not alive (per georep.workers).
absl::Status SweepTempFiles(db::Connection& tracking, const std::string& storage_root,
                            double dead_after_seconds);

}  // namespace georep::framework
