// Where a site keeps the bytes of its blobs: files under its storage root
// (storage/local_files.h, the default) or objects in an S3-compatible bucket
// (storage/bucket.h). One store per site, chosen at start-up from its
// settings (OpenBlobStore) and handed to everything that locates, reads,
// writes, checksums or removes a blob: the sync workers, the verifier, the
// checksummer, the retrieve and LFS routes, the sample forge. There is no
// process-wide store. A new backend is one file plus one line in
// storage/stores.cc.
//
// A blob is named by its location, the text a registry row records: an
// absolute path under the root for files, "s3://<bucket>/<prefix><relative>"
// for objects. A blob is written as a PendingBlob and appears at its
// location whole or not at all.
//
// Thread safety: a store is immutable once made and may be shared by every
// thread; a PendingBlob belongs to one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "transport/blob_download.h"
#include "transport/s3_client.h"

namespace georep::framework {

// A blob being written: bytes written as they arrive (transport::BodySink),
// made durable (Seal), then installed at its location (Install). Destroyed
// before it is installed, it leaves nothing at the location (a file's
// temporary is removed, an upload's parts are aborted).
class PendingBlob : public transport::BodySink {
 public:
  ~PendingBlob() override = default;
  // Its bytes survive a crash once this returns (a file: fdatasync; an
  // object: the upload completed, which also makes it visible at its
  // location: a bucket has no durable, unpublished state).
  virtual absl::Status Seal() = 0;
  // At its location, atomically (a file: renamed over whatever was there,
  // its folder made first). Called inside the transaction that records the
  // copy, after Seal.
  virtual absl::Status Install() = 0;
  virtual const std::string& location() const = 0;
  virtual int64_t size() const = 0;
};

// What a store needs to write a blob.
struct WriteOptions {
  // Names the writer's temporaries ("<writer>-<random>"), so those of a dead
  // worker are swept (framework::SweepTempFiles); may be empty.
  std::string writer;
  // Told of a bucket's multipart upload while it is open, so one left by a
  // kill -9 can be aborted (transport::S3Upload::Tracker); may be empty.
  transport::S3Upload::Tracker on_upload;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // "file" or "s3": for logs, status and messages.
  virtual absl::string_view kind() const = 0;
  // Where its blobs are, for messages ("/var/lib/georep/storage",
  // "s3://bucket/prefix").
  virtual std::string where() const = 0;

  // The location of the blob at `relative` (a model row's path): refused
  // (PermissionDenied) when the path is not plain relative segments, or,
  // for files, crosses a symbolic link.
  virtual absl::StatusOr<std::string> Locate(absl::string_view relative) const = 0;

  // Reads the blob at `location` in pieces (`sink` returns false to stop:
  // the read then fails); its size. NotFound when there is none (or it is
  // not a regular file, or not in this store).
  virtual absl::StatusOr<int64_t> Read(
      absl::string_view location, const std::function<bool(absl::string_view)>& sink) const = 0;
  // Its size; nullopt when there is none.
  virtual absl::StatusOr<std::optional<int64_t>> Size(absl::string_view location) const = 0;
  // SHA-256 of its bytes (hex), and its size in `*size` when given.
  virtual absl::StatusOr<std::string> Checksum(absl::string_view location,
                                               int64_t* size = nullptr) const = 0;
  // Removes it; one that is not there is not an error.
  virtual absl::Status Remove(absl::string_view location) const = 0;

  // A new blob for `location` (from Locate).
  virtual absl::StatusOr<std::unique_ptr<PendingBlob>> Create(
      const std::string& location, const WriteOptions& options) const = 0;
  // Seals many at once; files share one sync of their file system when
  // there are many. The first failure; then none may be installed.
  virtual absl::Status SealAll(const std::vector<PendingBlob*>& blobs) const;
  // Whether an installed blob is a new folder entry that must be made
  // durable before the transaction recording it commits (files: yes, their
  // folders are fsynced; objects: no, a sealed object is durable).
  virtual bool installs_are_entries() const = 0;
  // Makes installed blobs' being at their locations durable (files: their
  // folders fsynced, once per folder, or their file systems at once when
  // there are many; objects: nothing to do).
  virtual absl::Status SyncInstalled(const std::vector<std::string>& locations) const = 0;

  // The blob as a regular file's descriptor to serve from (the caller
  // closes it), when this store's blobs are files; nullopt otherwise.
  virtual std::optional<absl::StatusOr<int>> OpenFile(absl::string_view location) const {
    return std::nullopt;
  }
  // Whether its blobs are elsewhere (a bucket): then looking at one costs a
  // request, and a sync does not first look for a copy to adopt.
  virtual bool remote() const = 0;
  // Whether a secondary fetches many blobs into this store in one request
  // (/geo/retrieve-batch); false: one request per blob.
  virtual bool batch_fetch() const = 0;
  // Aborts the upload `upload_id` of the blob at `relative` that a dead
  // writer left open (WriteOptions::on_upload told of it); stores whose
  // writes leave nothing behind have none.
  virtual absl::Status AbortUpload(const std::string& relative,
                                   const std::string& upload_id) const {
    return absl::OkStatus();
  }
};

// What a site's settings say of its store.
struct BlobStoreSettings {
  std::string kind = "file";  // a name of BlobStoreKinds()
  std::string root;           // the storage root: files, and temporaries of every kind
  transport::S3Location s3;
  transport::S3Options s3_options;
};

// The store the settings name. InvalidArgument names the bad setting;
// Unavailable when the store does not answer (a bucket's endpoint).
absl::StatusOr<std::shared_ptr<const BlobStore>> OpenBlobStore(const BlobStoreSettings& settings);
// The kinds OpenBlobStore knows, for messages.
std::vector<std::string> BlobStoreKinds();

// Files under `root`, as OpenBlobStore makes them for kind "file".
std::shared_ptr<const BlobStore> LocalFiles(const std::string& root);
// Objects in `client`'s bucket, under its prefix (kind "s3").
std::shared_ptr<const BlobStore> Bucket(std::shared_ptr<transport::S3Client> client);

// Writes `bytes` as the blob at `location`, whole or not at all, durable
// when this returns: Create, Write, Seal, Install, SyncInstalled.
absl::Status PutBlob(const BlobStore& store, const std::string& location, absl::string_view bytes,
                     const WriteOptions& options = {});

// <root>/.georep-tmp: where a store's temporaries live, on the storage's
// file system (the same as the files, so a rename is atomic).
std::string TempDir(const std::string& storage_root);

}  // namespace georep::framework
