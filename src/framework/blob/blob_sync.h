// The blob strategy's sync of one claimed registry row on a secondary:
// find where the model row says the file lives, download it from the
// primary into a temp file (hashing while streaming), fsync, and rename it
// into place in the same transaction that marks the row synced; the folder
// is fsynced (once per folder per batch) before that transaction commits,
// so no row says synced for a file a crash could still take away.
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
#include <vector>

#include "absl/status/status.h"
#include "db/connection.h"
#include "framework/registry_store.h"
#include "framework/syncer.h"
#include "georep/replicable.h"
#include "transport/blob_download.h"
#include "transport/s3_client.h"

namespace georep::framework {

class BlobSyncer : public Syncer {
 public:
  explicit BlobSyncer(const SyncContext& ctx) : Syncer(ctx) {}
  // Many items in one request (/geo/retrieve-batch), each written, fsynced
  // and checked like a single download; all completed in one transaction.
  absl::Status SyncBatch(const ReplicableSpec& spec,
                         const std::vector<ClaimedItem>& items) override;

 protected:
  absl::Status Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                     const Target& target) override;

 private:
  // A file already at the target whose SHA-256 is the primary's checksum
  // (a former primary's own copy, a registry rebuilt) is recorded synced and
  // verified with no download. True when it was; false when there is no
  // such file, or it differs, or the primary has no checksum yet.
  absl::StatusOr<bool> Adopt(const ReplicableSpec& spec, const ClaimedItem& item,
                             const Target& target);

  // Into the site's bucket (framework/object_store.h) instead of a file.
  absl::Status FetchIntoBucket(const ReplicableSpec& spec, const ClaimedItem& item,
                               const Target& target, transport::S3Client& store);

  transport::BlobDownloader downloader_;
};

// <storage_root>/.georep-tmp
std::string TempDir(const std::string& storage_root);

}  // namespace georep::framework
