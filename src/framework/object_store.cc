#include "framework/object_store.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "util/mutex.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

struct Slot {
  Mutex mu;
  std::shared_ptr<transport::S3Client> store ABSL_GUARDED_BY(mu);
};

Slot& TheSlot() {
  static Slot* slot = new Slot;  // never destroyed: workers may outlive main
  return *slot;
}

std::string ObjectPrefix(const transport::S3Client& store) {
  return absl::StrCat("s3://", store.location().bucket, "/", store.location().prefix);
}

}  // namespace

void SetObjectStore(std::shared_ptr<transport::S3Client> store) {
  Slot& s = TheSlot();
  MutexLock lock(&s.mu);
  s.store = std::move(store);
}

std::shared_ptr<transport::S3Client> ObjectStore() {
  Slot& s = TheSlot();
  MutexLock lock(&s.mu);
  return s.store;
}

bool IsObjectPath(absl::string_view path) { return absl::StartsWith(path, "s3://"); }

std::string ObjectPath(const transport::S3Client& store, absl::string_view relative) {
  return absl::StrCat(ObjectPrefix(store), relative);
}

absl::StatusOr<std::string> ObjectKey(absl::string_view path) {
  auto store = ObjectStore();
  if (store == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, " is in a bucket, and this site keeps no copies in one"));
  }
  absl::string_view rest = path;
  if (!absl::ConsumePrefix(&rest, ObjectPrefix(*store)) || rest.empty()) {
    return absl::NotFoundError(
        absl::StrCat(path, " is not under this site's bucket and prefix ", ObjectPrefix(*store)));
  }
  return std::string(rest);
}

absl::StatusOr<std::string> ObjectChecksum(absl::string_view path) {
  auto key = ObjectKey(path);
  if (!key.ok()) return key.status();
  Sha256 hash;
  auto size = ObjectStore()->Get(*key, [&](absl::string_view piece) {
    hash.Update(piece);
    return true;
  });
  if (!size.ok()) return size.status();
  return hash.HexDigest();
}

absl::Status RemoveObject(absl::string_view path) {
  auto key = ObjectKey(path);
  if (!key.ok()) return key.status();
  return ObjectStore()->Delete(*key);
}

}  // namespace georep::framework
