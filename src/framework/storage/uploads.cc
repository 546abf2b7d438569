#include "framework/storage/uploads.h"

#include "absl/strings/str_cat.h"
#include "util/logging.h"

namespace georep::framework {

absl::Status RecordUpload(db::Connection& tracking, const std::string& upload_id, bool open,
                          const std::string& relative, const std::string& worker) {
  if (!open) {
    return tracking.Exec("DELETE FROM georep.bucket_uploads WHERE upload_id = $1", {upload_id})
        .status();
  }
  return tracking
      .Exec(
          "INSERT INTO georep.bucket_uploads (upload_id, object_key, worker_id) "
          "VALUES ($1, $2, $3)",
          {upload_id, relative, worker})
      .status();
}

absl::StatusOr<int> AbortOrphanedUploads(db::Connection& tracking, const BlobStore& blobs,
                                         double dead_after_seconds) {
  auto rows = tracking.Exec(
      "SELECT upload_id, object_key, abort_error IS NOT NULL FROM georep.bucket_uploads u "
      "WHERE NOT EXISTS (SELECT 1 FROM georep.workers w WHERE w.worker_id = u.worker_id "
      "AND w.heartbeat_at > now() - make_interval(secs => $1)) ORDER BY started_at LIMIT 100",
      {absl::StrCat(dead_after_seconds)});
  if (!rows.ok()) return rows.status();
  int aborted = 0;
  for (int i = 0; i < rows->rows(); ++i) {
    const std::string id(rows->Get(i, 0)), key(rows->Get(i, 1));
    const std::string where = absl::StrCat(blobs.where(), key);
    absl::Status s = blobs.AbortUpload(key, id);
    if (s.ok()) {
      auto r = tracking.Exec("DELETE FROM georep.bucket_uploads WHERE upload_id = $1", {id});
      if (!r.ok()) return r.status();
      log::Info("aborted the multipart upload of a dead worker",
                {{"url", where}, {"upload_id", id}});
      ++aborted;
      continue;
    }
    // Said once per upload, not at every pass.
    if (!rows->GetBool(i, 2)) {
      log::Warn(
          "the multipart upload of a dead worker could not be aborted; it is tried again, and "
          "its parts stay until then or until the bucket's lifecycle rule removes them",
          {{"url", where}, {"upload_id", id}, {"error", std::string(s.message())}});
    }
    auto r = tracking.Exec("UPDATE georep.bucket_uploads SET abort_error = $2 WHERE upload_id = $1",
                           {id, std::string(s.message())});
    if (!r.ok()) return r.status();
  }
  return aborted;
}

}  // namespace georep::framework
