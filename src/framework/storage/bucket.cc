// Blobs as objects in an S3-compatible bucket (kind "s3"): a blob at
// relative path P is the object <prefix>P, recorded as
// "s3://<bucket>/<prefix>P". An object is written as an upload that shows
// nothing under its key until it is completed (transport::S3Upload), and it
// is completed only once the writer has checked its bytes, so the bucket
// never holds a partial or unverified copy under its key.
#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/storage/blob_store.h"
#include "util/logging.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

class PendingObject : public PendingBlob {
 public:
  PendingObject(transport::S3Client* client, std::string key, std::string location,
                transport::S3Upload::Tracker tracker)
      : upload_(client, std::move(key)), location_(std::move(location)) {
    if (tracker) upload_.set_tracker(std::move(tracker));
  }
  // An upload not completed is aborted by S3Upload's destructor.

  absl::Status Write(absl::string_view piece) override { return upload_.Append(piece); }
  absl::Status Seal() override { return upload_.Commit(); }
  absl::Status Install() override { return absl::OkStatus(); }  // sealed is in place
  const std::string& location() const override { return location_; }
  int64_t size() const override { return upload_.size(); }

 private:
  transport::S3Upload upload_;
  std::string location_;
};

class BucketStore : public BlobStore {
 public:
  explicit BucketStore(std::shared_ptr<transport::S3Client> client)
      : client_(std::move(client)),
        prefix_(
            absl::StrCat("s3://", client_->location().bucket, "/", client_->location().prefix)) {}

  absl::string_view kind() const override { return "s3"; }
  std::string where() const override { return prefix_; }

  absl::StatusOr<std::string> Locate(absl::string_view relative) const override {
    if (relative.empty() || relative.front() == '/' ||
        relative.find('\0') != absl::string_view::npos) {
      return absl::PermissionDeniedError(
          absl::StrCat("path \"", relative, "\" refused: not a plain relative path"));
    }
    for (absl::string_view seg : absl::StrSplit(relative, '/')) {
      if (seg.empty() || seg == "." || seg == "..") {
        return absl::PermissionDeniedError(
            absl::StrCat("path \"", relative, "\" refused: empty, \".\" or \"..\" segment"));
      }
    }
    return absl::StrCat(prefix_, relative);
  }

  absl::StatusOr<int64_t> Read(absl::string_view location,
                               const std::function<bool(absl::string_view)>& sink) const override {
    auto key = Key(location);
    if (!key.ok()) return key.status();
    return client_->Get(*key, sink);
  }

  absl::StatusOr<std::optional<int64_t>> Size(absl::string_view location) const override {
    auto key = Key(location);
    if (!key.ok()) return key.status();
    return client_->Size(*key);
  }

  absl::StatusOr<std::string> Checksum(absl::string_view location, int64_t* size) const override {
    Sha256 hash;
    auto read = Read(location, [&](absl::string_view piece) {
      hash.Update(piece);
      return true;
    });
    if (!read.ok()) return read.status();
    if (size != nullptr) *size = *read;
    return hash.HexDigest();
  }

  absl::Status Remove(absl::string_view location) const override {
    auto key = Key(location);
    if (!key.ok()) return key.status();
    return client_->Delete(*key);
  }

  absl::StatusOr<std::unique_ptr<PendingBlob>> Create(const std::string& location,
                                                      const WriteOptions& options) const override {
    auto key = Key(location);
    if (!key.ok()) return key.status();
    return std::unique_ptr<PendingBlob>(
        new PendingObject(client_.get(), *key, location, options.on_upload));
  }

  bool installs_are_entries() const override { return false; }
  absl::Status SyncInstalled(const std::vector<std::string>&) const override {
    return absl::OkStatus();
  }
  // Many objects (a seeding, a salvage) are completed a few at a time.
  absl::Status SealAll(const std::vector<PendingBlob*>& blobs) const override {
    constexpr int kAtOnce = 8;
    std::atomic<size_t> next{0};
    std::vector<absl::Status> failed(kAtOnce);
    std::vector<std::thread> sealers;
    for (int t = 0; t < kAtOnce; ++t) {
      sealers.emplace_back([&, t] {
        for (size_t i; failed[t].ok() && (i = next.fetch_add(1)) < blobs.size();)
          failed[t] = blobs[i]->Seal();
      });
    }
    for (auto& t : sealers) t.join();
    for (const auto& s : failed) {
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  absl::Status AbortUpload(const std::string& relative,
                           const std::string& upload_id) const override {
    return client_->AbortMultipart(relative, upload_id);
  }
  bool remote() const override { return true; }
  // One upload per blob: a batch's small objects would each still be their
  // own request to the bucket.
  bool batch_fetch() const override { return false; }

 private:
  // The key (the relative path, under the prefix) of a location; NotFound
  // when it is not in this bucket and prefix.
  absl::StatusOr<std::string> Key(absl::string_view location) const {
    absl::string_view rest = location;
    if (!absl::ConsumePrefix(&rest, prefix_) || rest.empty()) {
      return absl::NotFoundError(
          absl::StrCat(location, " is not under this site's bucket and prefix ", prefix_));
    }
    return std::string(rest);
  }

  std::shared_ptr<transport::S3Client> client_;
  std::string prefix_;
};

}  // namespace

std::shared_ptr<const BlobStore> Bucket(std::shared_ptr<transport::S3Client> client) {
  return std::make_shared<BucketStore>(std::move(client));
}

absl::StatusOr<std::shared_ptr<const BlobStore>> OpenBucket(const BlobStoreSettings& settings) {
  if (auto s = transport::ValidateS3(settings.s3, settings.s3_options); !s.ok()) return s;
  auto client = std::make_shared<transport::S3Client>(settings.s3, settings.s3_options);
  // A bucket that does not answer yet is waited for (copies fail and are
  // retried); one that answers with a refusal is a bad setting.
  auto probe = client->Size(".georep-probe");
  if (absl::IsUnavailable(probe.status())) {
    log::Warn(
        "object storage does not answer yet; copies wait for it",
        {{"endpoint", settings.s3.endpoint}, {"error", std::string(probe.status().message())}});
  } else if (!probe.ok()) {
    return absl::InvalidArgumentError(probe.status().message());
  }
  log::Info("blobs are kept in object storage", {{"endpoint", settings.s3.endpoint},
                                                 {"bucket", settings.s3.bucket},
                                                 {"prefix", settings.s3.prefix}});
  return Bucket(std::move(client));
}

}  // namespace georep::framework
