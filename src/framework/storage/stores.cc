// The kinds of blob store a site's settings may name (storage.kind). A new
// backend is its own file, defining its opener, plus one line here.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/storage/blob_store.h"

namespace georep::framework {

absl::StatusOr<std::shared_ptr<const BlobStore>> OpenBucket(const BlobStoreSettings& settings);

namespace {

absl::StatusOr<std::shared_ptr<const BlobStore>> OpenLocalFiles(const BlobStoreSettings& settings) {
  if (settings.root.empty() || settings.root.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("the storage root must be an absolute path, not \"", settings.root, "\""));
  }
  return LocalFiles(settings.root);
}

struct Kind {
  const char* name;
  absl::StatusOr<std::shared_ptr<const BlobStore>> (*open)(const BlobStoreSettings&);
};

constexpr Kind kKinds[] = {
    {"file", OpenLocalFiles},
    {"s3", OpenBucket},
};

}  // namespace

std::vector<std::string> BlobStoreKinds() {
  std::vector<std::string> out;
  for (const Kind& k : kKinds) out.emplace_back(k.name);
  return out;
}

absl::StatusOr<std::shared_ptr<const BlobStore>> OpenBlobStore(const BlobStoreSettings& settings) {
  for (const Kind& k : kKinds) {
    if (settings.kind == k.name) return k.open(settings);
  }
  return absl::InvalidArgumentError(absl::StrCat("storage kind \"", settings.kind,
                                                 "\" is not one of ",
                                                 absl::StrJoin(BlobStoreKinds(), ", ")));
}

absl::Status PutBlob(const BlobStore& store, const std::string& location, absl::string_view bytes,
                     const WriteOptions& options) {
  auto blob = store.Create(location, options);
  if (!blob.ok()) return blob.status();
  if (auto s = (*blob)->Write(bytes); !s.ok()) return s;
  if (auto s = (*blob)->Seal(); !s.ok()) return s;
  if (auto s = (*blob)->Install(); !s.ok()) return s;
  return store.SyncInstalled({location});
}

absl::Status BlobStore::SealAll(const std::vector<PendingBlob*>& blobs) const {
  for (PendingBlob* b : blobs) {
    if (auto s = b->Seal(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace georep::framework
