// The uploads a blob store has open for a sync worker
// (georep.bucket_uploads, tracking migration 10): recorded while open, so
// that after a kill -9 another worker aborts what the dead one left (a
// bucket's multipart parts would otherwise stay, billed, until a lifecycle
// rule removes them). The only code that touches that table.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/storage/blob_store.h"

namespace georep::framework {

// Records (`open`) or forgets the upload `upload_id` of the blob at
// `relative`, written by `worker`: what WriteOptions::on_upload calls.
absl::Status RecordUpload(db::Connection& tracking, const std::string& upload_id, bool open,
                          const std::string& relative, const std::string& worker);

// Aborts, through `blobs`, the uploads whose worker is not alive (no
// heartbeat within `dead_after_seconds`). An upload the store refuses to
// abort stays recorded, with the reason, and is tried again at the next
// call; the number aborted.
absl::StatusOr<int> AbortOrphanedUploads(db::Connection& tracking, const BlobStore& blobs,
                                         double dead_after_seconds);

}  // namespace georep::framework
