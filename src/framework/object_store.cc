#include "framework/object_store.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "util/logging.h"
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

absl::Status PutObject(absl::string_view path, absl::string_view bytes) {
  auto key = ObjectKey(path);
  if (!key.ok()) return key.status();
  auto store = ObjectStore();
  transport::S3Upload upload(store.get(), *key);
  if (auto s = upload.Append(bytes); !s.ok()) return s;
  return upload.Commit();
}

absl::StatusOr<int> AbortOrphanedUploads(db::Connection& tracking, double dead_after_seconds) {
  auto store = ObjectStore();
  if (store == nullptr) return 0;
  auto rows = tracking.Exec(
      "SELECT upload_id, object_key, abort_error IS NOT NULL FROM georep.bucket_uploads u "
      "WHERE NOT EXISTS (SELECT 1 FROM georep.workers w WHERE w.worker_id = u.worker_id "
      "AND w.heartbeat_at > now() - make_interval(secs => $1)) ORDER BY started_at LIMIT 100",
      {absl::StrCat(dead_after_seconds)});
  if (!rows.ok()) return rows.status();
  int aborted = 0;
  for (int i = 0; i < rows->rows(); ++i) {
    const std::string id(rows->Get(i, 0)), key(rows->Get(i, 1));
    absl::Status s = store->AbortMultipart(key, id);
    if (s.ok()) {
      auto r = tracking.Exec("DELETE FROM georep.bucket_uploads WHERE upload_id = $1", {id});
      if (!r.ok()) return r.status();
      log::Info("aborted the multipart upload of a dead worker",
                {{"url", store->Url(key)}, {"upload_id", id}});
      ++aborted;
      continue;
    }
    // Said once per upload, not at every pass.
    if (!rows->GetBool(i, 2)) {
      log::Warn(
          "the multipart upload of a dead worker could not be aborted; it is tried again, and "
          "its parts stay until then or until the bucket's lifecycle rule removes them",
          {{"url", store->Url(key)}, {"upload_id", id}, {"error", std::string(s.message())}});
    }
    auto r = tracking.Exec("UPDATE georep.bucket_uploads SET abort_error = $2 WHERE upload_id = $1",
                           {id, std::string(s.message())});
    if (!r.ok()) return r.status();
  }
  return aborted;
}

}  // namespace georep::framework
