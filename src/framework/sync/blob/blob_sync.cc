#include "framework/sync/blob/blob_sync.h"

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
#include "framework/spec/spec.h"
#include "framework/spec/states.h"
#include "framework/storage/uploads.h"
#include "framework/sync/backoff.h"
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

absl::StatusOr<bool> BlobSyncer::Adopt(const ReplicableSpec& spec, const ClaimedItem& item,
                                       const Target& target) {
  if (!target.primary_checksum || ctx_.blobs->remote()) return false;
  int64_t size = 0;
  auto sum = ctx_.blobs->Checksum(target.local, &size);
  if (!sum.ok() || *sum != *target.primary_checksum) return false;
  SyncResult result{target.local, size, *sum, kVerificationSucceeded};
  auto done = CompleteSync(*tracking_, spec, item, result, [] { return absl::OkStatus(); });
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  return *done;
}

absl::StatusOr<std::unique_ptr<PendingBlob>> BlobSyncer::Create(const Target& target) {
  // An upload left open by a kill -9 is aborted by another worker
  // (AbortOrphanedUploads): it is recorded while open.
  return ctx_.blobs->Create(
      target.local, {.writer = ctx_.worker_id,
                     .on_upload = [this, relative = target.path](const std::string& upload_id,
                                                                 bool open) -> absl::Status {
                       if (!tracking_)
                         return absl::UnavailableError("tracking database unreachable");
                       return RecordUpload(*tracking_, upload_id, open, relative, ctx_.worker_id);
                     }});
}

absl::Status BlobSyncer::StoreFailure(const absl::Status& s, const std::string& what) const {
  // Unavailable would have the scheduler probe the primary, NotFound would
  // flag the data missing there: neither is the store's to say.
  absl::StatusCode code =
      absl::IsUnavailable(s) || absl::IsNotFound(s) ? absl::StatusCode::kAborted : s.code();
  return absl::Status(code,
                      absl::StrCat("store ", what, " in ", ctx_.blobs->where(), ": ", s.message()));
}

namespace {

// The sink a download writes into, remembering whether it was the store
// that failed (rather than the network).
class StoreSink : public transport::BodySink {
 public:
  explicit StoreSink(PendingBlob* blob) : blob_(blob) {}
  absl::Status Write(absl::string_view piece) override {
    error_ = blob_->Write(piece);
    return error_;
  }
  const absl::Status& error() const { return error_; }

 private:
  PendingBlob* blob_;
  absl::Status error_;
};

}  // namespace

absl::Status BlobSyncer::Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                               const Target& target) {
  auto adopted = Adopt(spec, item, target);
  if (!adopted.ok()) return adopted.status();
  if (*adopted) return absl::OkStatus();
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  auto blob = Create(target);
  if (!blob.ok()) return StoreFailure(blob.status(), what);
  auto now = static_cast<int64_t>(WallSeconds());
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve/", spec.name, "/", item.model_id);
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobRequestData(spec.name, item.model_id), now);
  StoreSink sink(blob->get());
  auto got = downloader_.Download(url, {"Authorization: " + auth}, sink);
  if (!sink.error().ok()) return StoreFailure(sink.error(), what);
  if (!got.ok()) {
    return Annotated(got.status(), absl::StrCat("fetch ", what, " from ", ctx_.site_name));
  }
  if (got->http_status != 200) {
    return transport::StatusFromHttp(
        got->http_status, absl::StrCat("fetch ", what, " from ", ctx_.site_name, ": HTTP ",
                                       got->http_status, " ", got->error_body.substr(0, 200)));
  }
  std::optional<std::string> primary_checksum = target.primary_checksum;
  if (!primary_checksum) {
    auto now_known = PrimaryChecksumsNow(spec, {item});
    if (auto it = now_known.find(item.model_id); it != now_known.end())
      primary_checksum = it->second;
  }
  // Verified with no second read when the streamed checksum is the
  // primary's; nothing is sealed (for a bucket: visible) before that.
  if (primary_checksum && *primary_checksum != got->sha256) {
    return absl::DataLossError(absl::StrCat("fetch ", what, ": checksum ", got->sha256,
                                            " does not match the primary's ", *primary_checksum));
  }
  if (auto s = (*blob)->Seal(); !s.ok()) return StoreFailure(s, what);
  SyncResult result{(*blob)->location(), got->size, got->sha256,
                    primary_checksum ? kVerificationSucceeded : kVerificationDisabled,
                    /*new_entry=*/ctx_.blobs->installs_are_entries()};
  std::function<absl::Status()> install = [&]() { return (*blob)->Install(); };
  auto done = ctx_.completions ? ctx_.completions->Complete(*tracking_, spec, item, result, install)
                               : CompleteSync(*tracking_, spec, item, result, install);
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  if (*done) Recorded(result.verification_state);
  return absl::OkStatus();
}

// The items of one batch asked of the primary, index by index, and the first
// failure that could not be recorded.
struct BlobSyncer::Batch {
  std::vector<const ClaimedItem*> asked;
  std::vector<Target> targets;
  std::vector<std::unique_ptr<PendingBlob>> blobs;  // a part not installed leaves nothing
  std::vector<transport::BatchPart> parts;
  std::vector<int64_t> ids;
  absl::Status first = absl::OkStatus();

  void Note(const absl::Status& s) {
    if (!s.ok() && first.ok()) first = s;
  }
};

absl::Status BlobSyncer::SyncBatch(const ReplicableSpec& spec,
                                   const std::vector<ClaimedItem>& items) {
  // A store that does not batch (a bucket: each blob its own upload) takes
  // them one at a time.
  if (items.size() <= 1 || !ctx_.blobs->batch_fetch()) return Syncer::SyncBatch(spec, items);
  if (auto s = Connect(); !s.ok()) return s;
  Batch batch;
  if (auto s = Prepare(spec, items, batch); !s.ok()) return s;
  if (batch.asked.empty()) return batch.first;

  std::string what = absl::StrCat(spec.name, " ", absl::StrJoin(batch.ids, ","));
  auto now = static_cast<int64_t>(WallSeconds());
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve-batch/", spec.name, "/",
                                 absl::StrJoin(batch.ids, ","));
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobBatchRequestData(spec.name, batch.ids), now);
  transport::BatchDownload got =
      downloader_.DownloadBatch(url, {"Authorization: " + auth}, batch.parts);
  // The blobs' data is durable before any is installed, all at once; their
  // folder entries, after the installs, all at once too.
  std::vector<PendingBlob*> written;
  for (size_t i = 0; i < batch.parts.size(); ++i) {
    if (batch.parts[i].received && batch.parts[i].code == 200)
      written.push_back(batch.blobs[i].get());
  }
  absl::Status unsynced = ctx_.blobs->SealAll(written);

  LearnChecksums(spec, batch);
  std::vector<SyncResult> results(batch.asked.size());
  std::vector<std::function<absl::Status()>> installs(batch.asked.size());
  std::vector<Completion> completions;
  for (size_t i = 0; i < batch.asked.size(); ++i) {
    const ClaimedItem& item = *batch.asked[i];
    const transport::BatchPart& part = batch.parts[i];
    absl::Status s = PartOutcome(spec, item, part, batch.targets[i], got, unsynced, what);
    if (!s.ok()) {
      batch.Note(RecordFailure(spec, item, s));
      continue;
    }
    results[i] = {
        batch.blobs[i]->location(), part.size, part.sha256,
        batch.targets[i].primary_checksum ? kVerificationSucceeded : kVerificationDisabled,
        /*new_entry=*/ctx_.blobs->installs_are_entries()};
    installs[i] = [blob = batch.blobs[i].get()]() { return blob->Install(); };
    completions.push_back({&item, &results[i], &installs[i]});
  }
  if (completions.empty()) return batch.first;
  RecordBatch(spec, completions, batch);
  return batch.first;
}

absl::Status BlobSyncer::Prepare(const ReplicableSpec& spec, const std::vector<ClaimedItem>& items,
                                 Batch& batch) {
  for (const auto& item : items) {
    if (auto c = Connect(); !c.ok()) return c;  // the rows stay started; they are reclaimed later
    Target target;
    if (absl::Status s = Lookup(spec, item, &target); !s.ok()) {
      batch.Note(RecordFailure(spec, item, s));
      continue;
    }
    auto adopted = Adopt(spec, item, target);
    if (!adopted.ok()) return adopted.status();  // the row stays started; reclaimed later
    if (*adopted) continue;
    auto blob = Create(target);
    if (!blob.ok()) {
      batch.Note(RecordFailure(
          spec, item, StoreFailure(blob.status(), absl::StrCat(spec.name, " ", item.model_id))));
      continue;
    }
    batch.asked.push_back(&item);
    batch.targets.push_back(std::move(target));
    batch.parts.push_back({item.model_id, blob->get()});
    batch.blobs.push_back(std::move(*blob));
    batch.ids.push_back(item.model_id);
  }
  return absl::OkStatus();
}

void BlobSyncer::LearnChecksums(const ReplicableSpec& spec, Batch& batch) {
  std::vector<ClaimedItem> unknown;  // no primary checksum at lookup
  for (size_t i = 0; i < batch.asked.size(); ++i) {
    if (!batch.targets[i].primary_checksum && batch.parts[i].received)
      unknown.push_back(*batch.asked[i]);
  }
  if (!unknown.empty()) {
    auto now_known = PrimaryChecksumsNow(spec, std::move(unknown));
    for (size_t i = 0; i < batch.asked.size(); ++i) {
      auto it = now_known.find(batch.asked[i]->model_id);
      if (!batch.targets[i].primary_checksum && it != now_known.end())
        batch.targets[i].primary_checksum = it->second;
    }
  }
}

absl::Status BlobSyncer::PartOutcome(const ReplicableSpec& spec, const ClaimedItem& item,
                                     const transport::BatchPart& part, const Target& target,
                                     const transport::BatchDownload& got,
                                     const absl::Status& unsynced, const std::string& what) const {
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
    s = StoreFailure(unsynced, one);
  } else if (part.code != 200) {
    s = transport::StatusFromHttp(
        part.code,
        absl::StrCat("fetch ", one, " from ", ctx_.site_name, ": ",
                     part.code == 404 ? "HTTP 404 FILE_NOT_FOUND" : "HTTP 403 PATH_REFUSED"));
  } else if (target.primary_checksum && *target.primary_checksum != part.sha256) {
    s = absl::DataLossError(absl::StrCat("fetch ", one, ": checksum ", part.sha256,
                                         " does not match the primary's ",
                                         *target.primary_checksum));
  }
  return s;
}

void BlobSyncer::RecordBatch(const ReplicableSpec& spec, std::vector<Completion>& completions,
                             Batch& batch) {
  absl::Status recorded = Connect();
  if (recorded.ok()) {
    recorded = CompleteSyncBatch(*tracking_, spec, completions,
                                 [this](const std::vector<std::string>& installed) {
                                   return ctx_.blobs->SyncInstalled(installed);
                                 });
  }
  if (!recorded.ok()) tracking_.reset();
  bool unverified = false;
  for (size_t k = 0; k < completions.size(); ++k) {
    const Completion& c = completions[k];
    if (recorded.ok() && c.done && c.result->verification_state == kVerificationDisabled)
      unverified = true;
    // A blob not installed is removed as `blobs` goes.
    if (!recorded.ok()) {
      batch.Note(RecordFailure(spec, *c.item, recorded));
    } else if (!c.status.ok()) {
      batch.Note(RecordFailure(spec, *c.item, c.status));
    }
  }
  if (unverified) Recorded(kVerificationDisabled);
}

}  // namespace georep::framework
