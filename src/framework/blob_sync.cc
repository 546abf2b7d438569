#include "framework/blob_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "framework/backoff.h"
#include "framework/spec.h"
#include "framework/verification.h"
#include "transport/geo_auth.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/random.h"

namespace georep::framework {
namespace fs = std::filesystem;

std::string TempDir(const std::string& storage_root) { return storage_root + "/.georep-tmp"; }

absl::Status BlobSyncer::Connect() {
  if (auto s = db::EnsureOpen(standby_, ctx_.standby_conninfo); !s.ok()) return s;
  if (auto s = db::EnsureOpen(tracking_, ctx_.tracking_conninfo, "SET synchronous_commit = off");
      !s.ok())
    return s;
  return absl::OkStatus();
}

absl::Status ResolvePaths(db::Connection& standby, const ReplicableSpec& spec,
                          std::vector<ClaimedItem>& items) {
  if (items.empty()) return absl::OkStatus();
  std::string ids;
  for (const auto& i : items) absl::StrAppend(&ids, ids.empty() ? "" : ",", i.model_id);
  // The primary's checksum comes along when its states table is there.
  auto states = standby.Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
  if (!states.ok()) return states.status();
  std::string checksum_sql =
      states->GetBool(0, 0)
          ? absl::StrCat("(SELECT s.checksum FROM ", StatesTable(spec), " s WHERE s.model_id = m.",
                         QuotedIdColumn(spec), " AND s.state = 2)")
          : "NULL::text";
  auto r = standby.Exec(absl::StrCat("SELECT m.", QuotedIdColumn(spec), ", ", PathSql(spec, "m"),
                                     ", ", checksum_sql, " FROM ", QuotedTable(spec), " m WHERE m.",
                                     QuotedIdColumn(spec), " = ANY($1::bigint[])"),
                        {absl::StrCat("{", ids, "}")});
  if (!r.ok()) return r.status();
  struct Found {
    std::optional<std::string> path;
    std::optional<std::string> checksum;
  };
  std::map<int64_t, Found> found;
  for (int i = 0; i < r->rows(); ++i) {
    Found f;
    if (!r->IsNull(i, 1)) f.path = std::string(r->Get(i, 1));
    if (!r->IsNull(i, 2)) f.checksum = std::string(r->Get(i, 2));
    found[r->GetInt64(i, 0)] = f;
  }
  for (auto& item : items) {
    item.looked_up = true;
    auto it = found.find(item.model_id);
    item.path = it == found.end() ? std::nullopt : it->second.path;
    item.primary_checksum = it == found.end() ? std::nullopt : it->second.checksum;
  }
  return absl::OkStatus();
}

absl::Status BlobSyncer::Sync(const ReplicableSpec& spec, const ClaimedItem& item) {
  if (auto s = Connect(); !s.ok()) return s;
  bool missing = false;
  absl::Status s = Fetch(spec, item, &missing);
  if (s.ok()) return absl::OkStatus();
  if (auto c = Connect(); !c.ok()) return c;  // the row stays started; it is reclaimed later
  thread_local std::mt19937 rng(std::random_device{}());
  double delay =
      RetryDelaySeconds(item.retry_count, missing, [] { return static_cast<int>(rng() % 30); });
  log::Debug(
      "sync failed",
      {{"replicable", spec.name}, {"id", item.model_id}, {"error", std::string(s.message())}});
  absl::Status recorded = FailSync(*tracking_, spec, item, std::string(s.message()), missing, delay,
                                   /*verification_failed=*/s.code() == absl::StatusCode::kDataLoss);
  if (!recorded.ok()) {
    standby_.reset();
    tracking_.reset();
  }
  return recorded;
}

absl::Status BlobSyncer::Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                               bool* missing_on_primary) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  std::optional<std::string> rel = item.path;
  std::optional<std::string> primary_checksum = item.primary_checksum;
  if (!item.looked_up) {
    std::vector<ClaimedItem> one = {item};
    if (auto s = ResolvePaths(*standby_, spec, one); !s.ok()) {
      standby_.reset();
      return absl::Status(s.code(), absl::StrCat("look up ", what, ": ", s.message()));
    }
    rel = one[0].path;
    primary_checksum = one[0].primary_checksum;
  }
  if (!rel) {
    return absl::NotFoundError(
        absl::StrCat(what, ": no such row in ", spec.model_table, " (or its path is NULL)"));
  }
  auto local = ConfinedPath(ctx_.storage_root, *rel);
  if (!local.ok())
    return absl::PermissionDeniedError(absl::StrCat(what, ": ", local.status().message()));

  std::string tmp =
      absl::StrCat(TempDir(ctx_.storage_root), "/", ctx_.worker_id, "-", RandomHex(8));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/retrieve/", spec.name, "/", item.model_id);
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::BlobRequestData(spec.name, item.model_id), now);
  auto got = downloader_.Download(url, {"Authorization: " + auth}, tmp);
  if (!got.ok()) {
    return absl::Status(got.status().code(), absl::StrCat("fetch ", what, " from ", ctx_.site_name,
                                                          ": ", got.status().message()));
  }
  if (got->http_status != 200) {
    *missing_on_primary =
        got->http_status == 404 && got->error_body.find("FILE_NOT_FOUND") != std::string::npos;
    return absl::UnavailableError(absl::StrCat("fetch ", what, " from ", ctx_.site_name, ": HTTP ",
                                               got->http_status, " ",
                                               got->error_body.substr(0, 200)));
  }
  if (auto s = MakeDirs(fs::path(*local).parent_path().string(), 0755); !s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  // Verified with no second read when the streamed checksum is the primary's.
  if (primary_checksum && *primary_checksum != got->sha256) {
    unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("fetch ", what, ": checksum ", got->sha256,
                                            " does not match the primary's ", *primary_checksum));
  }
  SyncResult result{*local, got->size, got->sha256,
                    primary_checksum ? kVerificationSucceeded : kVerificationDisabled};
  auto done = CompleteSync(*tracking_, spec, item, result, [&]() -> absl::Status {
    if (rename(tmp.c_str(), local->c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename into ", *local, ": ", strerror(errno)));
    }
    return absl::OkStatus();
  });
  if (!done.ok() || !*done) unlink(tmp.c_str());
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  return absl::OkStatus();
}

absl::Status SweepTempFiles(db::Connection& tracking, const std::string& storage_root,
                            double dead_after_seconds) {
  std::string dir = TempDir(storage_root);
  if (auto s = MakeDirs(dir, 0755); !s.ok()) return s;
  auto live = tracking.Exec(
      "SELECT worker_id FROM georep.workers WHERE heartbeat_at > now() - make_interval(secs => $1)",
      {absl::StrCat(dead_after_seconds)});
  if (!live.ok()) return live.status();
  std::set<std::string> alive;
  for (int i = 0; i < live->rows(); ++i) alive.insert(std::string(live->Get(i, 0)));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    size_t dash = name.rfind('-');
    std::string owner = dash == std::string::npos ? "" : name.substr(0, dash);
    if (!alive.contains(owner)) fs::remove(entry.path(), ec);
  }
  return absl::OkStatus();
}

}  // namespace georep::framework
