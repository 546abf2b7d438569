// A secondary's blob copies in an S3-compatible bucket (storage.kind = "s3")
// instead of files under storage.root. Set once at start-up, before any
// worker runs; every place that reads, checks or removes a copy asks here
// whether a recorded path is an object.
//
// A copy in the bucket is recorded (registry local_path) as
// "s3://<bucket>/<prefix><relative path>"; its key is the model row's
// relative path, under the prefix. An object is put only once its bytes
// have the primary's checksum (transport::S3Upload commits nothing before),
// so the bucket never holds a partial or unverified copy under its key.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

}  // namespace georep::framework
