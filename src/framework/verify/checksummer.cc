#include "framework/verify/checksummer.h"

#include "absl/strings/str_cat.h"
#include "framework/registry/primary_states.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/spec/states.h"
#include "framework/sync/backoff.h"
#include "framework/sync/strategy.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/loop.h"
#include "util/status_macros.h"

namespace georep::framework {
namespace {}  // namespace

Checksummer::Checksummer(VerificationOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {}

absl::Status Checksummer::Connect() {
  if (main_) return absl::OkStatus();
  auto c = db::Connection::Open(opt_.main_conninfo);
  if (!c.ok()) return c.status();
  // Results commit synchronously (one flush per batch): an asynchronous
  // commit reaches the standbys only when the WAL writer next flushes (up to
  // three times wal_writer_delay, 600 ms by default), and a secondary that
  // synced the item meanwhile could not verify its copy inline, leaving it
  // to the verifier's next round.
  // Publish triggers notify on every new or changed row: checksum it at once.
  if (auto r = (*c)->Exec("LISTEN georep_checksum"); !r.ok()) return r.status();
  main_ = std::move(*c);
  return absl::OkStatus();
}

void Checksummer::Run(const StopSignal& stop) {
  LoopOptions loop{"checksummer", 1.0, [this] { main_.reset(); }};
  // Idle: woken by a notification, else a full round every
  // kIdleRoundSeconds (re-verification and retries come due without one).
  constexpr double kIdleRoundSeconds = 2.0;
  bool woken = false;  // by a notification, or a pending round that found work
  RunLoop(loop, stop, [&]() -> absl::StatusOr<double> {
    bool full = !woken || opt_.clock->Monotonic() - last_round_ >= kIdleRoundSeconds;
    auto n = full ? Round() : PendingRound();
    woken = false;
    if (!n.ok()) return n.status();
    if (*n > 0) {
      // More may be waiting, of the same kind: a full round's work may be
      // re-verification, which a pending round does not claim.
      woken = !full;
      return 0.0;
    }
    for (double waited = 0; waited < kIdleRoundSeconds && !stop.stopped();
         waited += opt_.idle_poll_seconds) {
      auto notified = main_->WaitForNotification(opt_.idle_poll_seconds);
      if (!notified.ok()) return notified.status();
      if (*notified) {
        woken = true;
        break;
      }
    }
    return 0.0;
  });
  if (main_) (void)RetireWorker(*main_, opt_.worker_id);
}

absl::StatusOr<int> Checksummer::Round() {
  GEOREP_RETURN_IF_ERROR(Connect());
  GEOREP_RETURN_IF_ERROR(Heartbeat(*main_, opt_.worker_id));
  bool backfill = opt_.clock->Monotonic() - last_backfill_ > 60;
  int done = 0;
  for (const auto& spec : specs_) {
    GEOREP_ASSIGN_OR_RETURN(
        db::Result exists,
        main_->Exec("SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                    {spec.model_table, StatesTable(spec)}));
    if (!exists.GetBool(0, 0)) continue;
    if (backfill) GEOREP_RETURN_IF_ERROR(BackfillStates(*main_, spec));
    GEOREP_RETURN_IF_ERROR(ReleaseDeadChecksummers(*main_, spec, opt_.dead_worker_seconds));
    GEOREP_ASSIGN_OR_RETURN(int n, ChecksumBatch(spec, /*include_due=*/true));
    done += n;
  }
  if (backfill) last_backfill_ = opt_.clock->Monotonic();
  last_round_ = opt_.clock->Monotonic();
  (void)FoldCounts(*main_);
  return done;
}

absl::StatusOr<int> Checksummer::PendingRound() {
  GEOREP_RETURN_IF_ERROR(Connect());
  GEOREP_ASSIGN_OR_RETURN(Counts counts, ReadCounts(*main_));
  int done = 0;
  for (const auto& spec : specs_) {
    auto it = counts.find(spec.name);
    if (it == counts.end()) continue;
    auto n = [&](VerificationState state) {
      auto c = it->second.find(static_cast<int>(state));
      return c == it->second.end() ? 0 : c->second;
    };
    // A states row's state is a VerificationState.
    if (n(kVerificationPending) <= 0 && n(kVerificationFailed) <= 0) continue;
    GEOREP_ASSIGN_OR_RETURN(int k, ChecksumBatch(spec, /*include_due=*/false));
    done += k;
  }
  return done;
}

absl::StatusOr<int> Checksummer::ChecksumBatch(const ReplicableSpec& spec, bool include_due) {
  const StrategyDescriptor& strategy = DescriptorOf(spec);
  double interval =
      strategy.mutable_in_place ? opt_.repository_interval_seconds : opt_.interval_seconds;
  std::vector<ChecksumClaim> claimed;
  ChecksumPick picked = ChecksumPick::kPending;
  for (ChecksumPick pick : {ChecksumPick::kPending, ChecksumPick::kRetry, ChecksumPick::kDue}) {
    if (pick == ChecksumPick::kDue && !include_due) break;
    auto c = ClaimChecksums(*main_, spec, opt_.worker_id, opt_.batch, pick, interval);
    if (!c.ok()) return c.status();
    claimed = std::move(*c);
    picked = pick;
    if (!claimed.empty()) break;
  }
  if (claimed.empty()) return 0;
  // Checksum the batch, then record it in one transaction: successes with one
  // statement, failures (rare) one by one.
  std::vector<int64_t> ok_ids;
  std::vector<std::string> ok_sums;
  struct Failed {
    int64_t id;
    int retries;
    std::string why;
  };
  std::vector<Failed> failed;
  std::vector<int64_t> changed;  // items changed in place without an event
  // Where each item is (empty when it cannot be read), then up to
  // `capacity` read at once.
  std::vector<std::string> failures(claimed.size()), paths(claimed.size());
  // A new or changed row whose application keeps a digest of the bytes:
  // that digest is its checksum now, and the bytes are read against it at
  // the re-verification pace (a reverify, or a retry, reads them at once).
  auto taken_from_app = [&](const ChecksumClaim& c) {
    return picked == ChecksumPick::kPending && !c.recorded && c.app_checksum && c.path;
  };
  for (size_t k = 0; k < claimed.size(); ++k) {
    const ChecksumClaim& c = claimed[k];
    if (!c.path) {
      failures[k] = "model row or its path is gone";
      continue;
    }
    auto path = ItemLocation(spec, *opt_.blobs, opt_.repository_root, *c.path);
    if (path.ok()) {
      if (!taken_from_app(c)) paths[k] = *path;
    } else {
      failures[k] = std::string(path.status().message());
    }
  }
  std::vector<absl::StatusOr<std::string>> digests =
      LocalChecksums(strategy, *opt_.blobs, paths, opt_.capacity);
  for (size_t k = 0; k < claimed.size(); ++k) {
    const ChecksumClaim& c = claimed[k];
    std::string failure = failures[k];
    const absl::StatusOr<std::string>& digest = digests[k];
    if (failure.empty() && taken_from_app(c)) {
      ok_ids.push_back(c.model_id);
      ok_sums.push_back(*c.app_checksum);
      continue;
    }
    if (failure.empty()) {
      if (!digest.ok()) {
        failure = std::string(digest.status().message());
      } else if (c.recorded && *c.recorded != *digest && strategy.mutable_in_place) {
        // A push whose event was lost, or a write behind the application:
        // a new state of a mutable item, published like any update.
        log::Info("changed without an event; publishing it",
                  {{"replicable", spec.name}, {"id", c.model_id}, {"checksum", *digest}});
        changed.push_back(c.model_id);
        ok_ids.push_back(c.model_id);
        ok_sums.push_back(*digest);
      } else if (c.recorded && *c.recorded != *digest && c.app_checksum == c.recorded) {
        failure = absl::StrCat("the bytes do not match the application's checksum (",
                               spec.checksum_column, " = ", *c.recorded, ", the bytes hash to ",
                               *digest, ")");
      } else if (c.recorded && *c.recorded != *digest) {
        failure = absl::StrCat("checksum changed since it was last verified (", *c.recorded, " → ",
                               *digest, "): the file was modified outside the application");
      } else {
        ok_ids.push_back(c.model_id);
        ok_sums.push_back(*digest);
      }
    }
    if (!failure.empty()) {
      log::Warn("checksum failed",
                {{"replicable", spec.name}, {"id", c.model_id}, {"error", failure}});
      failed.push_back({c.model_id, c.retry_count, failure});
    }
  }
  GEOREP_RETURN_IF_ERROR(db::InTransaction(*main_, [&]() -> absl::Status {
    GEOREP_RETURN_IF_ERROR(RecordChecksums(*main_, spec, opt_.worker_id, ok_ids, ok_sums));
    if (!changed.empty()) {
      std::string publish = StateSql(
          "SELECT georep.publish_event($1, id, $E_UPDATED) FROM unnest($2::bigint[]) AS id");
      GEOREP_RETURN_IF_ERROR(main_->Exec(publish, {spec.name, db::BigintArray(changed)}).status());
    }
    for (const Failed& f : failed) {
      GEOREP_RETURN_IF_ERROR(RecordChecksumFailure(*main_, spec, opt_.worker_id, f.id, f.why,
                                                   RetryDelaySeconds(f.retries, false, Jitter30)));
    }
    return absl::OkStatus();
  }));
  return static_cast<int>(claimed.size());
}

}  // namespace georep::framework
