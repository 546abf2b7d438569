#include "framework/registry/registry_store.h"

#include <unistd.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/spec/spec.h"
#include "util/fs.h"

namespace georep::framework {
namespace {

// The steps of every registry table, in order: a table is at the highest
// version recorded for its replicable in georep.registry_migrations. A step
// added later is applied to every existing table the next time a daemon
// starts (EnsureRegistryTable); none is ever changed once released.
struct RegistryStep {
  int version;
  absl::string_view name;
  absl::string_view sql;  // SpecSql text
};

const std::vector<RegistryStep>& RegistrySteps() {
  static const std::vector<RegistryStep> steps = {{1, "registry table", R"sql(
CREATE TABLE $REG (
  model_id bigint PRIMARY KEY,
  state smallint NOT NULL DEFAULT $S_PENDING,
  retry_count integer NOT NULL DEFAULT 0,
  retry_at timestamptz,
  claim_id bigint,
  worker_id text,
  started_at timestamptz,
  last_synced_at timestamptz,
  last_sync_failure text,
  missing_on_primary boolean NOT NULL DEFAULT false,
  local_path text,
  file_size bigint,
  checksum text,
  verification_state smallint NOT NULL DEFAULT $V_PENDING,
  verified_at timestamptz,
  verification_failure text,
  verification_retry_count integer NOT NULL DEFAULT 0,
  verification_started_at timestamptz,
  verification_worker text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX $NAME_registry_pending ON $REG (model_id) WHERE state = $S_PENDING;
CREATE INDEX $NAME_registry_failed ON $REG (retry_at) WHERE state = $S_FAILED;
CREATE INDEX $NAME_registry_started ON $REG (worker_id) WHERE state = $S_STARTED;
CREATE INDEX $NAME_registry_to_verify ON $REG (model_id)
  WHERE state = $S_SYNCED AND verification_state IN ($V_PENDING, $V_DISABLED);
CREATE INDEX $NAME_registry_verified ON $REG (verified_at)
  WHERE state = $S_SYNCED AND verification_state = $V_SUCCEEDED;
CREATE INDEX $NAME_registry_verifying ON $REG (verification_worker) WHERE verification_worker IS NOT NULL;
ALTER TABLE $REG SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);
CREATE TRIGGER $NAME_registry_count_insert AFTER INSERT ON $REG REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_insert('$NAME', 'state');
CREATE TRIGGER $NAME_registry_count_update AFTER UPDATE ON $REG
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_update('$NAME', 'state');
CREATE TRIGGER $NAME_registry_count_delete AFTER DELETE ON $REG REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_delete('$NAME', 'state');
CREATE TRIGGER $NAME_registry_vcount_insert AFTER INSERT ON $REG REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_insert('$NAME:verification', 'verification_state');
CREATE TRIGGER $NAME_registry_vcount_update AFTER UPDATE ON $REG
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_update('$NAME:verification', 'verification_state');
CREATE TRIGGER $NAME_registry_vcount_delete AFTER DELETE ON $REG REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_delete('$NAME:verification', 'verification_state');
)sql"},
                                                  // The event's time on the primary, until the copy
                                                  // is verified (CollectLatencies).
                                                  {2, "event time", R"sql(
ALTER TABLE $REG ADD COLUMN IF NOT EXISTS event_at timestamptz;
CREATE INDEX IF NOT EXISTS $NAME_registry_event_at ON $REG (model_id) WHERE event_at IS NOT NULL;
)sql"}};
  return steps;
}

// The version of a table made before versions were recorded, by its columns.
absl::StatusOr<int> UnrecordedVersion(db::Connection& tracking, const ReplicableSpec& spec) {
  auto has = tracking.Exec(
      "SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'event_at' "
      "AND NOT attisdropped",
      {RegistryTable(spec)});
  if (!has.ok()) return has.status();
  return has->rows() > 0 ? 2 : 1;
}

}  // namespace

int LatestRegistryVersion() { return RegistrySteps().back().version; }

absl::Status EnsureRegistryTable(db::Connection& tracking, const ReplicableSpec& spec) {
  return db::InTransaction(tracking, [&]() -> absl::Status {
    if (auto r = tracking.Exec("SELECT pg_advisory_xact_lock(hashtext('georep.registry_ddl'))");
        !r.ok()) {
      return r.status();
    }
    auto recorded = tracking.Exec(
        "SELECT coalesce(max(version), 0) FROM georep.registry_migrations WHERE replicable = $1",
        {spec.name});
    if (!recorded.ok()) return recorded.status();
    int current = static_cast<int>(recorded->GetInt64(0, 0));
    if (current == 0) {
      auto exists = tracking.Exec("SELECT to_regclass($1) IS NOT NULL", {RegistryTable(spec)});
      if (!exists.ok()) return exists.status();
      if (exists->GetBool(0, 0)) {
        auto found = UnrecordedVersion(tracking, spec);
        if (!found.ok()) return found.status();
        current = *found;
        for (const RegistryStep& step : RegistrySteps()) {
          if (step.version > current) break;
          auto r = tracking.Exec(
              "INSERT INTO georep.registry_migrations (replicable, version, name) "
              "VALUES ($1, $2, $3)",
              {spec.name, absl::StrCat(step.version), std::string(step.name)});
          if (!r.ok()) return r.status();
        }
      }
    }
    if (current > LatestRegistryVersion()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the registry of \"", spec.name, "\" is at version ", current,
                       ", newer than this georep knows (", LatestRegistryVersion(),
                       "): a newer georep made it; run that version"));
    }
    for (const RegistryStep& step : RegistrySteps()) {
      if (step.version <= current) continue;
      if (auto st = tracking.ExecScript(SpecSql(spec, step.sql)); !st.ok()) {
        return absl::Status(
            st.code(), absl::StrCat("registry of \"", spec.name, "\", step ", step.version, " (",
                                    step.name, "): ", st.message()));
      }
      auto r = tracking.Exec(
          "INSERT INTO georep.registry_migrations (replicable, version, name) VALUES ($1, $2, $3)",
          {spec.name, absl::StrCat(step.version), std::string(step.name)});
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ClaimedItem>> ClaimBatch(db::Connection& tracking,
                                                    const ReplicableSpec& spec,
                                                    const std::string& worker_id, int limit) {
  std::vector<ClaimedItem> out;
  if (limit <= 0) return out;
  int64_t claim_id = static_cast<int64_t>(getpid()) << 32 ^ static_cast<int64_t>(random());
  auto claim = [&](absl::string_view pick, int n) -> absl::Status {
    auto r = tracking.Exec(
        SpecSql(spec,
                absl::StrCat(
                    "WITH c AS (", pick,
                    " LIMIT $1 FOR UPDATE SKIP LOCKED) "
                    "UPDATE $REG r SET state = $S_STARTED, claim_id = $2, worker_id = $3, "
                    "started_at = now() "
                    "FROM c WHERE r.model_id = c.model_id RETURNING r.model_id, r.retry_count, "
                    "r.local_path")),
        {absl::StrCat(n), absl::StrCat(claim_id), worker_id});
    if (!r.ok()) return r.status();
    for (int i = 0; i < r->rows(); ++i) {
      ClaimedItem item{r->GetInt64(i, 0), static_cast<int>(r->GetInt64(i, 1)), claim_id};
      if (!r->IsNull(i, 2)) item.local_path = std::string(r->Get(i, 2));
      out.push_back(std::move(item));
    }
    return absl::OkStatus();
  };
  int retries = std::max(1, limit / 2);
  if (auto s = claim("SELECT model_id FROM $REG WHERE state = $S_FAILED AND retry_at <= now() "
                     "ORDER BY retry_at",
                     retries);
      !s.ok()) {
    return s;
  }
  if (auto s = claim("SELECT model_id FROM $REG WHERE state = $S_PENDING",
                     limit - static_cast<int>(out.size()));
      !s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<bool> CompleteSync(db::Connection& tracking, const ReplicableSpec& spec,
                                  const ClaimedItem& item, const SyncResult& result,
                                  const std::function<absl::Status()>& install) {
  std::vector<Completion> one = {{&item, &result, &install}};
  if (auto s = CompleteSyncBatch(tracking, spec, one); !s.ok()) return s;
  if (!one[0].status.ok()) return one[0].status;
  return one[0].done;
}

absl::Status MakeInstallsDurable(const std::vector<std::string>& installed_paths) {
  return SyncParentDirectories(installed_paths).status();
}

absl::Status CompleteSyncBatch(db::Connection& tracking, const ReplicableSpec& spec,
                               std::vector<Completion>& batch, const DurabilityBarrier& durable) {
  if (batch.empty()) return absl::OkStatus();
  for (auto& c : batch) {
    c.done = false;
    c.status = absl::OkStatus();
  }
  std::set<int64_t> installed;  // installs that ran and succeeded, across attempts
  while (true) {
    std::vector<int64_t> ids, claims, sizes, states;
    std::vector<std::string> paths, checksums;
    for (const auto& c : batch) {
      if (!c.status.ok()) continue;
      ids.push_back(c.item->model_id);
      claims.push_back(c.item->claim_id);
      paths.push_back(c.result->local_path);
      sizes.push_back(c.result->size);
      checksums.push_back(c.result->checksum);
      states.push_back(c.result->verification_state);
    }
    if (ids.empty()) return absl::OkStatus();
    bool install_failed = false;
    std::set<int64_t> marked;
    absl::Status s = db::InTransaction(tracking, [&]() -> absl::Status {
      // Only rows still started under their claim: an `updated` reset or a
      // reclaim meanwhile means the row is not ours, and its install must not
      // run. The UPDATE locks the rows it marks until the installs are done.
      auto r = tracking.Exec(
          SpecSql(
              spec,
              "UPDATE $REG r SET state = $S_SYNCED, last_synced_at = now(), retry_count = 0, "
              "retry_at = NULL, last_sync_failure = NULL, missing_on_primary = false, "
              "claim_id = NULL, worker_id = NULL, local_path = u.local_path, "
              "file_size = u.size, checksum = u.checksum, verification_state = u.vstate, "
              "verified_at = CASE WHEN u.vstate = $V_SUCCEEDED THEN now() END, "
              "verification_failure = NULL, verification_retry_count = 0, "
              "verification_worker = NULL "
              "FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], "
              "$6::smallint[]) AS u(model_id, claim_id, local_path, size, checksum, vstate) "
              "WHERE r.model_id = u.model_id AND r.state = $S_STARTED AND r.claim_id = u.claim_id "
              "RETURNING r.model_id"),
          {db::BigintArray(ids), db::BigintArray(claims), db::TextArray(paths),
           db::BigintArray(sizes), db::TextArray(checksums), db::BigintArray(states)});
      if (!r.ok()) return r.status();
      for (int i = 0; i < r->rows(); ++i) marked.insert(r->GetInt64(i, 0));
      for (auto& c : batch) {
        int64_t id = c.item->model_id;
        if (!c.status.ok() || !marked.contains(id) || installed.contains(id)) continue;
        c.status = (*c.install)();
        if (c.status.ok()) {
          installed.insert(id);
        } else {
          install_failed = true;
        }
      }
      // A failed install leaves its row started: undo the batch, and mark the
      // others again without it.
      if (install_failed) return absl::AbortedError("an install failed");
      // No row is recorded synced before its new entry is durable.
      std::vector<std::string> entries;
      for (const auto& c : batch) {
        int64_t id = c.item->model_id;
        if (marked.contains(id) && installed.contains(id) && c.result->new_entry)
          entries.push_back(c.result->local_path);
      }
      if (entries.empty()) return absl::OkStatus();
      if (absl::Status d = durable(entries); !d.ok()) {
        return absl::Status(d.code(),
                            absl::StrCat("make ", spec.name, " copies durable: ", d.message()));
      }
      return absl::OkStatus();
    });
    if (install_failed) continue;
    if (!s.ok()) return s;
    for (auto& c : batch) c.done = marked.contains(c.item->model_id);
    return absl::OkStatus();
  }
}

absl::StatusOr<bool> CompletionGroup::Complete(db::Connection& tracking, const ReplicableSpec& spec,
                                               const ClaimedItem& item, const SyncResult& result,
                                               const std::function<absl::Status()>& install) {
  Entry mine{{&item, &result, &install}};
  mu_.Lock();
  Queue& q = queues_[spec.name];
  q.waiting.push_back(&mine);
  while (!mine.finished) {
    if (q.recording) {
      cv_.Wait(&mu_);
      continue;
    }
    // No batch of this replicable in progress, so `mine` is still waiting:
    // record all of them.
    q.recording = true;
    std::vector<Entry*> taken;
    taken.swap(q.waiting);
    mu_.Unlock();
    std::vector<Completion> batch;
    for (Entry* e : taken) batch.push_back(e->completion);
    absl::Status s = CompleteSyncBatch(tracking, spec, batch);
    mu_.Lock();
    for (size_t i = 0; i < taken.size(); ++i) {
      taken[i]->completion = batch[i];
      taken[i]->error = s;
      taken[i]->finished = true;
    }
    q.recording = false;
    cv_.SignalAll();
  }
  absl::Status error = mine.error;
  Completion outcome = mine.completion;
  mu_.Unlock();
  if (!error.ok()) return error;
  if (!outcome.status.ok()) return outcome.status;
  return outcome.done;
}

absl::Status FailSync(db::Connection& tracking, const ReplicableSpec& spec, const ClaimedItem& item,
                      const SyncFailure& failure) {
  return tracking
      .Exec(SpecSql(
                spec,
                "UPDATE $REG SET state = $S_FAILED, retry_count = retry_count + $7, "
                "retry_at = now() + make_interval(secs => $3), last_sync_failure = left($4, 1000), "
                "missing_on_primary = $5, claim_id = NULL, worker_id = NULL, "
                "verification_state = CASE WHEN $6 THEN $V_FAILED ELSE verification_state END, "
                "verification_failure = CASE WHEN $6 THEN left($4, 1000) ELSE verification_failure "
                "END, "
                "verification_retry_count = verification_retry_count + CASE WHEN $6 THEN 1 ELSE 0 "
                "END "
                "WHERE model_id = $1 AND state = $S_STARTED AND claim_id = $2"),
            {absl::StrCat(item.model_id), absl::StrCat(item.claim_id),
             absl::StrCat(failure.delay_seconds), failure.error,
             failure.missing_on_primary ? "true" : "false",
             failure.verification_failed ? "true" : "false", failure.counted ? "1" : "0"})
      .status();
}

absl::StatusOr<int64_t> ReclaimStarted(db::Connection& tracking, const ReplicableSpec& spec,
                                       double dead_after_seconds, double timeout_seconds) {
  auto r = tracking.Exec(
      SpecSql(spec,
              "UPDATE $REG SET state = $S_PENDING, claim_id = NULL, worker_id = NULL "
              "WHERE state = $S_STARTED AND ("
              "worker_id IS NULL OR started_at < now() - make_interval(secs => $2) OR NOT EXISTS ("
              "SELECT 1 FROM georep.workers w WHERE w.worker_id = $REG.worker_id "
              "AND w.heartbeat_at > now() - make_interval(secs => $1)))"),
      {absl::StrCat(dead_after_seconds), absl::StrCat(timeout_seconds)});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<std::vector<RegistryRow>> ListRegistry(db::Connection& tracking,
                                                      const ReplicableSpec& spec,
                                                      const RegistryFilter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxRegistryPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit ", filter.limit, " is not 1 to ", kMaxRegistryPage));
  }
  db::Params params = {absl::StrCat(filter.after), absl::StrCat(filter.limit)};
  std::string where = "model_id > $1";
  auto add = [&](const char* column, int64_t value) {
    params.push_back(absl::StrCat(value));
    absl::StrAppend(&where, " AND ", column, " = $", params.size());
  };
  if (filter.state) add("state", *filter.state);
  if (filter.verification) add("verification_state", *filter.verification);
  if (filter.id) add("model_id", *filter.id);
  auto time = [](const char* column) {
    return absl::StrCat("to_char(", column,
                        " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
  };
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat("SELECT model_id, state, retry_count, ", time("retry_at"), ", ",
                                 time("last_synced_at"),
                                 ", coalesce(last_sync_failure, ''), missing_on_primary, "
                                 "coalesce(local_path, ''), file_size, coalesce(checksum, ''), "
                                 "verification_state, ",
                                 time("verified_at"),
                                 ", coalesce(verification_failure, ''), verification_retry_count, ",
                                 time("created_at"), " FROM $REG WHERE ", where,
                                 " ORDER BY model_id LIMIT $2")),
      params);
  if (!r.ok()) return r.status();
  std::vector<RegistryRow> out;
  for (int i = 0; i < r->rows(); ++i) {
    RegistryRow row;
    row.model_id = r->GetInt64(i, 0);
    row.state = SyncStateName(static_cast<int>(r->GetInt64(i, 1)));
    row.retry_count = static_cast<int>(r->GetInt64(i, 2));
    row.retry_at = std::string(r->Get(i, 3));
    row.last_synced_at = std::string(r->Get(i, 4));
    row.last_sync_failure = std::string(r->Get(i, 5));
    row.missing_on_primary = r->GetBool(i, 6);
    row.local_path = std::string(r->Get(i, 7));
    if (!r->IsNull(i, 8)) row.file_size = r->GetInt64(i, 8);
    row.checksum = std::string(r->Get(i, 9));
    row.verification_state = VerificationStateName(static_cast<int>(r->GetInt64(i, 10)));
    row.verified_at = std::string(r->Get(i, 11));
    row.verification_failure = std::string(r->Get(i, 12));
    row.verification_retry_count = static_cast<int>(r->GetInt64(i, 13));
    row.created_at = std::string(r->Get(i, 14));
    out.push_back(std::move(row));
  }
  return out;
}

absl::StatusOr<Counts> ReadCounts(db::Connection& tracking) {
  auto r = tracking.Exec(
      "SELECT replicable, state, sum(n)::bigint FROM ("
      "SELECT replicable, state, count AS n FROM georep.registry_counts UNION ALL "
      "SELECT replicable, state, delta FROM georep.registry_count_deltas) x GROUP BY 1, 2");
  if (!r.ok()) return r.status();
  Counts out;
  for (int i = 0; i < r->rows(); ++i) {
    out[std::string(r->Get(i, 0))][static_cast<int>(r->GetInt64(i, 1))] = r->GetInt64(i, 2);
  }
  return out;
}

absl::Status FoldCounts(db::Connection& tracking) {
  return tracking.Exec("SELECT georep.fold_registry_counts()").status();
}

absl::Status Heartbeat(db::Connection& tracking, const std::string& worker_id) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return tracking
      .Exec(
          "INSERT INTO georep.workers (worker_id, host, pid) VALUES ($1, $2, $3) "
          "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()",
          {worker_id, std::string(host), absl::StrCat(getpid())})
      .status();
}

absl::Status RetireWorker(db::Connection& tracking, const std::string& worker_id) {
  return tracking.Exec("DELETE FROM georep.workers WHERE worker_id = $1", {worker_id}).status();
}

// ---------------------------------------------------------------- events

absl::Status ApplyCreated(db::Connection& tracking, const ReplicableSpec& spec,
                          const std::vector<int64_t>& ids, const std::vector<int64_t>& event_us) {
  if (ids.empty()) return absl::OkStatus();
  return tracking
      .Exec(SpecSql(spec,
                    "INSERT INTO $REG (model_id, event_at) SELECT id, to_timestamp(us / 1e6) "
                    "FROM unnest($1::bigint[], $2::bigint[]) AS u(id, us) WHERE id IS NOT NULL "
                    "ON CONFLICT (model_id) DO NOTHING"),
            {db::BigintArray(ids), db::BigintArray(event_us)})
      .status();
}

absl::StatusOr<int64_t> MarkLost(db::Connection& tracking, const ReplicableSpec& spec,
                                 const std::vector<int64_t>& lost_ids,
                                 const std::vector<std::string>& reasons) {
  auto r = tracking.Exec(
      SpecSql(spec,
              "WITH lost AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS u(id, why)), "
              "marked AS (UPDATE $REG r SET state = $S_LOST, retry_at = NULL, "
              "last_sync_failure = left(lost.why, 1000) FROM lost "
              "WHERE r.model_id = lost.id AND r.state IN ($S_PENDING, $S_FAILED) RETURNING 1), "
              "back AS (UPDATE $REG SET state = $S_PENDING, retry_at = NULL, retry_count = 0, "
              "last_sync_failure = NULL "
              "WHERE state = $S_LOST AND NOT model_id = ANY($1::bigint[]) RETURNING 1) "
              "SELECT (SELECT count(*) FROM marked) + (SELECT count(*) FROM back)"),
      {db::BigintArray(lost_ids), db::TextArray(reasons)});
  if (!r.ok()) return r.status();
  return r->GetInt64(0, 0);
}

absl::StatusOr<int64_t> RetryFailedNow(db::Connection& tracking, const ReplicableSpec& spec) {
  auto r = tracking.Exec(SpecSql(
      spec, "UPDATE $REG SET retry_at = now() WHERE state = $S_FAILED AND retry_at > now()"));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::Status ApplyUpdated(db::Connection& tracking, const ReplicableSpec& spec,
                          const std::vector<int64_t>& ids, const std::vector<int64_t>& event_us) {
  if (ids.empty()) return absl::OkStatus();
  return tracking
      .Exec(SpecSql(spec,
                    "INSERT INTO $REG AS r (model_id, event_at) SELECT id, to_timestamp(us / 1e6) "
                    "FROM unnest($1::bigint[], $2::bigint[]) AS u(id, us) WHERE id IS NOT NULL "
                    "ON CONFLICT (model_id) DO UPDATE SET state = $S_PENDING, retry_count = 0, "
                    "retry_at = NULL, missing_on_primary = false, "
                    "verification_state = $V_PENDING, "
                    "event_at = coalesce(r.event_at, EXCLUDED.event_at)"),
            {db::BigintArray(ids), db::BigintArray(event_us)})
      .status();
}

absl::StatusOr<std::vector<double>> CollectLatencies(db::Connection& tracking,
                                                     const ReplicableSpec& spec) {
  auto r = tracking.Exec(
      SpecSql(spec,
              "WITH d AS (SELECT model_id, event_at FROM $REG WHERE event_at IS NOT NULL AND "
              "state = $S_SYNCED AND verification_state = $V_SUCCEEDED FOR UPDATE SKIP LOCKED) "
              "UPDATE $REG r SET event_at = NULL FROM d WHERE r.model_id = d.model_id "
              "RETURNING greatest(0, extract(epoch FROM r.verified_at - d.event_at))::float8"));
  if (!r.ok()) return r.status();
  std::vector<double> out;
  out.reserve(r->rows());
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->GetDouble(i, 0));
  return out;
}

absl::StatusOr<RemovedRows> RemoveRows(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::vector<int64_t>& ids) {
  RemovedRows out;
  if (ids.empty()) return out;
  auto r = tracking.Exec(
      SpecSql(spec, "DELETE FROM $REG WHERE model_id = ANY($1::bigint[]) RETURNING local_path"),
      {db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  out.count = r->affected_rows();
  for (int i = 0; i < r->rows(); ++i) {
    if (!r->IsNull(i, 0)) out.local_paths.push_back(std::string(r->Get(i, 0)));
  }
  return out;
}

// -------------------------------------------------------------- backfill

absl::StatusOr<int64_t> InsertMissing(db::Connection& tracking, const ReplicableSpec& spec,
                                      const std::vector<int64_t>& ids) {
  if (ids.empty()) return 0;
  auto r = tracking.Exec(SpecSql(spec,
                                 "INSERT INTO $REG (model_id) SELECT unnest($1::bigint[]) "
                                 "ON CONFLICT (model_id) DO NOTHING"),
                         {db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<std::vector<int64_t>> RowsNotIn(db::Connection& tracking, const ReplicableSpec& spec,
                                               int64_t lo, std::optional<int64_t> hi,
                                               const std::vector<int64_t>& ids) {
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat("SELECT model_id FROM $REG WHERE model_id >= $1",
                                 hi ? absl::StrCat(" AND model_id <= ", *hi) : "",
                                 " AND model_id NOT IN (SELECT unnest($2::bigint[]))")),
      {absl::StrCat(lo), db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  std::vector<int64_t> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->GetInt64(i, 0));
  return out;
}

}  // namespace georep::framework
