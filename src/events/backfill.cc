#include "events/backfill.h"

#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/lease.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/loop.h"

namespace georep::events {
namespace {

constexpr char kLease[] = "backfill";

std::vector<int64_t> Ids(const db::Result& r) {
  std::vector<int64_t> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.GetInt64(i, 0));
  return out;
}

}  // namespace

Backfill::Backfill(BackfillOptions options, std::vector<ReplicableSpec> specs,
                   std::vector<ReplicableSpec> disabled)
    : opt_(std::move(options)), specs_(std::move(specs)), disabled_(std::move(disabled)) {}

absl::Status Backfill::Connect() {
  if (auto s = db::EnsureOpen(standby_, opt_.standby_conninfo); !s.ok()) return s;
  if (auto s = db::EnsureOpen(tracking_, opt_.tracking_conninfo); !s.ok()) return s;
  return absl::OkStatus();
}

void Backfill::Run(const StopSignal& stop) {
  LoopOptions loop{"backfill", 1.0, [this] {
                     standby_.reset();
                     tracking_.reset();
                   }};
  double next_pass = 0;         // monotonic time of the next full pass
  int64_t seen_fallbacks = -1;  // the log cursor's fallbacks last looked at
  RunLoop(loop, stop, [&]() -> absl::StatusOr<double> {
    if (auto s = Connect(); !s.ok()) return s;
    // The lease outlives a step comfortably; a dead holder frees it in 30 s.
    auto held = db::TakeLease(*tracking_, kLease, opt_.holder, 30);
    if (!held.ok()) return held.status();
    if (!*held) return 1.0;
    // A log cursor that fell back past pruned events (events/log_cursor.h),
    // in this daemon or another, wants a pass now, not at the next interval.
    auto fallbacks = tracking_->Exec(
        "SELECT coalesce(max(fallbacks), 0) FROM georep.event_cursor WHERE name = 'main'");
    if (!fallbacks.ok()) return fallbacks.status();
    int64_t now_fallbacks = fallbacks->GetInt64(0, 0);
    bool asked = seen_fallbacks >= 0 && now_fallbacks > seen_fallbacks;
    seen_fallbacks = now_fallbacks;
    double now = MonotonicSeconds();
    if (!asked && now < next_pass) return std::min(1.0, next_pass - now);
    auto stats = Pass(5.0);
    if (!stats.ok()) return stats.status();
    if (stats->created || stats->removed) {
      log::Info("backfill", {{"created", stats->created}, {"removed", stats->removed}});
    }
    if (!stats->pass_complete) return 0.0;
    next_pass = MonotonicSeconds() + opt_.interval_seconds;
    return std::min(1.0, opt_.interval_seconds);
  });
  if (tracking_) (void)db::ReleaseLease(*tracking_, kLease, opt_.holder);
}

absl::StatusOr<BackfillStats> Backfill::Pass(double budget_seconds) {
  if (auto s = Connect(); !s.ok()) return s;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(budget_seconds);
  BackfillStats total;
  // The replicables to walk, then the disabled ones to clear.
  const size_t walked = specs_.size();
  std::vector<const ReplicableSpec*> all;
  for (const auto& s : specs_) all.push_back(&s);
  for (const auto& s : disabled_) all.push_back(&s);
  std::vector<bool> done(all.size(), false);
  size_t remaining = all.size();
  while (remaining > 0 && std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < all.size(); ++i) {
      if (done[i]) continue;
      bool at_end = false;
      auto st = i < walked ? Step(*all[i], &at_end) : Clear(*all[i], &at_end);
      if (!st.ok()) return st.status();
      total.created += st->created;
      total.removed += st->removed;
      if (at_end) {
        done[i] = true;
        --remaining;
      }
    }
  }
  total.pass_complete = remaining == 0;
  return total;
}

absl::StatusOr<BackfillStats> Backfill::Clear(const ReplicableSpec& spec, bool* at_end) {
  BackfillStats stats;
  auto rows =
      tracking_->Exec(framework::SpecSql(spec, "SELECT model_id FROM $REG ORDER BY 1 LIMIT $1"),
                      {absl::StrCat(opt_.batch)});
  if (!rows.ok()) return rows.status();
  std::vector<int64_t> ids = Ids(*rows);
  *at_end = static_cast<int>(ids.size()) < opt_.batch;
  if (ids.empty()) return stats;
  auto removed = framework::RemoveRows(*tracking_, spec, ids);
  if (!removed.ok()) return removed.status();
  stats.removed = removed->count;
  for (const auto& path : removed->local_paths) {
    framework::RemoveLocalCopy(spec, *opt_.blobs, opt_.repository_root, path);
  }
  return stats;
}

absl::StatusOr<BackfillStats> Backfill::Step(const ReplicableSpec& spec, bool* at_end) {
  BackfillStats stats;
  auto exists = standby_->Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) {
    *at_end = true;  // the application has no such table on this site
    return stats;
  }
  // A new scope (the selection changed) starts the pass over: rows below
  // the saved position were judged under the old one.
  const std::string scope = framework::ScopeSql(spec, opt_.selective_sync, "m");
  auto state = tracking_->Exec(
      "INSERT INTO georep.backfill_state AS b (replicable, scope) VALUES ($1, $2) "
      "ON CONFLICT (replicable) DO UPDATE SET scope = EXCLUDED.scope, "
      "next_id = CASE WHEN b.scope = EXCLUDED.scope THEN b.next_id ELSE 0 END RETURNING next_id",
      {spec.name, scope});
  if (!state.ok()) return state.status();
  int64_t lo = state->GetInt64(0, 0);

  auto model = standby_->Exec(
      framework::SpecSql(spec, absl::StrCat("SELECT m.$ID FROM $MODEL m WHERE m.$ID >= $1 AND ",
                                            scope, " ORDER BY 1 LIMIT $2")),
      {absl::StrCat(lo), absl::StrCat(opt_.batch)});
  if (!model.ok()) return model.status();
  std::vector<int64_t> ids = Ids(*model);
  *at_end = static_cast<int>(ids.size()) < opt_.batch;
  // This step covers [lo, hi]; at the end of the table, everything above lo.
  std::optional<int64_t> hi;
  if (!*at_end) hi = ids.back();
  auto created = framework::InsertMissing(*tracking_, spec, ids);
  if (!created.ok()) return created.status();
  stats.created = *created;
  auto maybe = framework::RowsNotIn(*tracking_, spec, lo, hi, ids);
  if (!maybe.ok()) return maybe.status();
  if (!maybe->empty()) {
    auto still = standby_->Exec(
        framework::SpecSql(
            spec, absl::StrCat("SELECT m.$ID FROM $MODEL m WHERE m.$ID = ANY($1::bigint[]) "
                               "AND ",
                               scope)),
        {db::BigintArray(*maybe)});
    if (!still.ok()) return still.status();
    std::vector<int64_t> alive_ids = Ids(*still);
    std::set<int64_t> alive(alive_ids.begin(), alive_ids.end());
    std::vector<int64_t> orphans;
    for (int64_t id : *maybe) {
      if (!alive.contains(id)) orphans.push_back(id);
    }
    auto removed = framework::RemoveRows(*tracking_, spec, orphans);
    if (!removed.ok()) return removed.status();
    stats.removed = removed->count;
    for (const auto& path : removed->local_paths) {
      framework::RemoveLocalCopy(spec, *opt_.blobs, opt_.repository_root, path);
    }
  }
  auto saved =
      tracking_->Exec(absl::StrCat("UPDATE georep.backfill_state SET next_id = $2",
                                   *at_end ? ", passes = passes + 1, last_pass_at = now()" : "",
                                   " WHERE replicable = $1"),
                      {spec.name, absl::StrCat(*at_end ? 0 : ids.back() + 1)});
  if (!saved.ok()) return saved.status();
  return stats;
}

}  // namespace georep::events
