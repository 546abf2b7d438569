#include "framework/registry/dataloss.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"

namespace georep::framework {

absl::StatusOr<EventBacklog> UnappliedEvents(db::Connection& standby, db::Connection& tracking) {
  EventBacklog b;
  auto cursor =
      tracking.Exec("SELECT last_event_id, fallbacks FROM georep.event_cursor WHERE name = 'main'");
  if (!cursor.ok()) return cursor.status();
  auto last = standby.Exec("SELECT coalesce(max(id), 0) FROM georep.geo_event_log");
  if (!last.ok()) return last.status();
  b.last_event = last->GetInt64(0, 0);
  // No position yet: this site's cursor has never run, so it has applied no
  // event in the log (cursor 0). When it starts it takes the newest event as
  // its position and backfill covers what came before; until then every
  // event is owed.
  b.started = cursor->rows() > 0;
  b.cursor = b.started ? cursor->GetInt64(0, 0) : 0;
  b.fallbacks = b.started ? cursor->GetInt64(0, 1) : 0;
  auto mark = standby.Exec("SELECT below FROM georep.event_log_pruned");
  if (!mark.ok()) return mark.status();
  b.pruned_below = mark->rows() > 0 ? mark->GetInt64(0, 0) : 0;
  auto gaps = tracking.Exec("SELECT first_id, last_id FROM georep.event_gaps");
  if (!gaps.ok()) return gaps.status();
  std::vector<int64_t> lo, hi;
  for (int i = 0; i < gaps->rows(); ++i) {
    lo.push_back(gaps->GetInt64(i, 0));
    hi.push_back(gaps->GetInt64(i, 1));
  }
  auto after = standby.Exec(
      "SELECT (SELECT count(*) FROM georep.geo_event_log WHERE id > $1) + "
      "(SELECT count(*) FROM georep.geo_event_log l JOIN unnest($2::bigint[], $3::bigint[]) "
      "AS g(lo, hi) ON l.id BETWEEN g.lo AND g.hi), "
      "coalesce((SELECT greatest(0, extract(epoch FROM now() - created_at))::float8 "
      "FROM georep.geo_event_log WHERE id > $1 ORDER BY id LIMIT 1), 0)",
      {absl::StrCat(b.cursor), db::BigintArray(lo), db::BigintArray(hi)});
  if (!after.ok()) return after.status();
  b.not_applied = after->GetInt64(0, 0);
  b.oldest_unapplied_seconds = after->GetDouble(0, 1);
  if (b.started) {
    b.oldest_needed = b.cursor + 1;
    for (int64_t first : lo) b.oldest_needed = std::min(b.oldest_needed, first);
    b.needs_pruned_events = b.oldest_needed < b.pruned_below;
  }
  return b;
}

absl::StatusOr<EventLogSpan> ReadEventLogSpan(db::Connection& main) {
  auto r = main.Exec(
      "SELECT coalesce((SELECT id FROM georep.geo_event_log ORDER BY id LIMIT 1), 0), "
      "coalesce((SELECT id FROM georep.geo_event_log ORDER BY id DESC LIMIT 1), 0)");
  if (!r.ok()) return r.status();
  EventLogSpan span{r->GetInt64(0, 0), r->GetInt64(0, 1)};
  auto mark = main.Exec(
      "SELECT below, events_pruned, extract(epoch FROM now() - pruned_at)::float8 "
      "FROM georep.event_log_pruned");
  if (!mark.ok()) return mark.status();
  if (mark->rows() > 0) {
    span.pruned_below = mark->GetInt64(0, 0);
    span.events_pruned = mark->GetInt64(0, 1);
    span.pruned_seconds_ago = mark->GetDouble(0, 2);
  }
  return span;
}

absl::StatusOr<ReplicableLoss> UnverifiedItems(db::Connection& standby, db::Connection& tracking,
                                               const ReplicableSpec& spec,
                                               const SelectiveSync& sel) {
  ReplicableLoss loss;
  loss.name = spec.name;
  auto exists = standby.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return loss;  // no such table on this site: nothing to lose
  constexpr int kChunk = 50000;
  int64_t after = 0;
  while (true) {
    auto model = standby.Exec(
        SpecSql(spec, absl::StrCat("SELECT m.$ID, coalesce(", PathSql(spec, "m"), ", ''), ",
                                   ScopeSql(spec, sel, "m"),
                                   " FROM $MODEL m WHERE m.$ID > $1 ORDER BY 1 LIMIT $2")),
        {absl::StrCat(after), absl::StrCat(kChunk)});
    if (!model.ok()) return model.status();
    if (model->rows() == 0) break;
    int64_t first = model->GetInt64(0, 0);
    int64_t last = model->GetInt64(model->rows() - 1, 0);
    auto rows = RegistryStates(tracking, spec, first, last);
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < model->rows(); ++i) {
      int64_t id = model->GetInt64(i, 0);
      if (!model->GetBool(i, 2)) {
        ++loss.not_held;
        continue;
      }
      ++loss.items;
      auto it = rows->find(id);
      std::string reason;
      if (it == rows->end()) {
        reason = "no registry row";
      } else if (it->second.state != static_cast<int>(SyncState::kSynced)) {
        reason = SyncStateName(it->second.state);
        if (!it->second.failure.empty()) absl::StrAppend(&reason, ": ", it->second.failure);
      } else if (it->second.verification_state != kVerificationSucceeded) {
        reason = absl::StrCat("synced, ", VerificationStateName(it->second.verification_state));
      }
      if (reason.empty()) continue;
      MissingItem item{
          id, std::string(model->Get(i, 1)), reason,
          it != rows->end() && it->second.state == static_cast<int>(SyncState::kSynced)};
      // Recorded lost in a failover: no site can fetch it; the fleet's loss.
      if (it != rows->end() && it->second.state == static_cast<int>(SyncState::kLost)) {
        loss.lost.push_back(std::move(item));
      } else {
        loss.missing.push_back(std::move(item));
      }
    }
    after = last;
  }
  return loss;
}

}  // namespace georep::framework
