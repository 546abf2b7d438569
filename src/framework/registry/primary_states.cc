#include "framework/registry/primary_states.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/spec/spec.h"

namespace georep::framework {

absl::Status EnsureStateTable(db::Connection& main, const ReplicableSpec& spec) {
  return db::InTransaction(main, [&]() -> absl::Status {
    if (auto r = main.Exec("SELECT pg_advisory_xact_lock(hashtext('georep.states_ddl'))"); !r.ok())
      return r.status();
    auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
    if (!exists.ok()) return exists.status();
    if (exists->GetBool(0, 0)) return absl::OkStatus();
    return main.ExecScript(SpecSql(spec, R"sql(
CREATE TABLE $STATES (
  model_id bigint PRIMARY KEY,
  state smallint NOT NULL DEFAULT $V_PENDING,
  checksum text,
  started_at timestamptz,
  verified_at timestamptz,
  retry_at timestamptz,
  retry_count integer NOT NULL DEFAULT 0,
  failure text,
  worker_id text
);
CREATE INDEX $NAME_states_pending ON $STATES (model_id) WHERE state = $V_PENDING;
CREATE INDEX $NAME_states_failed ON $STATES (retry_at) WHERE state = $V_FAILED;
CREATE INDEX $NAME_states_claimed ON $STATES (worker_id) WHERE worker_id IS NOT NULL;
CREATE INDEX $NAME_states_verified ON $STATES (verified_at) WHERE state = $V_SUCCEEDED;
CREATE TRIGGER $NAME_states_count_insert AFTER INSERT ON $STATES REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_insert('$NAME', 'state');
CREATE TRIGGER $NAME_states_count_update AFTER UPDATE ON $STATES
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_update('$NAME', 'state');
CREATE TRIGGER $NAME_states_count_delete AFTER DELETE ON $STATES REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION georep.count_delete('$NAME', 'state');
)sql"));
  });
}

std::string ResetStateSql(const ReplicableSpec& spec, absl::string_view id) {
  // worker_id = NULL: a checksum being computed of the old bytes is not recorded.
  return SpecSql(spec, absl::StrCat("INSERT INTO $STATES (model_id) VALUES (", id,
                                    ") ON CONFLICT (model_id) DO UPDATE SET state = $V_PENDING, "
                                    "checksum = NULL, retry_count = 0, retry_at = NULL, "
                                    "worker_id = NULL"));
}

std::string ForgetStateSql(const ReplicableSpec& spec, absl::string_view id) {
  return SpecSql(spec, absl::StrCat("DELETE FROM $STATES WHERE model_id = ", id));
}

absl::Status ResetState(db::Connection& main, const ReplicableSpec& spec, int64_t model_id) {
  return main.Exec(ResetStateSql(spec, "$1"), {absl::StrCat(model_id)}).status();
}

std::string SucceededChecksumSql(const ReplicableSpec& spec, absl::string_view id) {
  return SpecSql(spec, absl::StrCat("(SELECT s.checksum FROM $STATES s WHERE s.model_id = ", id,
                                    " AND s.state = $V_SUCCEEDED)"));
}

absl::StatusOr<std::map<int64_t, std::string>> PrimaryChecksums(db::Connection& standby,
                                                                const ReplicableSpec& spec,
                                                                const std::vector<int64_t>& ids) {
  std::map<int64_t, std::string> out;
  auto exists = standby.Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0) || ids.empty()) return out;
  auto r = standby.Exec(SpecSql(spec,
                                "SELECT model_id, checksum FROM $STATES WHERE state = $V_SUCCEEDED "
                                "AND model_id = ANY($1::bigint[])"),
                        {db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  for (int i = 0; i < r->rows(); ++i) out[r->GetInt64(i, 0)] = std::string(r->Get(i, 1));
  return out;
}

absl::StatusOr<ChecksumChunk> SucceededChecksumsAfter(db::Connection& standby,
                                                      const ReplicableSpec& spec, int64_t after,
                                                      int limit) {
  ChecksumChunk chunk{"{}", "{}", std::nullopt};
  auto exists = standby.Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return chunk;
  auto r = standby.Exec(
      SpecSql(
          spec,
          "SELECT coalesce(array_agg(model_id ORDER BY model_id), '{}')::text, "
          "coalesce(array_agg(checksum ORDER BY model_id), '{}')::text, max(model_id) FROM "
          "(SELECT model_id, checksum FROM $STATES WHERE state = $V_SUCCEEDED AND model_id > $1 "
          "ORDER BY model_id LIMIT $2) c"),
      {absl::StrCat(after), absl::StrCat(limit)});
  if (!r.ok()) return r.status();
  if (r->IsNull(0, 2)) return chunk;
  return ChecksumChunk{std::string(r->Get(0, 0)), std::string(r->Get(0, 1)), r->GetInt64(0, 2)};
}

absl::Status BackfillStates(db::Connection& main, const ReplicableSpec& spec) {
  // One set-based statement each way; the main DB holds both tables.
  auto add =
      main.Exec(SpecSql(spec,
                        "INSERT INTO $STATES (model_id) SELECT m.$ID FROM $MODEL m "
                        "WHERE NOT EXISTS (SELECT 1 FROM $STATES s WHERE s.model_id = m.$ID) "
                        "ON CONFLICT DO NOTHING"));
  if (!add.ok()) return add.status();
  return main
      .Exec(SpecSql(spec,
                    "DELETE FROM $STATES s WHERE NOT EXISTS "
                    "(SELECT 1 FROM $MODEL m WHERE m.$ID = s.model_id)"))
      .status();
}

absl::Status ReleaseDeadChecksummers(db::Connection& main, const ReplicableSpec& spec,
                                     double dead_after_seconds) {
  return main
      .Exec(SpecSql(spec,
                    "UPDATE $STATES SET worker_id = NULL, state = CASE WHEN state = $V_STARTED "
                    "THEN $V_PENDING ELSE state END "
                    "WHERE worker_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM georep.workers w "
                    "WHERE w.worker_id = $STATES.worker_id AND w.heartbeat_at > now() - "
                    "make_interval(secs => $1))"),
            {absl::StrCat(dead_after_seconds)})
      .status();
}

absl::StatusOr<std::vector<ChecksumClaim>> ClaimChecksums(db::Connection& main,
                                                          const ReplicableSpec& spec,
                                                          const std::string& worker_id, int limit,
                                                          ChecksumPick pick,
                                                          double interval_seconds) {
  absl::string_view where;
  switch (pick) {
    case ChecksumPick::kPending:
      where = "state = $V_PENDING";
      break;
    case ChecksumPick::kRetry:
      where = "state = $V_FAILED AND retry_at <= now()";
      break;
    case ChecksumPick::kDue:
      where = "state = $V_SUCCEEDED AND verified_at < now() - make_interval(secs => $3)";
      break;
  }
  db::Params params = {absl::StrCat(limit), worker_id};
  // An unused parameter has no type PostgreSQL could infer.
  if (pick == ChecksumPick::kDue) params.push_back(absl::StrCat(interval_seconds));
  auto r = main.Exec(
      SpecSql(spec,
              absl::StrCat("UPDATE $STATES s SET state = CASE WHEN s.state = $V_SUCCEEDED THEN "
                           "$V_SUCCEEDED ELSE $V_STARTED END, started_at = now(), worker_id = $2 "
                           "FROM (SELECT model_id FROM $STATES WHERE ",
                           where,
                           " AND worker_id IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED) c "
                           "WHERE s.model_id = c.model_id RETURNING s.model_id, s.checksum, "
                           "s.retry_count, (SELECT ",
                           PathSql(spec, "m"), " FROM $MODEL m WHERE m.$ID = s.model_id), ",
                           // No second lookup of the model row unless a digest is declared.
                           spec.checksum_column.empty()
                               ? std::string("NULL")
                               : absl::StrCat("(SELECT ", AppChecksumSql(spec, "m"),
                                              " FROM $MODEL m WHERE m.$ID = s.model_id)"))),
      params);
  if (!r.ok()) return r.status();
  std::vector<ChecksumClaim> out;
  for (int i = 0; i < r->rows(); ++i) {
    ChecksumClaim c;
    c.model_id = r->GetInt64(i, 0);
    if (!r->IsNull(i, 1)) c.recorded = std::string(r->Get(i, 1));
    c.retry_count = static_cast<int>(r->GetInt64(i, 2));
    if (!r->IsNull(i, 3)) c.path = std::string(r->Get(i, 3));
    if (!r->IsNull(i, 4)) c.app_checksum = std::string(r->Get(i, 4));
    out.push_back(std::move(c));
  }
  return out;
}

absl::Status RecordChecksums(db::Connection& main, const ReplicableSpec& spec,
                             const std::string& worker_id, const std::vector<int64_t>& ids,
                             const std::vector<std::string>& checksums) {
  if (ids.empty()) return absl::OkStatus();
  return main
      .Exec(SpecSql(spec,
                    "UPDATE $STATES s SET state = $V_SUCCEEDED, checksum = v.sum, verified_at = "
                    "now(), failure = NULL, retry_count = 0, retry_at = NULL, worker_id = NULL "
                    "FROM unnest($1::bigint[], $2::text[]) AS v(id, sum) "
                    "WHERE s.model_id = v.id AND s.worker_id = $3"),
            {db::BigintArray(ids), db::TextArray(checksums), worker_id})
      .status();
}

absl::Status RecordChecksumFailure(db::Connection& main, const ReplicableSpec& spec,
                                   const std::string& worker_id, int64_t id,
                                   const std::string& failure, double retry_delay_seconds) {
  return main
      .Exec(SpecSql(spec,
                    "UPDATE $STATES SET state = $V_FAILED, failure = left($2, 1000), "
                    "retry_count = retry_count + 1, retry_at = now() + make_interval(secs => $4), "
                    "worker_id = NULL WHERE model_id = $1 AND worker_id = $3"),
            {absl::StrCat(id), failure, worker_id, absl::StrCat(retry_delay_seconds)})
      .status();
}

absl::StatusOr<int64_t> ReverifyPrimary(db::Connection& main, const ReplicableSpec& spec,
                                        const Selection& sel) {
  auto r = main.Exec(SpecSql(
      spec, absl::StrCat("UPDATE $STATES SET state = $V_PENDING, retry_at = NULL WHERE state <> "
                         "$V_STARTED AND ",
                         SelectionSql(sel, "state = $V_FAILED"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

}  // namespace georep::framework
