// The registry store's statements of verification and operator actions
// (the rest of framework/registry/registry_store.h is in registry_store.cc).
#include "absl/strings/str_cat.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"

namespace georep::framework {

// ---------------------------------------------------------- verification

absl::Status ReleaseDeadVerifications(db::Connection& tracking, const ReplicableSpec& spec,
                                      double dead_after_seconds) {
  return tracking
      .Exec(SpecSql(spec,
                    "UPDATE $REG SET verification_worker = NULL, verification_state = CASE WHEN "
                    "verification_state = $V_STARTED THEN $V_PENDING ELSE verification_state END "
                    "WHERE verification_worker IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                    "georep.workers w WHERE w.worker_id = $REG.verification_worker "
                    "AND w.heartbeat_at > now() - make_interval(secs => $1))"),
            {absl::StrCat(dead_after_seconds)})
      .status();
}

absl::StatusOr<std::vector<VerificationClaim>> ClaimVerifications(db::Connection& tracking,
                                                                  const ReplicableSpec& spec,
                                                                  const std::string& worker_id,
                                                                  int limit, VerificationPick pick,
                                                                  double interval_seconds) {
  bool due = pick == VerificationPick::kDue;
  db::Params params = {absl::StrCat(limit), worker_id};
  // An unused parameter has no type PostgreSQL could infer.
  if (due) params.push_back(absl::StrCat(interval_seconds));
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat(
                        "UPDATE $REG r SET verification_state = CASE WHEN r.verification_state = "
                        "$V_PENDING THEN $V_STARTED ELSE r.verification_state END, "
                        "verification_started_at = now(), verification_worker = $2 FROM (SELECT "
                        "model_id FROM $REG WHERE state = $S_SYNCED AND ",
                        due ? "verification_state = $V_SUCCEEDED AND verified_at < now() - "
                              "make_interval(secs => $3)"
                            : "verification_state = $V_PENDING",
                        " AND verification_worker IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED) c "
                        "WHERE r.model_id = c.model_id "
                        "RETURNING r.model_id, coalesce(r.local_path, ''), "
                        "r.verification_retry_count")),
      params);
  if (!r.ok()) return r.status();
  std::vector<VerificationClaim> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back(
        {r->GetInt64(i, 0), std::string(r->Get(i, 1)), static_cast<int>(r->GetInt64(i, 2))});
  }
  return out;
}

absl::Status RecordVerified(db::Connection& tracking, const ReplicableSpec& spec,
                            const std::string& worker_id, const std::vector<int64_t>& ids,
                            const std::vector<std::string>& checksums) {
  if (ids.empty()) return absl::OkStatus();
  return tracking
      .Exec(SpecSql(spec,
                    "UPDATE $REG r SET verification_state = $V_SUCCEEDED, verified_at = now(), "
                    "checksum = v.sum, verification_failure = NULL, verification_retry_count = 0, "
                    "verification_worker = NULL FROM unnest($1::bigint[], $2::text[]) AS v(id, "
                    "sum) WHERE r.model_id = v.id AND r.verification_worker = $3"),
            {db::BigintArray(ids), db::TextArray(checksums), worker_id})
      .status();
}

absl::Status RecordVerificationFailure(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::string& worker_id, int64_t id,
                                       const std::string& failure, double retry_delay_seconds) {
  return tracking
      .Exec(SpecSql(spec,
                    "UPDATE $REG SET verification_state = $V_FAILED, verification_failure = "
                    "left($3, 1000), verification_retry_count = verification_retry_count + 1, "
                    "verification_worker = NULL, state = $S_FAILED, last_sync_failure = left($3, "
                    "1000), retry_count = retry_count + 1, retry_at = now() + make_interval(secs "
                    "=> $4) WHERE model_id = $1 AND verification_worker = $2 AND state = "
                    "$S_SYNCED"),
            {absl::StrCat(id), worker_id, failure, absl::StrCat(retry_delay_seconds)})
      .status();
}

absl::Status RecordVerificationDisabled(db::Connection& tracking, const ReplicableSpec& spec,
                                        const std::string& worker_id,
                                        const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return tracking
      .Exec(SpecSql(spec,
                    "UPDATE $REG SET verification_state = $V_DISABLED, verification_worker = NULL "
                    "WHERE model_id = ANY($1::bigint[]) AND verification_worker = $2"),
            {db::BigintArray(ids), worker_id})
      .status();
}

absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> DisabledRows(
    db::Connection& tracking, const ReplicableSpec& spec, int limit) {
  auto r = tracking.Exec(SpecSql(spec,
                                 "SELECT model_id, checksum FROM $REG WHERE state = $S_SYNCED AND "
                                 "verification_state = $V_DISABLED ORDER BY model_id LIMIT $1"),
                         {absl::StrCat(limit)});
  if (!r.ok()) return r.status();
  std::vector<std::pair<int64_t, std::string>> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back({r->GetInt64(i, 0), std::string(r->Get(i, 1))});
  return out;
}

absl::Status SettleDisabled(db::Connection& tracking, const ReplicableSpec& spec,
                            const std::vector<int64_t>& matching,
                            const std::vector<int64_t>& mismatching) {
  if (!matching.empty()) {
    auto r = tracking.Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_state = $V_SUCCEEDED, verified_at = now(), "
                "verification_failure = NULL WHERE state = $S_SYNCED AND verification_state = "
                "$V_DISABLED AND model_id = ANY($1::bigint[])"),
        {db::BigintArray(matching)});
    if (!r.ok()) return r.status();
  }
  if (!mismatching.empty()) {
    // Fetched again at once.
    auto r = tracking.Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_state = $V_FAILED, verification_retry_count = "
                "verification_retry_count + 1, verification_failure = 'checksum does not match "
                "the primary''s', state = $S_FAILED, last_sync_failure = 'verification: checksum "
                "does not match the primary''s', retry_count = retry_count + 1, retry_at = now() "
                "WHERE model_id = ANY($1::bigint[]) AND state = $S_SYNCED AND verification_state "
                "= $V_DISABLED"),
        {db::BigintArray(mismatching)});
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> QueueDiffering(db::Connection& tracking, const ReplicableSpec& spec,
                                       const std::string& ids, const std::string& checksums) {
  auto r = tracking.Exec(
      SpecSql(spec,
              "UPDATE $REG r SET state = $S_PENDING, retry_count = 0, retry_at = NULL, "
              "missing_on_primary = false FROM unnest($1::bigint[], $2::text[]) AS p(id, sum) "
              "WHERE r.model_id = p.id AND r.state = $S_SYNCED AND r.checksum IS DISTINCT FROM "
              "p.sum"),
      {ids, checksums});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<std::optional<std::string>> VerifiedChecksum(db::Connection& tracking,
                                                            const ReplicableSpec& spec,
                                                            int64_t id) {
  auto copy = VerifiedCopyOf(tracking, spec, id);
  if (!copy.ok()) return copy.status();
  if (!*copy) return std::optional<std::string>();
  return std::optional<std::string>((*copy)->checksum);
}

absl::StatusOr<std::optional<VerifiedCopy>> VerifiedCopyOf(db::Connection& tracking,
                                                           const ReplicableSpec& spec, int64_t id) {
  auto r = tracking.Exec(SpecSql(spec,
                                 "SELECT checksum, coalesce(local_path, '') FROM $REG "
                                 "WHERE model_id = $1 AND state = $S_SYNCED "
                                 "AND verification_state = $V_SUCCEEDED"),
                         {absl::StrCat(id)});
  if (!r.ok()) return r.status();
  if (r->rows() == 0 || r->IsNull(0, 0)) return std::optional<VerifiedCopy>();
  return std::optional<VerifiedCopy>(
      VerifiedCopy{std::string(r->Get(0, 0)), std::string(r->Get(0, 1))});
}

// ------------------------------------------------------------- data loss

absl::StatusOr<std::map<int64_t, RegistryState>> RegistryStates(db::Connection& tracking,
                                                                const ReplicableSpec& spec,
                                                                int64_t first, int64_t last) {
  auto r = tracking.Exec(SpecSql(spec,
                                 "SELECT model_id, state, verification_state, "
                                 "coalesce(last_sync_failure, '') FROM $REG "
                                 "WHERE model_id BETWEEN $1 AND $2"),
                         {absl::StrCat(first), absl::StrCat(last)});
  if (!r.ok()) return r.status();
  std::map<int64_t, RegistryState> out;
  for (int i = 0; i < r->rows(); ++i) {
    out[r->GetInt64(i, 0)] = {static_cast<int>(r->GetInt64(i, 1)),
                              static_cast<int>(r->GetInt64(i, 2)), std::string(r->Get(i, 3))};
  }
  return out;
}

// ------------------------------------------------------------- operators

absl::StatusOr<int64_t> Resync(db::Connection& tracking, const ReplicableSpec& spec,
                               const Selection& sel) {
  auto r = tracking.Exec(SpecSql(
      spec, absl::StrCat("UPDATE $REG SET state = $S_PENDING, retry_count = 0, retry_at = NULL, "
                         "missing_on_primary = false, verification_state = $V_PENDING "
                         "WHERE state <> $S_STARTED AND ",
                         SelectionSql(sel,
                                      "(state = $S_FAILED OR verification_state = "
                                      "$V_FAILED)"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<int64_t> ReverifySecondary(db::Connection& tracking, const ReplicableSpec& spec,
                                          const Selection& sel) {
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat("UPDATE $REG SET verification_state = $V_PENDING WHERE state = "
                                 "$S_SYNCED AND verification_state <> $V_STARTED AND ",
                                 SelectionSql(sel, "verification_state = $V_FAILED"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

}  // namespace georep::framework
