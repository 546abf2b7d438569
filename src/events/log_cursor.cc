#include "events/log_cursor.h"

#include <unistd.h>

#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "db/lease.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"
#include "framework/sync/strategy.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/loop.h"

namespace georep::events {
namespace {

using framework::EventKind;

struct Event {
  int64_t id;
  std::string replicable;
  std::optional<EventKind> kind;  // nullopt: a name publish_event does not write
  int64_t model_id;
  std::string path;      // deleted: where the file was
  std::string old_path;  // updated: where the file was before a move
  int64_t at_us;         // when it was written on the primary, µs since the epoch
};

absl::StatusOr<std::vector<Event>> ReadEvents(db::Connection& standby, absl::string_view where,
                                              const db::Params& params) {
  auto r = standby.Exec(
      absl::StrCat("SELECT l.id, e.replicable_name, e.event_name, e.model_id, "
                   "coalesce(e.payload->>'path', ''), coalesce(e.payload->>'old_path', ''), "
                   "(extract(epoch FROM l.created_at) * 1000000)::bigint "
                   "FROM georep.geo_event_log l JOIN georep.geo_events e ON e.id = l.geo_event_id ",
                   where),
      params);
  if (!r.ok()) return r.status();
  std::vector<Event> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->GetInt64(i, 0), std::string(r->Get(i, 1)),
                   framework::ParseEventKind(r->Get(i, 2)), r->GetInt64(i, 3),
                   std::string(r->Get(i, 4)), std::string(r->Get(i, 5)), r->GetInt64(i, 6)});
  }
  return out;
}

// A run of event ids skipped by the cursor that may still commit.
struct GapRange {
  int64_t first;
  int64_t last;
  int64_t first_seen_us;  // when the cursor first skipped it, µs since the epoch
};

// What is left of `gaps` (sorted, disjoint) once the sorted, unique ids in
// `found` have turned up: the first ids of the ranges that changed, and the
// pieces that replace them (keeping their first_seen time).
void SplitGaps(const std::vector<GapRange>& gaps, const std::vector<int64_t>& found,
               std::vector<int64_t>* touched, std::vector<GapRange>* pieces) {
  size_t k = 0;
  for (const GapRange& g : gaps) {
    while (k < found.size() && found[k] < g.first) ++k;
    size_t begin = k;
    while (k < found.size() && found[k] <= g.last) ++k;
    if (begin == k) continue;
    touched->push_back(g.first);
    int64_t from = g.first;
    for (size_t j = begin; j < k; ++j) {
      if (found[j] > from) pieces->push_back({from, found[j] - 1, g.first_seen_us});
      from = found[j] + 1;
    }
    if (from <= g.last) pieces->push_back({from, g.last, g.first_seen_us});
  }
}

// What becomes of georep.event_gaps after a batch.
struct GapChanges {
  // Ids skipped inside this batch may still commit: one range per run,
  // however long (new_first[i] to new_last[i]).
  std::vector<int64_t> new_first, new_last;
  // The ranges late commits turned up in (by first id), and what is left
  // of them.
  std::vector<int64_t> touched;
  std::vector<GapRange> pieces;
};

GapChanges ChangeGaps(int64_t last, const std::vector<GapRange>& gaps,
                      const std::vector<Event>& fresh, const std::vector<Event>& late) {
  GapChanges changes;
  int64_t expect = last + 1;
  for (const Event& e : fresh) {
    if (e.id > expect) {
      changes.new_first.push_back(expect);
      changes.new_last.push_back(e.id - 1);
    }
    expect = e.id + 1;
  }
  std::vector<int64_t> resolved;
  for (const Event& e : late) resolved.push_back(e.id);
  SplitGaps(gaps, resolved, &changes.touched, &changes.pieces);
  return changes;
}

// The last event per item decides: created (keep a synced row), updated
// (sync again), deleted (drop the row and the file).
struct Action {
  std::optional<EventKind> kind;  // set by the item's first event
  std::string path;
  int64_t at_us = 0;  // the deciding event's time
};
// By replicable name, then by model id.
using Actions = std::map<std::string, std::map<int64_t, Action>>;
// Files to remove, each with the replicable it belongs to.
using Files = std::vector<std::pair<const ReplicableSpec*, std::string>>;

// The actions of `late`, then `fresh`, on the replicables of `specs`; the
// moved-from paths to remove go to `stale_files`.
Actions DecideActions(const std::map<std::string, ReplicableSpec>& specs,
                      const std::vector<Event>& late, const std::vector<Event>& fresh,
                      Files& stale_files) {
  Actions actions;
  std::vector<const Event*> all;
  for (const Event& e : late) all.push_back(&e);
  for (const Event& e : fresh) all.push_back(&e);
  for (const Event* e : all) {
    auto spec = specs.find(e->replicable);
    if (spec == specs.end()) continue;  // a replicable this site does not replicate
    if (!e->kind) {
      // Not a name publish_event writes (a row put in the log by hand):
      // it decides nothing, and above all removes nothing.
      log::Warn("event of an unknown kind skipped",
                {{"replicable", e->replicable}, {"id", e->model_id}});
      continue;
    }
    auto& slot = actions[e->replicable][e->model_id];
    if (e->kind == EventKind::kCreated && slot.kind == EventKind::kDeleted) {
      slot = {EventKind::kUpdated, "", e->at_us};
    } else {
      slot = {e->kind, e->path, e->at_us};
    }
    // A moved blob is fetched again at its new path; a moved repository is
    // moved by its next sync (framework/sync/repository/repository_sync.h).
    if (e->kind == EventKind::kUpdated && !e->old_path.empty() &&
        !framework::DescriptorOf(spec->second).sync_moves_copy)
      stale_files.push_back({&spec->second, e->old_path});
  }
  return actions;
}

// Applies the actions on one replicable's items to its registry; the files
// of removed rows go to `doomed_files`.
absl::Status ApplyActions(db::Connection& tracking, const CursorOptions& opt,
                          const ReplicableSpec& spec, const std::map<int64_t, Action>& items,
                          Files& doomed_files) {
  std::vector<int64_t> create, create_us, update, update_us, remove;
  for (const auto& [id, a] : items) {
    if (a.kind == EventKind::kCreated) {
      create.push_back(id);
      create_us.push_back(a.at_us);
    } else if (a.kind == EventKind::kUpdated) {
      update.push_back(id);
      update_us.push_back(a.at_us);
    } else {
      remove.push_back(id);
    }
  }
  if (auto r = framework::ApplyCreated(tracking, spec, create, create_us); !r.ok()) return r;
  if (auto r = framework::ApplyUpdated(tracking, spec, update, update_us); !r.ok()) return r;
  if (!remove.empty()) {
    auto removed = framework::RemoveRows(tracking, spec, remove);
    if (!removed.ok()) return removed.status();
    std::set<std::string> paths(removed->local_paths.begin(), removed->local_paths.end());
    for (int64_t id : remove) {
      const std::string& p = items.at(id).path;
      if (!p.empty()) {
        auto full = framework::ItemLocation(spec, *opt.blobs, opt.repository_root, p);
        if (full.ok()) paths.insert(*full);
      }
    }
    for (const auto& p : paths) doomed_files.push_back({&spec, p});
  }
  return absl::OkStatus();
}

// Writes `changes` to georep.event_gaps and drops the ranges awaited past
// the gap timeout.
absl::Status SaveGaps(db::Connection& tracking, const GapChanges& changes,
                      double gap_timeout_seconds) {
  if (!changes.touched.empty()) {
    auto r = tracking.Exec("DELETE FROM georep.event_gaps WHERE first_id = ANY($1::bigint[])",
                           {db::BigintArray(changes.touched)});
    if (!r.ok()) return r.status();
  }
  if (!changes.pieces.empty()) {
    std::vector<int64_t> first, last_ids, seen;
    for (const GapRange& p : changes.pieces) {
      first.push_back(p.first);
      last_ids.push_back(p.last);
      seen.push_back(p.first_seen_us);
    }
    auto r = tracking.Exec(
        "INSERT INTO georep.event_gaps (first_id, last_id, first_seen_at) "
        "SELECT f, l, to_timestamp(s / 1000000.0) "
        "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS p(f, l, s)",
        {db::BigintArray(first), db::BigintArray(last_ids), db::BigintArray(seen)});
    if (!r.ok()) return r.status();
  }
  if (!changes.new_first.empty()) {
    auto r = tracking.Exec(
        "INSERT INTO georep.event_gaps (first_id, last_id) "
        "SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
        {db::BigintArray(changes.new_first), db::BigintArray(changes.new_last)});
    if (!r.ok()) return r.status();
  }
  auto expired = tracking.Exec(
      "DELETE FROM georep.event_gaps WHERE first_seen_at < now() - make_interval(secs => $1)",
      {absl::StrCat(gap_timeout_seconds)});
  if (!expired.ok()) return expired.status();
  return absl::OkStatus();
}

// Events this site needed were pruned (it was away past the hold, or
// disabled): skip to the watermark, and let the backfill (created,
// deleted) and the verifier's comparison of every copy with the
// primary's checksum (updated) find what they said.
absl::Status FallBack(db::Connection& tracking, int64_t pruned_below) {
  const std::string below = absl::StrCat(pruned_below);
  for (const char* sql :
       {"DELETE FROM georep.event_gaps WHERE last_id < $1",
        "UPDATE georep.event_gaps SET first_id = $1 WHERE first_id < $1",
        "UPDATE georep.event_cursor SET last_event_id = greatest(last_event_id, $1 - 1), "
        "fallbacks = fallbacks + 1, last_fallback_at = now(), updated_at = now() "
        "WHERE name = 'main'"}) {
    auto r = tracking.Exec(sql, {below});
    if (!r.ok()) return r.status();
  }
  auto r = tracking.Exec("UPDATE georep.backfill_state SET next_id = 0");
  if (!r.ok()) return r.status();
  return absl::OkStatus();
}

// After commit: the rows are gone, so no sync can put these files back.
void RemoveFiles(const CursorOptions& opt, const Files& doomed_files, const Files& stale_files) {
  for (const auto& [spec, path] : doomed_files) {
    framework::RemoveLocalCopy(*spec, *opt.blobs, opt.repository_root, path);
  }
  for (const auto& [spec, rel] : stale_files) {
    auto old = framework::ItemLocation(*spec, *opt.blobs, opt.repository_root, rel);
    if (!old.ok()) {
      log::Warn("moved copy not removed",
                {{"path", rel}, {"error", std::string(old.status().message())}});
      continue;
    }
    framework::RemoveLocalCopy(*spec, *opt.blobs, opt.repository_root, *old);
  }
}

}  // namespace

LogCursor::LogCursor(CursorOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)) {
  for (auto& s : specs) specs_.emplace(s.name, std::move(s));
}

absl::Status LogCursor::Connect() {
  if (auto s = db::EnsureOpen(standby_, opt_.standby_conninfo); !s.ok()) return s;
  if (auto s = db::EnsureOpen(tracking_, opt_.tracking_conninfo); !s.ok()) return s;
  return absl::OkStatus();
}

void LogCursor::Run(const StopSignal& stop) {
  bool was_holder = false;
  LoopOptions loop{"log cursor", 1.0, [this] {
                     standby_.reset();
                     tracking_.reset();
                     holds_lease_ = false;
                   }};
  RunLoop(loop, stop, [&]() -> absl::StatusOr<double> {
    if (NothingNew()) return opt_.poll_seconds;
    auto n = Cycle();
    if (holds_lease_ != was_holder) {
      log::Info(holds_lease_ ? "log cursor lease taken" : "log cursor lease lost",
                {{"holder", opt_.holder}});
      was_holder = holds_lease_;
    }
    if (!n.ok()) return n.status();
    // A full batch means more is waiting: go again at once.
    if (*n >= opt_.batch_size) return 0.0;
    return holds_lease_ ? opt_.poll_seconds : std::min(opt_.lease_seconds / 4, 1.0);
  });
  // Hand over at once rather than after the time to live.
  if (holds_lease_ && tracking_) (void)db::ReleaseLease(*tracking_, kCursorLease, opt_.holder);
}

absl::StatusOr<bool> LogCursor::TakeLease() {
  lease_taken_ = MonotonicSeconds();
  return db::TakeLease(*tracking_, kCursorLease, opt_.holder, opt_.lease_seconds);
}

bool LogCursor::NothingNew() {
  if (!holds_lease_ || !idle_ || !standby_) return false;
  if (MonotonicSeconds() - lease_taken_ >= opt_.lease_seconds / 3) return false;
  auto newest = standby_->Exec("SELECT coalesce(max(id), 0) FROM georep.geo_event_log");
  return newest.ok() && newest->GetInt64(0, 0) <= idle_at_;
}

absl::StatusOr<int> LogCursor::Cycle() {
  idle_ = false;
  if (auto s = Connect(); !s.ok()) return s;
  auto held = TakeLease();
  if (!held.ok()) return held.status();
  holds_lease_ = *held;
  if (!holds_lease_) return -1;
  return ApplyBatch();
}

absl::StatusOr<std::set<int64_t>> LogCursor::InScope(const ReplicableSpec& spec,
                                                     const std::vector<int64_t>& ids) {
  auto r = standby_->Exec(
      framework::SpecSql(spec, absl::StrCat("SELECT m.$ID FROM $MODEL m WHERE m.$ID = "
                                            "ANY($1::bigint[]) AND ",
                                            framework::ScopeSql(spec, opt_.selective_sync, "m"))),
      {db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  std::set<int64_t> out;
  for (int i = 0; i < r->rows(); ++i) out.insert(r->GetInt64(i, 0));
  return out;
}

// One batch of the log and what it does, as the steps of ApplyBatch find it.
struct LogCursor::Batch {
  int64_t last = 0;            // the cursor's position
  std::vector<GapRange> gaps;  // awaited, from georep.event_gaps
  std::vector<Event> fresh;    // after the position
  std::vector<Event> late;     // late commits inside the gaps
  int64_t pruned_below = 0;    // the primary's prune watermark
  int64_t oldest_needed = 0;   // the oldest event id still awaited
  bool fall_back = false;      // events needed were pruned
  GapChanges gap_changes;
  Actions actions;
  Files stale_files;   // moved-from paths
  Files doomed_files;  // the files of removed rows
};

absl::Status LogCursor::StartAtNewest() {
  auto newest = standby_->Exec("SELECT coalesce(max(id), 0) FROM georep.geo_event_log");
  if (!newest.ok()) return newest.status();
  auto ins = tracking_->Exec(
      "INSERT INTO georep.event_cursor (name, last_event_id) VALUES ('main', $1) ON CONFLICT DO "
      "NOTHING",
      {std::string(newest->Get(0, 0))});
  if (!ins.ok()) return ins.status();
  log::Info("log cursor starts at the newest event", {{"event_id", newest->GetInt64(0, 0)}});
  return absl::OkStatus();
}

absl::Status LogCursor::ReadBatch(Batch& batch) {
  const int64_t last = batch.last;
  auto gap_rows = tracking_->Exec(
      "SELECT first_id, last_id, (extract(epoch FROM first_seen_at) * 1000000)::bigint "
      "FROM georep.event_gaps ORDER BY first_id");
  if (!gap_rows.ok()) return gap_rows.status();
  std::vector<GapRange>& gaps = batch.gaps;
  std::vector<int64_t> gap_first, gap_last;
  for (int i = 0; i < gap_rows->rows(); ++i) {
    gaps.push_back({gap_rows->GetInt64(i, 0), gap_rows->GetInt64(i, 1), gap_rows->GetInt64(i, 2)});
    gap_first.push_back(gaps.back().first);
    gap_last.push_back(gaps.back().last);
  }

  auto fresh = ReadEvents(*standby_, "WHERE l.id > $1 ORDER BY l.id LIMIT $2",
                          {absl::StrCat(last), absl::StrCat(opt_.batch_size)});
  if (!fresh.ok()) return fresh.status();
  batch.fresh = std::move(*fresh);
  // Late commits inside the gaps, a batch at a time: what is not read now
  // stays in its range for the next cycle.
  if (!gaps.empty()) {
    auto found = ReadEvents(
        *standby_,
        "JOIN unnest($1::bigint[], $2::bigint[]) AS g(lo, hi) "
        "ON l.id BETWEEN g.lo AND g.hi ORDER BY l.id LIMIT $3",
        {db::BigintArray(gap_first), db::BigintArray(gap_last), absl::StrCat(opt_.batch_size)});
    if (!found.ok()) return found.status();
    batch.late = std::move(*found);
  }
  // Read after the events: a prune that commits in between makes this a
  // needless fallback, never a missed one.
  auto mark = standby_->Exec("SELECT below FROM georep.event_log_pruned");
  if (!mark.ok()) return mark.status();
  batch.pruned_below = mark->rows() > 0 ? mark->GetInt64(0, 0) : 0;
  batch.oldest_needed = last + 1;
  if (!gaps.empty()) batch.oldest_needed = std::min(batch.oldest_needed, gaps.front().first);
  batch.fall_back = batch.oldest_needed < batch.pruned_below;
  return absl::OkStatus();
}

// Selective sync: an item created outside the selection is skipped; one
// updated outside it moved out (or is about to be deleted) and goes.
absl::Status LogCursor::KeepInScope(Batch& batch) {
  for (auto& [name, items] : batch.actions) {
    const ReplicableSpec& spec = specs_.at(name);
    if (!framework::Scoped(spec, opt_.selective_sync)) continue;
    std::vector<int64_t> asked;
    for (const auto& [id, a] : items) {
      if (a.kind != EventKind::kDeleted) asked.push_back(id);
    }
    if (asked.empty()) continue;
    auto in = InScope(spec, asked);
    if (!in.ok()) return in.status();
    for (auto it = items.begin(); it != items.end();) {
      Action& a = it->second;
      if (a.kind == EventKind::kDeleted || in->contains(it->first)) {
        ++it;
      } else if (a.kind == EventKind::kCreated) {
        it = items.erase(it);
      } else {
        a = {EventKind::kDeleted, "", a.at_us};
        ++it;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LogCursor::Commit(Batch& batch) {
  auto fence = db::RenewLease(*tracking_, kCursorLease, opt_.holder, opt_.lease_seconds);
  if (!fence.ok()) return fence.status();
  if (!*fence) return absl::AbortedError("log cursor lease lost");
  for (const auto& [name, items] : batch.actions) {
    const ReplicableSpec& spec = specs_.at(name);
    if (auto s = ApplyActions(*tracking_, opt_, spec, items, batch.doomed_files); !s.ok()) return s;
  }
  if (auto s = SaveGaps(*tracking_, batch.gap_changes, opt_.gap_timeout_seconds); !s.ok()) return s;
  if (!batch.fresh.empty()) {
    auto r = tracking_->Exec(
        "UPDATE georep.event_cursor SET last_event_id = $1, updated_at = now() WHERE name = "
        "'main'",
        {absl::StrCat(batch.fresh.back().id)});
    if (!r.ok()) return r.status();
  }
  if (batch.fall_back) {
    if (auto s = FallBack(*tracking_, batch.pruned_below); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LogCursor::ApplyBatch() {
  auto pos = tracking_->Exec("SELECT last_event_id FROM georep.event_cursor WHERE name = 'main'");
  if (!pos.ok()) return pos.status();
  if (pos->rows() == 0) {
    if (auto s = StartAtNewest(); !s.ok()) return s;
    return 0;
  }
  Batch batch;
  batch.last = pos->GetInt64(0, 0);
  if (auto s = ReadBatch(batch); !s.ok()) return s;
  if (batch.fresh.empty() && batch.late.empty() && batch.gaps.empty() && !batch.fall_back) {
    idle_ = true;
    idle_at_ = batch.last;
    return 0;
  }

  batch.gap_changes = ChangeGaps(batch.last, batch.gaps, batch.fresh, batch.late);
  batch.actions = DecideActions(specs_, batch.late, batch.fresh, batch.stale_files);
  if (auto s = KeepInScope(batch); !s.ok()) return s;

  absl::Status s = db::InTransaction(*tracking_, [&] { return Commit(batch); });
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kAborted) {
      holds_lease_ = false;
      return -1;
    }
    return s;
  }
  if (batch.fall_back) {
    log::Warn(
        "events this site needed were pruned from the primary's log: the log cursor skips to "
        "what is left, a backfill pass and a comparison of every copy with the primary's "
        "checksums find what they said",
        {{"needed_from", batch.oldest_needed}, {"pruned_below", batch.pruned_below}});
  }
  if (!batch.actions.empty() && opt_.on_applied) opt_.on_applied();
  RemoveFiles(opt_, batch.doomed_files, batch.stale_files);
  return static_cast<int>(batch.fresh.size() + batch.late.size());
}

absl::StatusOr<bool> CursorStarted(db::Connection& tracking) {
  auto r = tracking.Exec("SELECT 1 FROM georep.event_cursor WHERE name = 'main'");
  if (!r.ok()) return r.status();
  return r->rows() > 0;
}

}  // namespace georep::events
