#include "events/prune.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "util/logging.h"
#include "util/loop.h"

namespace georep::events {

absl::StatusOr<PruneHorizon> ReadPruneHorizon(db::Connection& main, double hold_seconds) {
  auto r = main.Exec(
      "SELECT n.name, n.enabled, "
      "coalesce(extract(epoch FROM now() - r.reported_at)::float8, -1), "
      // A whole number that fits, else none (a report is a secondary's
      // word: one odd value must not stop pruning for the fleet).
      "coalesce(CASE WHEN r.report->'cursor'->>'oldest_needed_event_id' ~ '^[0-9]{1,18}$' "
      "AND jsonb_typeof(r.report->'cursor'->'oldest_needed_event_id') = 'number' "
      "THEN (r.report->'cursor'->>'oldest_needed_event_id')::bigint END, 0), "
      "extract(epoch FROM now() - n.created_at)::float8 "
      "FROM georep.geo_nodes n LEFT JOIN georep.site_reports r ON r.site_id = n.id "
      "WHERE NOT n.is_primary ORDER BY n.name");
  if (!r.ok()) return r.status();
  // With no secondary holding it, the whole log (what commits later is
  // above, or invisible to the delete).
  auto next = main.Exec("SELECT coalesce(max(id), 0) + 1 FROM georep.geo_event_log");
  if (!next.ok()) return next.status();
  PruneHorizon h;
  h.below = next->GetInt64(0, 0);
  for (int i = 0; i < r->rows(); ++i) {
    LogHold s{.site = std::string(r->Get(i, 0)),
              .oldest_needed = r->GetInt64(i, 3),
              .report_age = r->GetDouble(i, 2)};
    if (!r->GetBool(i, 1)) {
      s.why = "disabled";
    } else if (s.report_age < 0 && r->GetDouble(i, 4) <= hold_seconds) {
      // Added lately and not reporting yet: what it needs is not known, so
      // it keeps the whole log until it says, or the hold runs out.
      s.holds = true;
      h.below = 0;
    } else if (s.report_age < 0) {
      s.why = absl::StrFormat("no status report in the %.0f s since it was added (hold %.0f s)",
                              r->GetDouble(i, 4), hold_seconds);
    } else if (s.report_age > hold_seconds) {
      s.why =
          absl::StrFormat("no status report for %.0f s (hold %.0f s)", s.report_age, hold_seconds);
    } else if (s.oldest_needed <= 0) {
      s.why = "its log cursor has not started";
    } else {
      s.holds = true;
      h.below = std::min(h.below, s.oldest_needed);
    }
    h.sites.push_back(std::move(s));
  }
  return h;
}

absl::StatusOr<int64_t> PruneBatch(db::Connection& main, int64_t below, int batch) {
  int64_t deleted = 0;
  absl::Status s = db::InTransaction(main, [&]() -> absl::Status {
    auto lock = main.Exec("SELECT pg_try_advisory_xact_lock(hashtext('georep.event_log_prune'))");
    if (!lock.ok()) return lock.status();
    if (!lock->GetBool(0, 0)) return absl::OkStatus();
    // The next `batch` ids of the log by range, so each batch reads only
    // its own rows (not the whole table, nor what earlier batches left
    // dead), then their events by id.
    auto from =
        main.Exec("SELECT min(id) FROM georep.geo_event_log WHERE id < $1", {absl::StrCat(below)});
    if (!from.ok()) return from.status();
    if (from->IsNull(0, 0)) return absl::OkStatus();
    int64_t first = from->GetInt64(0, 0);
    int64_t end = std::min(below, first + batch);
    auto log_rows = main.Exec(
        "DELETE FROM georep.geo_event_log WHERE id >= $1 AND id < $2 RETURNING geo_event_id",
        {absl::StrCat(first), absl::StrCat(end)});
    if (!log_rows.ok()) return log_rows.status();
    std::vector<int64_t> ids;
    for (int i = 0; i < log_rows->rows(); ++i) ids.push_back(log_rows->GetInt64(i, 0));
    auto d = main.Exec("DELETE FROM georep.geo_events WHERE id = ANY($1::bigint[])",
                       {db::BigintArray(ids)});
    if (!d.ok()) return d.status();
    deleted = log_rows->rows();
    if (deleted == 0) return absl::OkStatus();
    auto mark = main.Exec(
        "INSERT INTO georep.event_log_pruned AS p (below, events_pruned) VALUES ($1, $2) "
        "ON CONFLICT (only_row) DO UPDATE SET below = greatest(p.below, EXCLUDED.below), "
        "events_pruned = p.events_pruned + EXCLUDED.events_pruned, pruned_at = now()",
        {absl::StrCat(below), absl::StrCat(deleted)});
    return mark.status();
  });
  if (!s.ok()) return s;
  return deleted;
}

absl::StatusOr<int64_t> EventLogPruner::Round(const StopSignal& stop) {
  if (auto s = db::EnsureOpen(main_, opt_.main_conninfo); !s.ok()) return s;
  auto horizon = ReadPruneHorizon(*main_, opt_.hold_seconds);
  if (!horizon.ok()) return horizon.status();
  std::vector<std::string> released;
  for (const LogHold& s : horizon->sites) {
    if (!s.holds) released.push_back(absl::StrCat(s.site, " (", s.why, ")"));
  }
  std::string holds = absl::StrJoin(released, ", ");
  if (holds != last_holds_) {
    if (!released.empty()) {
      log::Warn(
          "event log no longer kept for these secondaries: when they return, their log "
          "cursor falls back to a backfill",
          {{"sites", holds}});
    }
    last_holds_ = holds;
  }
  int64_t total = 0;
  while (!stop.stopped()) {
    auto n = PruneBatch(*main_, horizon->below, opt_.batch);
    if (!n.ok()) return n.status();
    total += *n;
    if (*n == 0) break;
  }
  if (total > 0) {
    log::Info("event log pruned", {{"events", total}, {"below", horizon->below}});
  }
  return total;
}

void EventLogPruner::Run(const StopSignal& stop) {
  LoopOptions loop{"event log pruner", 5.0, [this] { main_.reset(); }};
  RunLoop(loop, stop, [&]() -> absl::StatusOr<double> {
    auto n = Round(stop);
    if (!n.ok()) return n.status();
    return opt_.interval_seconds;
  });
}

}  // namespace georep::events
