#include "framework/blob/blob_sync.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/backoff.h"
#include "framework/object_store.h"
#include "framework/spec.h"
#include "framework/states.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/random.h"
#include "util/sha256.h"
#include "util/status_macros.h"

namespace georep::framework {
namespace fs = std::filesystem;

std::string TempDir(const std::string& storage_root) { return storage_root + "/.georep-tmp"; }

absl::StatusOr<bool> BlobSyncer::Adopt(const ReplicableSpec& spec, const ClaimedItem& item,
                                       const Target& target) {
  if (!target.primary_checksum) return false;
  struct stat st;
  if (lstat(target.local.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int64_t size = 0;
  auto sum = Sha256File(target.local, &size);
  if (!sum.ok() || *sum != *target.primary_checksum) return false;
  SyncResult result{target.local, size, *sum, kVerificationSucceeded};
  auto done = CompleteSync(*tracking_, spec, item, result, [] { return absl::OkStatus(); });
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  return *done;
}

absl::Status BlobSyncer::FetchIntoBucket(const ReplicableSpec& spec, const ClaimedItem& item,
                                         const Target& target, transport::S3Client& store) {
  const std::string what = absl::StrCat(spec.name, " ", item.model_id);
  const std::string url =
      absl::StrCat(ctx_.primary_url, "/geo/retrieve/", spec.name, "/", item.model_id);
  const std::string auth = transport::MakeGeoAuthorization(
      ctx_.access_key, ctx_.secret_access_key, transport::BlobRequestData(spec.name, item.model_id),
      static_cast<int64_t>(WallSeconds()));
  // Streamed from the primary into the upload, hashed on the way; nothing
  // is visible under the key until the commit below.
  transport::S3Upload upload(&store, target.path);
  // Its parts' upload is recorded while in flight: if this process dies,
  // another aborts it (AbortOrphanedUploads).
  upload.set_tracker([&](const std::string& upload_id, bool open) -> absl::Status {
    if (!tracking_) return absl::UnavailableError("tracking database unreachable");
    if (!open) {
      return tracking_->Exec("DELETE FROM georep.bucket_uploads WHERE upload_id = $1", {upload_id})
          .status();
    }
    return tracking_
        ->Exec(
            "INSERT INTO georep.bucket_uploads (upload_id, object_key, worker_id) "
            "VALUES ($1, $2, $3)",
            {upload_id, target.path, ctx_.worker_id})
        .status();
  });
  Sha256 hash;
  absl::Status stored = absl::OkStatus();
  transport::RequestOptions o{.method = "GET", .headers = {"Authorization: " + auth}};
  o.timeout_seconds = 3600;
  o.on_body = [&](absl::string_view piece) {
    hash.Update(piece);
    stored = upload.Append(piece);
    return stored.ok();
  };
  // The bucket's failures are the item's to retry with backoff: not the
  // primary's (Unavailable would have the scheduler probe the primary), nor
  // missing data (NotFound: a missing bucket is not a missing file).
  auto bucket_failure = [&](const absl::Status& s) {
    return absl::AbortedError(absl::StrCat("store ", what, " in the bucket: ", s.message()));
  };
  auto got = transport::HttpRequest(url, o);
  if (!stored.ok()) return bucket_failure(stored);
  if (!got.ok())
    return Annotated(got.status(), absl::StrCat("fetch ", what, " from ", ctx_.site_name));
  if (got->status != 200) {
    return transport::StatusFromHttp(
        got->status, absl::StrCat("fetch ", what, " from ", ctx_.site_name, ": HTTP ", got->status,
                                  " ", got->body.substr(0, 200)));
  }
  const std::string sha = hash.HexDigest();
  std::optional<std::string> primary_checksum = target.primary_checksum;
  if (!primary_checksum) {
    auto now_known = PrimaryChecksumsNow(spec, {item});
    if (auto it = now_known.find(item.model_id); it != now_known.end())
      primary_checksum = it->second;
  }
  if (primary_checksum && *primary_checksum != sha) {
    return absl::DataLossError(absl::StrCat("fetch ", what, ": checksum ", sha,
                                            " does not match the primary's ", *primary_checksum));
  }
  if (auto s = upload.Commit(); !s.ok()) return bucket_failure(s);
  // An object is durable once the store has answered: no folder to fsync.
  SyncResult result{ObjectPath(store, target.path), upload.size(), sha,
                    primary_checksum ? kVerificationSucceeded : kVerificationDisabled,
                    /*new_entry=*/false};
  auto install = []() { return absl::OkStatus(); };
  auto done = ctx_.completions ? ctx_.completions->Complete(*tracking_, spec, item, result, install)
                               : CompleteSync(*tracking_, spec, item, result, install);
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  if (*done) Recorded(result.verification_state);
  return absl::OkStatus();
}

absl::Status BlobSyncer::Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                               const Target& target) {
  if (auto store = ObjectStore()) return FetchIntoBucket(spec, item, target, *store);
  auto adopted = Adopt(spec, item, target);
  if (!adopted.ok()) return adopted.status();
  if (*adopted) return absl::OkStatus();
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  std::optional<std::string> primary_checksum = target.primary_checksum;
  const std::string& local = target.local;

  std::string tmp =
      absl::StrCat(TempDir(ctx_.storage_root), "/", ctx_.worker_id, "-", RandomHex(8));
  auto now = static_cast<int64_t>(WallSeconds());
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve/", spec.name, "/", item.model_id);
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobRequestData(spec.name, item.model_id), now);
  auto got = downloader_.Download(url, {"Authorization: " + auth}, tmp);
  if (!got.ok()) {
    return Annotated(got.status(), absl::StrCat("fetch ", what, " from ", ctx_.site_name));
  }
  if (got->http_status != 200) {
    return transport::StatusFromHttp(
        got->http_status, absl::StrCat("fetch ", what, " from ", ctx_.site_name, ": HTTP ",
                                       got->http_status, " ", got->error_body.substr(0, 200)));
  }
  if (auto s = MakeDirs(fs::path(local).parent_path().string(), 0755); !s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  if (!primary_checksum) {
    auto now_known = PrimaryChecksumsNow(spec, {item});
    if (auto it = now_known.find(item.model_id); it != now_known.end())
      primary_checksum = it->second;
  }
  // Verified with no second read when the streamed checksum is the primary's.
  if (primary_checksum && *primary_checksum != got->sha256) {
    unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("fetch ", what, ": checksum ", got->sha256,
                                            " does not match the primary's ", *primary_checksum));
  }
  SyncResult result{local, got->size, got->sha256,
                    primary_checksum ? kVerificationSucceeded : kVerificationDisabled};
  std::function<absl::Status()> install = [&]() -> absl::Status {
    if (rename(tmp.c_str(), local.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename into ", local, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  };
  auto done = ctx_.completions ? ctx_.completions->Complete(*tracking_, spec, item, result, install)
                               : CompleteSync(*tracking_, spec, item, result, install);
  if (!done.ok() || !*done) unlink(tmp.c_str());
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  if (*done) Recorded(result.verification_state);
  return absl::OkStatus();
}

absl::Status BlobSyncer::SyncBatch(const ReplicableSpec& spec,
                                   const std::vector<ClaimedItem>& items) {
  // Into a bucket, one object at a time (each its own upload).
  if (items.size() <= 1 || ObjectStore()) return Syncer::SyncBatch(spec, items);
  if (auto s = Connect(); !s.ok()) return s;
  absl::Status first = absl::OkStatus();
  auto note = [&](const absl::Status& s) {
    if (!s.ok() && first.ok()) first = s;
  };
  std::vector<const ClaimedItem*> asked;
  std::vector<Target> targets;
  std::vector<transport::BatchPart> parts;
  std::vector<int64_t> ids;
  for (const auto& item : items) {
    if (auto c = Connect(); !c.ok()) return c;  // the rows stay started; they are reclaimed later
    Target target;
    if (absl::Status s = Lookup(spec, item, &target); !s.ok()) {
      note(RecordFailure(spec, item, s));
      continue;
    }
    auto adopted = Adopt(spec, item, target);
    if (!adopted.ok()) return adopted.status();  // the row stays started; reclaimed later
    if (*adopted) continue;
    asked.push_back(&item);
    targets.push_back(std::move(target));
    parts.push_back({item.model_id, absl::StrCat(TempDir(ctx_.storage_root), "/", ctx_.worker_id,
                                                 "-", RandomHex(8))});
    ids.push_back(item.model_id);
  }
  if (asked.empty()) return first;

  std::string what = absl::StrCat(spec.name, " ", absl::StrJoin(ids, ","));
  auto now = static_cast<int64_t>(WallSeconds());
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve-batch/", spec.name, "/",
                                 absl::StrJoin(ids, ","));
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobBatchRequestData(spec.name, ids), now);
  transport::BatchDownload got = downloader_.DownloadBatch(url, {"Authorization: " + auth}, parts);
  // The files' data is durable before any is renamed into place, all at
  // once; their folder entries, after the renames, all at once too.
  std::vector<std::string> written;
  for (const auto& part : parts) {
    if (part.received && part.code == 200) written.push_back(part.dest);
  }
  absl::Status unsynced = SyncFileData(written);

  std::vector<ClaimedItem> unknown;  // no primary checksum at lookup
  for (size_t i = 0; i < asked.size(); ++i) {
    if (!targets[i].primary_checksum && parts[i].received) unknown.push_back(*asked[i]);
  }
  if (!unknown.empty()) {
    auto now_known = PrimaryChecksumsNow(spec, std::move(unknown));
    for (size_t i = 0; i < asked.size(); ++i) {
      auto it = now_known.find(asked[i]->model_id);
      if (!targets[i].primary_checksum && it != now_known.end())
        targets[i].primary_checksum = it->second;
    }
  }
  std::vector<SyncResult> results(asked.size());
  std::vector<std::function<absl::Status()>> installs(asked.size());
  std::vector<Completion> completions;
  std::vector<size_t> completing;  // index into asked, per completion
  for (size_t i = 0; i < asked.size(); ++i) {
    const ClaimedItem& item = *asked[i];
    const transport::BatchPart& part = parts[i];
    std::string one = absl::StrCat(spec.name, " ", item.model_id);
    absl::Status s = absl::OkStatus();
    // The batch as a whole failing says nothing of any one item: retried.
    if (got.http_status != 200) {
      std::string where = absl::StrCat("fetch ", what, " from ", ctx_.site_name);
      s = got.http_status == 0
              ? Annotated(got.error.ok() ? absl::UnavailableError("no answer") : got.error, where)
              : absl::UnavailableError(absl::StrCat(where, ": HTTP ", got.http_status, " ",
                                                    got.error_body.substr(0, 200)));
    } else if (!part.received) {
      s = absl::UnavailableError(
          absl::StrCat("fetch ", one, " from ", ctx_.site_name, ": ",
                       got.error.ok() ? "the batch response ended early" : got.error.message()));
    } else if (part.code == 200 && !unsynced.ok()) {
      unlink(part.dest.c_str());
      s = Annotated(unsynced, absl::StrCat("fetch ", one));
    } else if (part.code != 200) {
      s = transport::StatusFromHttp(
          part.code,
          absl::StrCat("fetch ", one, " from ", ctx_.site_name, ": ",
                       part.code == 404 ? "HTTP 404 FILE_NOT_FOUND" : "HTTP 403 PATH_REFUSED"));
    } else if (targets[i].primary_checksum && *targets[i].primary_checksum != part.sha256) {
      unlink(part.dest.c_str());
      s = absl::DataLossError(absl::StrCat("fetch ", one, ": checksum ", part.sha256,
                                           " does not match the primary's ",
                                           *targets[i].primary_checksum));
    } else if (auto d = MakeDirs(fs::path(targets[i].local).parent_path().string(), 0755);
               !d.ok()) {
      unlink(part.dest.c_str());
      s = d;
    }
    if (!s.ok()) {
      note(RecordFailure(spec, item, s));
      continue;
    }
    results[i] = {targets[i].local, part.size, part.sha256,
                  targets[i].primary_checksum ? kVerificationSucceeded : kVerificationDisabled};
    installs[i] = [src = part.dest, dst = targets[i].local]() -> absl::Status {
      if (rename(src.c_str(), dst.c_str()) != 0) {
        return absl::InternalError(absl::StrCat("rename into ", dst, ": ", strerror(errno)));
      }
      return absl::OkStatus();
    };
    completions.push_back({&item, &results[i], &installs[i]});
    completing.push_back(i);
  }
  if (completions.empty()) return first;
  absl::Status recorded = Connect();
  if (recorded.ok()) recorded = CompleteSyncBatch(*tracking_, spec, completions, SyncFolderEntries);
  if (!recorded.ok()) tracking_.reset();
  bool unverified = false;
  for (size_t k = 0; k < completions.size(); ++k) {
    const Completion& c = completions[k];
    if (recorded.ok() && c.done && c.result->verification_state == kVerificationDisabled)
      unverified = true;
    if (!recorded.ok() || !c.done) unlink(parts[completing[k]].dest.c_str());
    if (!recorded.ok()) {
      note(RecordFailure(spec, *c.item, recorded));
    } else if (!c.status.ok()) {
      note(RecordFailure(spec, *c.item, c.status));
    }
  }
  if (unverified) Recorded(kVerificationDisabled);
  return first;
}

}  // namespace georep::framework
