#include "framework/verification.h"

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "framework/backoff.h"
#include "framework/registry_store.h"
#include "framework/spec.h"
#include "git/repository.h"
#include "util/logging.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void SleepUnless(const std::atomic<bool>& stop, double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!stop.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int Rand30() {
  thread_local std::mt19937 rng(std::random_device{}());
  return static_cast<int>(rng() % 30);
}

}  // namespace

absl::StatusOr<std::map<int64_t, std::string>> PrimaryChecksums(db::Connection& standby,
                                                                const ReplicableSpec& spec,
                                                                const std::vector<int64_t>& ids) {
  std::map<int64_t, std::string> out;
  auto exists = standby.Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0) || ids.empty()) return out;
  auto r =
      standby.Exec(SpecSql(spec,
                           "SELECT model_id, checksum FROM $STATES WHERE state = 2 AND model_id = "
                           "ANY($1::bigint[])"),
                   {db::BigintArray(ids)});
  if (!r.ok()) return r.status();
  for (int i = 0; i < r->rows(); ++i) out[r->GetInt64(i, 0)] = std::string(r->Get(i, 1));
  return out;
}

namespace {

// $1 batch, $2 worker, and $3 the interval when the statement uses it (an
// unused parameter has no type PostgreSQL could infer).
db::Params ClaimParams(const VerificationOptions& opt, absl::string_view pick,
                       double interval_seconds) {
  db::Params p = {absl::StrCat(opt.batch), opt.worker_id};
  if (absl::StrContains(pick, "$3")) p.push_back(absl::StrCat(interval_seconds));
  return p;
}

}  // namespace

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
  state smallint NOT NULL DEFAULT 0,
  checksum text,
  started_at timestamptz,
  verified_at timestamptz,
  retry_at timestamptz,
  retry_count integer NOT NULL DEFAULT 0,
  failure text,
  worker_id text
);
CREATE INDEX $NAME_states_pending ON $STATES (model_id) WHERE state = 0;
CREATE INDEX $NAME_states_failed ON $STATES (retry_at) WHERE state = 3;
CREATE INDEX $NAME_states_claimed ON $STATES (worker_id) WHERE worker_id IS NOT NULL;
CREATE INDEX $NAME_states_verified ON $STATES (verified_at) WHERE state = 2;
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

// ---------------------------------------------------------------- primary

absl::StatusOr<std::string> LocalChecksum(const ReplicableSpec& spec, const std::string& path) {
  if (spec.strategy == Strategy::kRepository) return git::RefsChecksum(path);
  return Sha256File(path);
}

Checksummer::Checksummer(VerificationOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {}

absl::Status Checksummer::Connect() {
  if (main_) return absl::OkStatus();
  auto c = db::Connection::Open(opt_.main_conninfo);
  if (!c.ok()) return c.status();
  // A result lost in a crash only means that file is checksummed again.
  if (auto r = (*c)->Exec("SET synchronous_commit = off"); !r.ok()) return r.status();
  // Publish triggers notify on every new or changed row: checksum it at once.
  if (auto r = (*c)->Exec("LISTEN georep_checksum"); !r.ok()) return r.status();
  main_ = std::move(*c);
  return absl::OkStatus();
}

void Checksummer::Run(const std::atomic<bool>& stop) {
  std::string last_error;
  while (!stop.load()) {
    auto n = Round();
    if (!n.ok()) {
      std::string msg(n.status().message());
      if (msg != last_error) log::Warn("checksummer round failed", {{"error", msg}});
      last_error = msg;
      main_.reset();
      SleepUnless(stop, 1.0);
      continue;
    }
    last_error.clear();
    if (*n > 0) continue;
    // Idle: woken by a notification, else a round every kIdleRoundSeconds
    // (re-verification and retries come due without one).
    constexpr double kIdleRoundSeconds = 2.0;
    for (double waited = 0; waited < kIdleRoundSeconds && !stop.load();
         waited += opt_.idle_poll_seconds) {
      auto woken = main_->WaitForNotification(opt_.idle_poll_seconds);
      if (!woken.ok()) {
        main_.reset();
        break;
      }
      if (*woken) break;
    }
  }
  if (main_) (void)RetireWorker(*main_, opt_.worker_id);
}

absl::Status Checksummer::BackfillStates(const ReplicableSpec& spec) {
  // One set-based statement each way; the main DB holds both tables.
  auto add =
      main_->Exec(SpecSql(spec,
                          "INSERT INTO $STATES (model_id) SELECT m.$ID FROM $MODEL m "
                          "WHERE NOT EXISTS (SELECT 1 FROM $STATES s WHERE s.model_id = m.$ID) "
                          "ON CONFLICT DO NOTHING"));
  if (!add.ok()) return add.status();
  auto drop = main_->Exec(SpecSql(spec,
                                  "DELETE FROM $STATES s WHERE NOT EXISTS "
                                  "(SELECT 1 FROM $MODEL m WHERE m.$ID = s.model_id)"));
  return drop.status();
}

absl::StatusOr<int> Checksummer::Round() {
  if (auto s = Connect(); !s.ok()) return s;
  if (auto s = Heartbeat(*main_, opt_.worker_id); !s.ok()) return s;
  bool backfill = Now() - last_backfill_ > 60;
  int done = 0;
  for (const auto& spec : specs_) {
    auto exists = main_->Exec("SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                              {spec.model_table, StatesTable(spec)});
    if (!exists.ok()) return exists.status();
    if (!exists->GetBool(0, 0)) continue;
    if (backfill) {
      if (auto s = BackfillStates(spec); !s.ok()) return s;
    }
    // Rows of dead checksummers are released.
    auto reclaim = main_->Exec(
        SpecSql(
            spec,
            "UPDATE $STATES SET worker_id = NULL, state = CASE WHEN state = 1 THEN 0 ELSE state "
            "END "
            "WHERE worker_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM georep.workers w "
            "WHERE w.worker_id = $STATES.worker_id AND w.heartbeat_at > now() - make_interval(secs "
            "=> $1))"),
        {absl::StrCat(opt_.dead_worker_seconds)});
    if (!reclaim.ok()) return reclaim.status();
    auto n = ChecksumBatch(spec);
    if (!n.ok()) return n.status();
    done += *n;
  }
  if (backfill) last_backfill_ = Now();
  (void)FoldCounts(*main_);
  return done;
}

absl::StatusOr<int> Checksummer::ChecksumBatch(const ReplicableSpec& spec) {
  // Pending rows, then failed rows whose retry time came (FOR UPDATE cannot
  // sit under a UNION, so two claims).
  absl::StatusOr<db::Result> claimed = absl::InternalError("unset");
  // Pending, then failed and due for a retry, then checksummed and due for
  // re-verification (which stays counted as checksummed while it is re-read).
  for (absl::string_view pick : {"state = 0", "state = 3 AND retry_at <= now()",
                                 "state = 2 AND verified_at < now() - make_interval(secs => $3)"}) {
    claimed = main_->Exec(
        SpecSql(
            spec,
            absl::StrCat(
                "UPDATE $STATES s SET state = CASE WHEN s.state = 2 THEN 2 ELSE 1 END, "
                "started_at = now(), worker_id = $2 FROM (SELECT model_id FROM $STATES WHERE ",
                pick,
                " AND worker_id IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED) c "
                "WHERE s.model_id = c.model_id RETURNING s.model_id, s.checksum, s.retry_count, "
                "(SELECT ",
                PathSql(spec, "m"), " FROM $MODEL m WHERE m.$ID = s.model_id)")),
        ClaimParams(opt_, pick,
                    spec.strategy == Strategy::kRepository ? opt_.repository_interval_seconds
                                                           : opt_.interval_seconds));
    if (!claimed.ok()) return claimed.status();
    if (claimed->rows() > 0) break;
  }
  if (claimed->rows() == 0) return 0;
  // Hash the batch, then record it in one transaction: successes with one
  // statement, failures (rare) one by one.
  std::vector<int64_t> ok_ids;
  std::vector<std::string> ok_sums;
  struct Failed {
    int64_t id;
    int retries;
    std::string why;
  };
  std::vector<Failed> failed;
  std::vector<int64_t> changed;  // repositories whose refs moved without an event
  for (int i = 0; i < claimed->rows(); ++i) {
    int64_t id = claimed->GetInt64(i, 0);
    std::optional<std::string> recorded;
    if (!claimed->IsNull(i, 1)) recorded = std::string(claimed->Get(i, 1));
    int retries = static_cast<int>(claimed->GetInt64(i, 2));
    std::string failure;
    if (claimed->IsNull(i, 3)) {
      failure = "model row or its path is gone";
    } else {
      auto path =
          ConfinedPath(RootOf(spec, opt_.storage_root, opt_.repository_root), claimed->Get(i, 3));
      if (!path.ok()) {
        failure = std::string(path.status().message());
      } else {
        auto digest = LocalChecksum(spec, *path);
        if (!digest.ok()) {
          failure = std::string(digest.status().message());
        } else if (recorded && *recorded != *digest && spec.strategy == Strategy::kRepository) {
          // A push whose event was lost, or a write behind the application:
          // a new state of a mutable item, published like any update.
          log::Info("repository changed without an event; publishing it",
                    {{"replicable", spec.name}, {"id", id}, {"checksum", *digest}});
          changed.push_back(id);
          ok_ids.push_back(id);
          ok_sums.push_back(*digest);
        } else if (recorded && *recorded != *digest) {
          failure = absl::StrCat("checksum changed since it was last verified (", *recorded, " → ",
                                 *digest, "): the file was modified outside the application");
        } else {
          ok_ids.push_back(id);
          ok_sums.push_back(*digest);
        }
      }
    }
    if (!failure.empty()) {
      log::Warn("checksum failed", {{"replicable", spec.name}, {"id", id}, {"error", failure}});
      failed.push_back({id, retries, failure});
    }
  }
  absl::Status s = db::InTransaction(*main_, [&]() -> absl::Status {
    if (!ok_ids.empty()) {
      auto r =
          main_->Exec(SpecSql(spec,
                              "UPDATE $STATES s SET state = 2, checksum = v.sum, verified_at = "
                              "now(), failure = NULL, "
                              "retry_count = 0, retry_at = NULL, worker_id = NULL "
                              "FROM unnest($1::bigint[], $2::text[]) AS v(id, sum) "
                              "WHERE s.model_id = v.id AND s.worker_id = $3"),
                      {db::BigintArray(ok_ids), absl::StrCat("{", absl::StrJoin(ok_sums, ","), "}"),
                       opt_.worker_id});
      if (!r.ok()) return r.status();
    }
    if (!changed.empty()) {
      auto r = main_->Exec(
          "SELECT georep.publish_event($1, id, 'updated') FROM unnest($2::bigint[]) AS id",
          {spec.name, db::BigintArray(changed)});
      if (!r.ok()) return r.status();
    }
    for (const Failed& f : failed) {
      auto r = main_->Exec(
          SpecSql(spec,
                  "UPDATE $STATES SET state = 3, failure = left($2, 1000), "
                  "retry_count = retry_count + 1, retry_at = now() + make_interval(secs => $4), "
                  "worker_id = NULL WHERE model_id = $1 AND worker_id = $3"),
          {absl::StrCat(f.id), f.why, opt_.worker_id,
           absl::StrCat(RetryDelaySeconds(f.retries, false, Rand30))});
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return claimed->rows();
}

// -------------------------------------------------------------- secondary

Verifier::Verifier(VerificationOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {}

absl::Status Verifier::Connect() {
  if (auto s = db::EnsureOpen(standby_, opt_.main_conninfo); !s.ok()) return s;
  if (auto s = db::EnsureOpen(tracking_, opt_.tracking_conninfo, "SET synchronous_commit = off");
      !s.ok())
    return s;
  return absl::OkStatus();
}

void Verifier::Run(const std::atomic<bool>& stop) {
  std::string last_error;
  while (!stop.load()) {
    auto n = Round();
    if (!n.ok()) {
      std::string msg(n.status().message());
      if (msg != last_error) log::Warn("verifier round failed", {{"error", msg}});
      last_error = msg;
      standby_.reset();
      tracking_.reset();
      SleepUnless(stop, 1.0);
      continue;
    }
    last_error.clear();
    if (*n == 0) SleepUnless(stop, opt_.idle_poll_seconds);
  }
}

absl::StatusOr<int> Verifier::Round() {
  if (auto s = Connect(); !s.ok()) return s;
  if (auto s = Heartbeat(*tracking_, opt_.worker_id); !s.ok()) return s;
  // The maintained counts say which queries can find anything, so an idle
  // site costs one query a round rather than several per type.
  auto counts = ReadCounts(*tracking_);
  auto has = [&](const ReplicableSpec& spec, int state) {
    if (!counts.ok()) return true;
    auto it = counts->find(spec.name + ":verification");
    if (it == counts->end()) return false;
    auto c = it->second.find(state);
    return c != it->second.end() && c->second > 0;
  };
  // Copies due for re-verification are looked for a few times per interval.
  bool due = Now() - last_due_check_ >= std::min(5.0, opt_.interval_seconds / 4);
  if (due) last_due_check_ = Now();
  bool reconcile = Now() - last_reconcile_ >= opt_.repository_interval_seconds;
  int done = 0;
  for (const auto& spec : specs_) {
    if (reconcile && spec.strategy == Strategy::kRepository) {
      auto queued = ReconcileRepositories(spec);
      if (!queued.ok()) return queued.status();
    }
    if (has(spec, kVerificationDisabled)) {
      auto settled = SettleDisabled(spec);
      if (!settled.ok()) return settled.status();
      done += *settled;
    }
    auto scrubbed = Scrub(spec, has(spec, kVerificationPending), has(spec, kVerificationStarted),
                          due && has(spec, kVerificationSucceeded));
    if (!scrubbed.ok()) return scrubbed.status();
    done += *scrubbed;
  }
  if (reconcile) last_reconcile_ = Now();
  return done;
}

absl::StatusOr<int> Verifier::ReconcileRepositories(const ReplicableSpec& spec) {
  auto exists = standby_->Exec("SELECT to_regclass($1) IS NOT NULL", {StatesTable(spec)});
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return 0;
  // The primary's digests, a chunk of ids at a time (they live in another
  // database), each chunk compared with the registry by one statement.
  constexpr int kChunk = 10000;
  int queued = 0;
  int64_t after = 0;
  while (true) {
    auto theirs = standby_->Exec(
        SpecSql(spec,
                "SELECT coalesce(array_agg(model_id ORDER BY model_id), '{}')::text, "
                "coalesce(array_agg(checksum ORDER BY model_id), '{}')::text, max(model_id) FROM "
                "(SELECT model_id, checksum FROM $STATES WHERE state = 2 AND model_id > $1 "
                "ORDER BY model_id LIMIT $2) c"),
        {absl::StrCat(after), absl::StrCat(kChunk)});
    if (!theirs.ok()) return theirs.status();
    if (theirs->IsNull(0, 2)) break;
    auto r = tracking_->Exec(
        SpecSql(spec,
                "UPDATE $REG r SET state = 0, retry_count = 0, retry_at = NULL, "
                "missing_on_primary = false FROM unnest($1::bigint[], $2::text[]) AS p(id, sum) "
                "WHERE r.model_id = p.id AND r.state = 2 AND r.checksum IS DISTINCT FROM p.sum"),
        {std::string(theirs->Get(0, 0)), std::string(theirs->Get(0, 1))});
    if (!r.ok()) return r.status();
    queued += static_cast<int>(r->affected_rows());
    after = theirs->GetInt64(0, 2);
  }
  if (queued > 0) {
    log::Info("repositories differing from the primary queued for sync",
              {{"replicable", spec.name}, {"count", static_cast<int64_t>(queued)}});
  }
  return queued;
}

// Synced rows whose primary had no checksum: verified (or failed) once it has.
absl::StatusOr<int> Verifier::SettleDisabled(const ReplicableSpec& spec) {
  auto rows = tracking_->Exec(
      SpecSql(spec,
              "SELECT model_id, checksum FROM $REG WHERE state = 2 AND verification_state = 4 "
              "ORDER BY model_id LIMIT 1000"));
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0) return 0;
  std::vector<int64_t> ids;
  for (int i = 0; i < rows->rows(); ++i) ids.push_back(rows->GetInt64(i, 0));
  auto primary = PrimaryChecksums(*standby_, spec, ids);
  if (!primary.ok()) return primary.status();
  std::vector<int64_t> match, mismatch;
  for (int i = 0; i < rows->rows(); ++i) {
    auto it = primary->find(rows->GetInt64(i, 0));
    if (it == primary->end()) continue;
    (it->second == rows->Get(i, 1) ? match : mismatch).push_back(rows->GetInt64(i, 0));
  }
  if (!match.empty()) {
    auto r = tracking_->Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_state = 2, verified_at = now(), "
                "verification_failure = NULL WHERE state = 2 AND verification_state = 4 "
                "AND model_id = ANY($1::bigint[])"),
        {db::BigintArray(match)});
    if (!r.ok()) return r.status();
  }
  for (int64_t id : mismatch) {
    auto r = tracking_->Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_state = 3, verification_retry_count = "
                "verification_retry_count + 1, "
                "verification_failure = 'checksum does not match the primary''s', state = 3, "
                "last_sync_failure = 'verification: checksum does not match the primary''s', "
                "retry_count = retry_count + 1, retry_at = now() + make_interval(secs => $2) "
                "WHERE model_id = $1 AND state = 2 AND verification_state = 4"),
        {absl::StrCat(id), "0"});  // fetched again at once
    if (!r.ok()) return r.status();
  }
  return static_cast<int>(match.size() + mismatch.size());
}

// Re-reads synced copies that are due (interval) or asked for (pending).
absl::StatusOr<int> Verifier::Scrub(const ReplicableSpec& spec, bool pending, bool started,
                                    bool due) {
  if (!pending && !started && !due) return 0;
  // Rows of dead daemons: released (a started check goes back to pending).
  if (started) {
    auto reclaim = tracking_->Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_worker = NULL, verification_state = CASE WHEN "
                "verification_state = 1 "
                "THEN 0 ELSE verification_state END WHERE verification_worker IS NOT NULL AND NOT "
                "EXISTS "
                "("
                "SELECT 1 FROM georep.workers w WHERE w.worker_id = $REG.verification_worker "
                "AND w.heartbeat_at > now() - make_interval(secs => $1))"),
        {absl::StrCat(opt_.dead_worker_seconds)});
    if (!reclaim.ok()) return reclaim.status();
  }
  // Asked for (pending → started), else due on the interval (a verified copy
  // stays counted as verified while it is re-read).
  absl::StatusOr<db::Result> claimed = absl::InternalError("unset");
  for (absl::string_view pick :
       {"verification_state = 0",
        "verification_state = 2 AND verified_at < now() - make_interval(secs => $3)"}) {
    if (pick == "verification_state = 0" ? !(pending || started) : !due) continue;
    claimed = tracking_->Exec(
        SpecSql(
            spec,
            absl::StrCat(
                "UPDATE $REG r SET verification_state = CASE WHEN r.verification_state = 0 THEN 1 "
                "ELSE r.verification_state END, verification_started_at = now(), "
                "verification_worker = $2 FROM (SELECT model_id FROM $REG WHERE state = 2 AND ",
                pick,
                " AND verification_worker IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED) c "
                "WHERE r.model_id = c.model_id "
                "RETURNING r.model_id, coalesce(r.local_path, ''), r.verification_retry_count")),
        ClaimParams(opt_, pick, opt_.interval_seconds));
    if (!claimed.ok()) return claimed.status();
    if (claimed->rows() > 0) break;
  }
  if (!claimed.ok() || claimed->rows() == 0) return 0;  // nothing was looked for
  std::vector<int64_t> ids;
  for (int i = 0; i < claimed->rows(); ++i) ids.push_back(claimed->GetInt64(i, 0));
  auto primary = PrimaryChecksums(*standby_, spec, ids);
  if (!primary.ok()) return primary.status();
  // Hash first, then record the whole batch in one transaction: verified and
  // disabled rows with one statement each, failures one by one.
  std::vector<int64_t> verified_ids, disabled;
  std::vector<std::string> verified_sums;
  if (auto b = tracking_->Exec("BEGIN"); !b.ok()) return b.status();
  for (int i = 0; i < claimed->rows(); ++i) {
    int64_t id = claimed->GetInt64(i, 0);
    std::string path(claimed->Get(i, 1));
    auto it = primary->find(id);
    absl::StatusOr<db::Result> r = absl::InternalError("no outcome");  // every branch below sets it
    std::string failure;
    std::string local;
    if (it != primary->end()) {
      auto digest = path.empty() ? absl::StatusOr<std::string>(absl::NotFoundError("no local copy"))
                                 : LocalChecksum(spec, path);
      if (!digest.ok()) {
        failure = absl::StrCat("verification: ", digest.status().message());
      } else if (*digest != it->second) {
        failure = absl::StrCat("verification: checksum ", *digest, " does not match the primary's ",
                               it->second);
      } else {
        local = *digest;
      }
    }
    if (it == primary->end()) {
      disabled.push_back(id);
      continue;
    } else if (failure.empty()) {
      verified_ids.push_back(id);
      verified_sums.push_back(local);
      continue;
    } else {
      int retries = static_cast<int>(claimed->GetInt64(i, 2));
      r = tracking_->Exec(
          SpecSql(spec,
                  "UPDATE $REG SET verification_state = 3, verification_failure = left($3, 1000), "
                  "verification_retry_count = verification_retry_count + 1, verification_worker = "
                  "NULL, "
                  "state = 3, last_sync_failure = left($3, 1000), retry_count = retry_count + 1, "
                  "retry_at = now() + make_interval(secs => $4) "
                  "WHERE model_id = $1 AND verification_worker = $2 AND state = 2"),
          // A damaged copy is fetched again at once; backoff only if repairs keep failing.
          {absl::StrCat(id), opt_.worker_id, failure,
           absl::StrCat(retries == 0 ? 0.0 : RetryDelaySeconds(retries - 1, false, Rand30))});
      log::Warn("verification failed; resyncing",
                {{"replicable", spec.name}, {"id", id}, {"error", failure}});
    }
    if (!r.ok()) {
      (void)tracking_->Exec("ROLLBACK");
      return r.status();
    }
  }
  if (!verified_ids.empty()) {
    auto r = tracking_->Exec(
        SpecSql(
            spec,
            "UPDATE $REG r SET verification_state = 2, verified_at = now(), checksum = v.sum, "
            "verification_failure = NULL, verification_retry_count = 0, verification_worker = NULL "
            "FROM unnest($1::bigint[], $2::text[]) AS v(id, sum) "
            "WHERE r.model_id = v.id AND r.verification_worker = $3"),
        {db::BigintArray(verified_ids), absl::StrCat("{", absl::StrJoin(verified_sums, ","), "}"),
         opt_.worker_id});
    if (!r.ok()) {
      (void)tracking_->Exec("ROLLBACK");
      return r.status();
    }
  }
  if (!disabled.empty()) {
    auto r = tracking_->Exec(
        SpecSql(spec,
                "UPDATE $REG SET verification_state = 4, verification_worker = NULL "
                "WHERE model_id = ANY($1::bigint[]) AND verification_worker = $2"),
        {db::BigintArray(disabled), opt_.worker_id});
    if (!r.ok()) {
      (void)tracking_->Exec("ROLLBACK");
      return r.status();
    }
  }
  if (auto c = tracking_->Exec("COMMIT"); !c.ok()) return c.status();
  return claimed->rows();
}

// -------------------------------------------------------------- operators

namespace {

std::string Where(const Selection& sel, absl::string_view failed_clause) {
  if (sel.id > 0) return absl::StrCat("model_id = ", sel.id);
  if (sel.failed_only) return std::string(failed_clause);
  return "true";
}

}  // namespace

absl::StatusOr<int64_t> Resync(db::Connection& tracking, const ReplicableSpec& spec,
                               const Selection& sel) {
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat("UPDATE $REG SET state = 0, retry_count = 0, retry_at = NULL, "
                                 "missing_on_primary = false WHERE state <> 1 AND ",
                                 Where(sel, "(state = 3 OR verification_state = 3)"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<int64_t> ReverifySecondary(db::Connection& tracking, const ReplicableSpec& spec,
                                          const Selection& sel) {
  auto r = tracking.Exec(
      SpecSql(spec, absl::StrCat("UPDATE $REG SET verification_state = 0 WHERE state = 2 AND "
                                 "verification_state <> 1 AND ",
                                 Where(sel, "verification_state = 3"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

absl::StatusOr<int64_t> ReverifyPrimary(db::Connection& main, const ReplicableSpec& spec,
                                        const Selection& sel) {
  auto r = main.Exec(SpecSql(
      spec, absl::StrCat("UPDATE $STATES SET state = 0, retry_at = NULL WHERE state <> 1 AND ",
                         Where(sel, "state = 3"))));
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

}  // namespace georep::framework
