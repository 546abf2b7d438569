// The blob strategy's sync of one claimed registry row on a secondary:
// find where the model row says the blob lives, stream it from the primary
// into a new blob of the site's store (storage/blob_store.h: a temporary
// file, or an object upload), hashing while streaming; check the hash
// against the primary's checksum; seal it (durable) and install it in the
// transaction that marks the row synced (a file's folder is fsynced, once
// per folder per batch, before that transaction commits), so no row says
// synced for a copy a crash could still take away. One path for every
// store; a store that batches (files) takes many blobs in one request.
//
// A file store's temporaries live in <storage_root>/.georep-tmp (same file
// system, so the rename is atomic) and carry the worker id in their name,
// so those left by a killed daemon are removed when it, or any other,
// starts (SweepTempFiles); a bucket's open uploads are recorded and aborted
// likewise (storage/uploads.h).
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
#include "framework/registry/registry_store.h"
#include "framework/storage/blob_store.h"
#include "framework/sync/syncer.h"
#include "georep/replicable.h"
#include "transport/blob_download.h"

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
  // A copy already at the target whose SHA-256 is the primary's checksum
  // (a former primary's own copy, a registry rebuilt) is recorded synced and
  // verified with no download. True when it was; false when there is no
  // such copy, or it differs, or the primary has no checksum yet, or the
  // store is remote (looking would cost a request per blob).
  absl::StatusOr<bool> Adopt(const ReplicableSpec& spec, const ClaimedItem& item,
                             const Target& target);
  // A new blob of the store for `target`, its open uploads recorded.
  absl::StatusOr<std::unique_ptr<PendingBlob>> Create(const Target& target);
  // A failure of the store (a full disk, a bucket that does not answer),
  // the item's to retry with backoff: never taken for the primary's being
  // unreachable or its data missing.
  absl::Status StoreFailure(const absl::Status& s, const std::string& what) const;

  // SyncBatch in steps, over the items asked of the primary (blob_sync.cc).
  struct Batch;
  // Each item looked up, adopted, or given a new blob and added to `batch`;
  // a failure recorded on its row. An error (the tracking database's) leaves
  // the rows started, to be reclaimed.
  absl::Status Prepare(const ReplicableSpec& spec, const std::vector<ClaimedItem>& items,
                       Batch& batch);
  // The primary's checksums, asked again, of the received items that had
  // none at lookup (PrimaryChecksumsNow).
  void LearnChecksums(const ReplicableSpec& spec, Batch& batch);
  // The failure of one part of the batch's response (the response's, the
  // part's, the store's or its checksum's), or OK.
  absl::Status PartOutcome(const ReplicableSpec& spec, const ClaimedItem& item,
                           const transport::BatchPart& part, const Target& target,
                           const transport::BatchDownload& got, const absl::Status& unsynced,
                           const std::string& what) const;
  // Completes the rows in one transaction (CompleteSyncBatch); a row not
  // installed is recorded failed.
  void RecordBatch(const ReplicableSpec& spec, std::vector<Completion>& completions, Batch& batch);

  transport::BlobDownloader downloader_;
};

}  // namespace georep::framework
