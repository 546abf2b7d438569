// A client of S3-compatible object storage, on libcurl's own AWS Signature
// V4 (CURLOPT_AWS_SIGV4): objects put, read as a stream, sized, deleted, and
// large objects uploaded in parts. Every request carries the SHA-256 of its
// body (x-amz-content-sha256), so the store refuses bytes damaged on the
// way. Thread-safe: each call uses its own handle.
//
// Errors name what to fix: a missing bucket is NotFound naming the bucket
// and endpoint; refused credentials are PermissionDenied naming the access
// key (never the secret); an endpoint that cannot be reached is Unavailable
// naming it. A 5xx answer, throttling (SlowDown) and a connection that
// fails are retried with backoff before they are reported.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::transport {

struct S3Location {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string bucket;
  std::string region = "us-east-1";
  std::string prefix;      // put before every key ("georep/"); may be empty
  bool path_style = true;  // endpoint/bucket/key; false: bucket.endpoint-host/key
  std::string access_key;
  std::string secret_key;
};

struct S3Options {
  int64_t part_size = int64_t{16} << 20;  // multipart uploads: bytes per part (≥ 5 MiB)
  int attempts = 4;                       // tries of a request that fails for a retryable reason
  double first_backoff_seconds = 0.2;     // doubled after each failed try
  double timeout_seconds = 600;           // one request
};

// InvalidArgument naming the field when `location` cannot work (no endpoint,
// bucket or keys; an endpoint that is not http(s)://; a bucket name S3
// refuses) or a part size is under S3's 5 MiB.
absl::Status ValidateS3(const S3Location& location, const S3Options& options);

class S3Client {
 public:
  S3Client(S3Location location, S3Options options = {});

  const S3Location& location() const { return location_; }
  const S3Options& options() const { return options_; }
  // The URL of `key` (the prefix added), for messages and logs.
  std::string Url(absl::string_view key) const;

  // Puts `bytes` under `key` in one request.
  absl::Status Put(absl::string_view key, absl::string_view bytes);
  // Streams the object into `on_body` (false: stop; the call then fails);
  // its size. NotFound when there is no such object.
  absl::StatusOr<int64_t> Get(absl::string_view key,
                              const std::function<bool(absl::string_view)>& on_body);
  // The object's size; nullopt when there is none.
  absl::StatusOr<std::optional<int64_t>> Size(absl::string_view key);
  // Deleting an object that is not there is not an error.
  absl::Status Delete(absl::string_view key);

  // Multipart upload: nothing is visible under the key before Complete.
  absl::StatusOr<std::string> StartMultipart(absl::string_view key);  // the upload id
  absl::StatusOr<std::string> UploadPart(absl::string_view key, const std::string& upload_id,
                                         int part_number, absl::string_view bytes);  // its ETag
  absl::Status CompleteMultipart(absl::string_view key, const std::string& upload_id,
                                 const std::vector<std::string>& etags);
  absl::Status AbortMultipart(absl::string_view key, const std::string& upload_id);

 private:
  struct Answer;
  // `key`'s URL with `query` (canonical: names sorted, values encoded).
  absl::StatusOr<Answer> Send(const std::string& method, absl::string_view key,
                              const std::string& query, absl::string_view body,
                              const std::vector<std::string>& headers = {},
                              const std::function<bool(absl::string_view)>* on_body = nullptr);
  absl::StatusOr<Answer> SendTo(const std::string& method, const std::string& url,
                                absl::string_view body,
                                const std::vector<std::string>& headers = {},
                                const std::function<bool(absl::string_view)>* on_body = nullptr);
  std::string BucketUrl() const;  // the bucket itself, without the prefix
  S3Location location_;
  S3Options options_;
};

// An object written as its bytes arrive: held in memory up to one part, and
// in parts of a multipart upload beyond. Nothing appears under the key until
// Commit; Abort (or destruction without Commit) leaves nothing there and
// aborts the parts' upload.
class S3Upload {
 public:
  S3Upload(S3Client* client, std::string key);
  ~S3Upload();
  S3Upload(const S3Upload&) = delete;
  S3Upload& operator=(const S3Upload&) = delete;

  // Told of the multipart upload's id once it starts (`open`; an error
  // fails the upload, which is then aborted), and again (`open` false) once
  // it is completed or aborted: a caller records the ids in flight, to abort
  // them after a crash. An upload that could not be aborted is not told.
  using Tracker = std::function<absl::Status(const std::string& upload_id, bool open)>;
  void set_tracker(Tracker tracker) { tracker_ = std::move(tracker); }

  absl::Status Append(absl::string_view bytes);
  absl::Status Commit();
  // Nothing stays under the key; the parts' upload, if any, is aborted
  // (its failure is returned, and logged).
  absl::Status Abort();
  int64_t size() const { return size_; }
  // The multipart upload's id once one has started ("" before): recorded by
  // a caller that must abort it after a crash.
  const std::string& upload_id() const { return upload_id_; }

 private:
  absl::Status Flush();
  S3Client* client_;
  std::string key_;
  std::string pending_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  Tracker tracker_;
  int64_t size_ = 0;
  bool done_ = false;
};

}  // namespace georep::transport
