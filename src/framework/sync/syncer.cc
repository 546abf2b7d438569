#include "framework/sync/syncer.h"

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "framework/registry/primary_states.h"
#include "framework/spec/spec.h"
#include "framework/sync/backoff.h"
#include "framework/sync/strategy.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/logging.h"

namespace georep::framework {
namespace fs = std::filesystem;

std::unique_ptr<Syncer> MakeSyncer(Strategy strategy, const SyncContext& ctx) {
  return DescriptorOf(strategy).make_syncer(ctx);
}

absl::Status Syncer::Connect() {
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
      states->GetBool(0, 0) ? SucceededChecksumSql(spec, absl::StrCat("m.", QuotedIdColumn(spec)))
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

absl::Status Syncer::Sync(const ReplicableSpec& spec, const ClaimedItem& item) {
  if (auto s = Connect(); !s.ok()) return s;
  Target target;
  absl::Status s = Lookup(spec, item, &target);
  if (s.ok()) s = Fetch(spec, item, target);
  if (s.ok()) return absl::OkStatus();
  return RecordFailure(spec, item, s);
}

absl::Status Syncer::SyncBatch(const ReplicableSpec& spec, const std::vector<ClaimedItem>& items) {
  absl::Status first = absl::OkStatus();
  for (const auto& item : items) {
    if (auto s = Sync(spec, item); !s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status Syncer::RecordFailure(const ReplicableSpec& spec, const ClaimedItem& item,
                                   const absl::Status& s) {
  if (auto c = Connect(); !c.ok()) return c;  // the row stays started; it is reclaimed later
  SyncFailure failure{.error = std::string(s.message()),
                      .missing_on_primary = s.code() == absl::StatusCode::kNotFound,
                      .verification_failed = s.code() == absl::StatusCode::kDataLoss};
  if (s.code() == absl::StatusCode::kUnavailable && ctx_.primary_unreachable) {
    ctx_.primary_unreachable->store(true);
  }
  if (transport::IsNotReached(s)) {
    // No server was reached: nothing is known of the item, so it keeps its
    // retry count and is due again shortly, once the scheduler's probe of
    // the primary (which now gates claims) finds it answering.
    failure.counted = false;
    failure.delay_seconds = kNotReachedRetrySeconds;
  } else {
    failure.delay_seconds =
        RetryDelaySeconds(item.retry_count, failure.missing_on_primary, Jitter30);
  }
  log::Debug(
      "sync failed",
      {{"replicable", spec.name}, {"id", item.model_id}, {"error", std::string(s.message())}});
  absl::Status recorded = FailSync(*tracking_, spec, item, failure);
  if (!recorded.ok()) {
    standby_.reset();
    tracking_.reset();
  }
  return recorded;
}

std::map<int64_t, std::string> Syncer::PrimaryChecksumsNow(const ReplicableSpec& spec,
                                                           std::vector<ClaimedItem> items) {
  std::map<int64_t, std::string> out;
  if (items.empty() || !Connect().ok()) return out;
  if (!ResolvePaths(*standby_, spec, items).ok()) {
    standby_.reset();
    return out;
  }
  for (const auto& item : items) {
    if (item.primary_checksum) out[item.model_id] = *item.primary_checksum;
  }
  return out;
}

void Syncer::Recorded(int verification) const {
  if (verification == kVerificationDisabled && ctx_.on_unverified) ctx_.on_unverified();
}

absl::Status Syncer::Lookup(const ReplicableSpec& spec, const ClaimedItem& item, Target* target) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  std::optional<std::string> rel = item.path;
  target->primary_checksum = item.primary_checksum;
  if (!item.looked_up) {
    std::vector<ClaimedItem> one = {item};
    if (auto s = ResolvePaths(*standby_, spec, one); !s.ok()) {
      standby_.reset();
      return absl::Status(s.code(), absl::StrCat("look up ", what, ": ", s.message()));
    }
    rel = one[0].path;
    target->primary_checksum = one[0].primary_checksum;
  }
  if (!rel) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": no such row in ", spec.model_table, " (or its path is NULL)"));
  }
  auto local = ItemLocation(spec, *ctx_.blobs, ctx_.repository_root, *rel);
  if (!local.ok())
    return absl::PermissionDeniedError(absl::StrCat(what, ": ", local.status().message()));
  target->path = *rel;
  target->local = *local;
  return absl::OkStatus();
}

absl::Status SweepTempFiles(db::Connection& tracking, const std::string& dir,
                            double dead_after_seconds) {
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
    if (!alive.contains(owner)) fs::remove_all(entry.path(), ec);
  }
  return absl::OkStatus();
}

}  // namespace georep::framework
