// A site's blobs in an S3-compatible bucket (storage.kind = "s3") instead
// of files under storage.root: a primary's blobs, or a secondary's copies.
// Set once at start-up, before any worker runs; every place that reads,
// checks or removes a blob asks here whether a path is an object.
//
// A blob in the bucket is recorded (registry local_path) as
// "s3://<bucket>/<prefix><relative path>"; its key is the model row's
// relative path, under the prefix. An object is put only once its bytes
// have the primary's checksum (transport::S3Upload commits nothing before),
// so the bucket never holds a partial or unverified copy under its key.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/connection.h"
#include "transport/s3_client.h"

namespace georep::framework {

// The bucket of this process's copies; null: copies are files.
void SetObjectStore(std::shared_ptr<transport::S3Client> store);
std::shared_ptr<transport::S3Client> ObjectStore();

// Whether `path` is a copy in a bucket ("s3://…").
bool IsObjectPath(absl::string_view path);
// The recorded path of the copy whose relative path is `relative`.
std::string ObjectPath(const transport::S3Client& store, absl::string_view relative);
// The relative path (the key under the prefix) of a recorded object path;
// NotFound when it is not in this process's bucket and prefix.
absl::StatusOr<std::string> ObjectKey(absl::string_view path);

// SHA-256 of the object at recorded path `path`, read from the bucket.
absl::StatusOr<std::string> ObjectChecksum(absl::string_view path);
// Deletes it (gone already: not an error).
absl::Status RemoveObject(absl::string_view path);
// Puts `bytes` there (in parts past the part size): visible whole or not at
// all.
absl::Status PutObject(absl::string_view path, absl::string_view bytes);

// Aborts the multipart uploads into the bucket (georep.bucket_uploads of
// `tracking`) whose worker is not alive (no heartbeat within
// `dead_after_seconds`): the parts of an upload cut by a kill -9. An upload
// the store refuses to abort stays recorded, with the reason, and is tried
// again at the next call; the number aborted.
absl::StatusOr<int> AbortOrphanedUploads(db::Connection& tracking, double dead_after_seconds);

}  // namespace georep::framework
