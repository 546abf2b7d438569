#include "framework/verify/verifier.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "framework/registry/primary_states.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/sync/backoff.h"
#include "framework/sync/strategy.h"
#include "util/clock.h"
#include "util/logging.h"
#include "util/loop.h"

namespace georep::framework {
namespace {}  // namespace

Verifier::Verifier(VerificationOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {}

absl::Status Verifier::Connect() {
  if (auto s = db::EnsureOpen(standby_, opt_.main_conninfo); !s.ok()) return s;
  if (auto s = db::EnsureOpen(tracking_, opt_.tracking_conninfo, "SET synchronous_commit = off");
      !s.ok())
    return s;
  return absl::OkStatus();
}

void Verifier::Run(const StopSignal& stop, Doorbell* doorbell) {
  LoopOptions loop{"verifier", 1.0,
                   [this] {
                     standby_.reset();
                     tracking_.reset();
                   },
                   doorbell};
  constexpr double kFirstLook = 0.005;
  double look = 0;  // the next quick look's wait; 0: none due
  RunLoop(loop, stop, [&]() -> absl::StatusOr<double> {
    bool woken = doorbell != nullptr && doorbell->TakeWoken();
    auto n = Round();
    if (!n.ok()) return n.status();
    if (*n > 0) return 0.0;
    look = woken ? kFirstLook : look * 2;
    if (unsettled_ && look > 0 && look < opt_.idle_poll_seconds) return look;
    look = 0;
    // A paced scrub with more due copies goes on when its pace allows.
    const double paced = scrub_next_at_ - opt_.clock->Monotonic();
    if (!due_backlog_.empty() && paced < opt_.idle_poll_seconds) return std::max(0.0, paced);
    return opt_.idle_poll_seconds;
  });
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
  // Copies due for re-verification are looked for a few times per interval,
  // and in every round while the last look at a type claimed a full batch
  // (a backlog of due copies is read back to back, not a batch per look).
  bool due = opt_.clock->Monotonic() - last_due_check_ >= std::min(5.0, opt_.interval_seconds / 4);
  if (due) last_due_check_ = opt_.clock->Monotonic();
  // A paced scrub (scrub_rate) reads no due copies before its next turn.
  const bool paced_out = opt_.scrub_rate > 0 && opt_.clock->Monotonic() < scrub_next_at_;
  std::set<std::string> due_backlog = due_backlog_;
  if (!paced_out) due_backlog_.clear();
  bool reconcile = opt_.clock->Monotonic() - last_reconcile_ >= opt_.repository_interval_seconds;
  // The log cursor fell back past pruned events (events/log_cursor.h): the
  // updates it missed are found by comparing every copy, of every type.
  auto fallbacks = tracking_->Exec(
      "SELECT fallbacks FROM georep.event_cursor WHERE name = 'main' "
      "AND fallbacks > reconciled_fallbacks");
  if (!fallbacks.ok()) return fallbacks.status();
  const bool after_fallback = fallbacks->rows() > 0;
  int done = 0;
  unsettled_ = false;
  for (const auto& spec : specs_) {
    if (after_fallback || (reconcile && DescriptorOf(spec).mutable_in_place)) {
      auto queued = Reconcile(spec);
      if (!queued.ok()) return queued.status();
    }
    if (has(spec, kVerificationDisabled)) {
      auto settled = SettleDisabledRows(spec);
      if (!settled.ok()) return settled.status();
      done += *settled;
    }
    auto scrubbed = Scrub(spec, has(spec, kVerificationPending), has(spec, kVerificationStarted),
                          !paced_out && (due || due_backlog.contains(spec.name)) &&
                              has(spec, kVerificationSucceeded));
    if (!scrubbed.ok()) return scrubbed.status();
    done += *scrubbed;
  }
  if (reconcile) last_reconcile_ = opt_.clock->Monotonic();
  if (after_fallback) {
    auto r = tracking_->Exec(
        "UPDATE georep.event_cursor SET reconciled_fallbacks = greatest(reconciled_fallbacks, $1) "
        "WHERE name = 'main'",
        {std::string(fallbacks->Get(0, 0))});
    if (!r.ok()) return r.status();
    log::Info("every copy compared with the primary's checksums after the log cursor's fallback");
  }
  return done;
}

absl::StatusOr<int> Verifier::Reconcile(const ReplicableSpec& spec) {
  // The primary's checksums live in another database: a chunk of ids at a
  // time, each compared with the registry by one statement.
  constexpr int kChunk = 10000;
  int64_t queued = 0;
  int64_t after = 0;
  while (true) {
    auto theirs = SucceededChecksumsAfter(*standby_, spec, after, kChunk);
    if (!theirs.ok()) return theirs.status();
    if (!theirs->last_id) break;
    auto n = QueueDiffering(*tracking_, spec, theirs->ids, theirs->checksums);
    if (!n.ok()) return n.status();
    queued += *n;
    after = *theirs->last_id;
  }
  if (queued > 0) {
    log::Info("copies differing from the primary queued for sync",
              {{"replicable", spec.name}, {"count", queued}});
  }
  return static_cast<int>(queued);
}

// Synced rows whose primary had no checksum: verified (or failed) once it has.
absl::StatusOr<int> Verifier::SettleDisabledRows(const ReplicableSpec& spec) {
  auto rows = DisabledRows(*tracking_, spec, 1000);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return 0;
  std::vector<int64_t> ids;
  for (const auto& [id, sum] : *rows) ids.push_back(id);
  auto primary = PrimaryChecksums(*standby_, spec, ids);
  if (!primary.ok()) return primary.status();
  std::vector<int64_t> match, mismatch;
  for (const auto& [id, sum] : *rows) {
    auto it = primary->find(id);
    if (it == primary->end()) {
      unsettled_ = true;
      continue;
    }
    (it->second == sum ? match : mismatch).push_back(id);
  }
  if (auto s = SettleDisabled(*tracking_, spec, match, mismatch); !s.ok()) return s;
  return static_cast<int>(match.size() + mismatch.size());
}

// Re-reads synced copies that are due (interval) or asked for (pending).
absl::StatusOr<int> Verifier::Scrub(const ReplicableSpec& spec, bool pending, bool started,
                                    bool due) {
  if (!pending && !started && !due) return 0;
  if (started) {
    if (auto s = ReleaseDeadVerifications(*tracking_, spec, opt_.dead_worker_seconds); !s.ok())
      return s;
  }
  // Asked for (pending → started), else due on the interval.
  std::vector<VerificationClaim> claimed;
  for (VerificationPick pick : {VerificationPick::kAsked, VerificationPick::kDue}) {
    if (pick == VerificationPick::kAsked ? !(pending || started) : !due) continue;
    // A paced scrub claims a tenth of a second's worth at a time.
    const bool paced = pick == VerificationPick::kDue && opt_.scrub_rate > 0;
    const int limit =
        paced ? std::clamp(static_cast<int>(opt_.scrub_rate / 10), 1, opt_.batch) : opt_.batch;
    auto c =
        ClaimVerifications(*tracking_, spec, opt_.worker_id, limit, pick, opt_.interval_seconds);
    if (!c.ok()) return c.status();
    claimed = std::move(*c);
    if (pick == VerificationPick::kDue && static_cast<int>(claimed.size()) >= limit)
      due_backlog_.insert(spec.name);
    if (paced && !claimed.empty()) {
      scrub_next_at_ = std::max(scrub_next_at_, opt_.clock->Monotonic()) +
                       static_cast<double>(claimed.size()) / opt_.scrub_rate;
    }
    if (!claimed.empty()) break;
  }
  if (claimed.empty()) return 0;
  std::vector<int64_t> ids;
  for (const auto& c : claimed) ids.push_back(c.model_id);
  auto primary = PrimaryChecksums(*standby_, spec, ids);
  if (!primary.ok()) return primary.status();
  // Check first, then record the whole batch in one transaction: verified and
  // disabled rows with one statement each, failures one by one.
  const StrategyDescriptor& strategy = DescriptorOf(spec);
  std::vector<int64_t> verified_ids, disabled;
  std::vector<std::string> verified_sums;
  struct Failed {
    int64_t id;
    int retries;
    std::string why;
  };
  std::vector<Failed> failed;
  // Copies with a primary checksum are read, up to `capacity` at once.
  std::vector<std::string> paths;
  for (const VerificationClaim& c : claimed) {
    paths.push_back(primary->contains(c.model_id) ? c.local_path : std::string());
  }
  std::vector<absl::StatusOr<std::string>> digests =
      LocalChecksums(strategy, *opt_.blobs, paths, opt_.capacity);
  for (size_t k = 0; k < claimed.size(); ++k) {
    const VerificationClaim& c = claimed[k];
    auto it = primary->find(c.model_id);
    if (it == primary->end()) {
      disabled.push_back(c.model_id);
      continue;
    }
    const absl::StatusOr<std::string>& digest = digests[k];
    if (!digest.ok()) {
      failed.push_back(
          {c.model_id, c.retry_count, absl::StrCat("verification: ", digest.status().message())});
    } else if (*digest != it->second) {
      failed.push_back({c.model_id, c.retry_count,
                        absl::StrCat("verification: checksum ", *digest,
                                     " does not match the primary's ", it->second)});
    } else {
      verified_ids.push_back(c.model_id);
      verified_sums.push_back(*digest);
    }
  }
  absl::Status s = db::InTransaction(*tracking_, [&]() -> absl::Status {
    for (const Failed& f : failed) {
      log::Warn("verification failed; resyncing",
                {{"replicable", spec.name}, {"id", f.id}, {"error", f.why}});
      // A damaged copy is fetched again at once; backoff only if repairs keep failing.
      double delay = f.retries == 0 ? 0.0 : RetryDelaySeconds(f.retries - 1, false, Jitter30);
      if (auto r = RecordVerificationFailure(*tracking_, spec, opt_.worker_id, f.id, f.why, delay);
          !r.ok())
        return r;
    }
    if (auto r = RecordVerified(*tracking_, spec, opt_.worker_id, verified_ids, verified_sums);
        !r.ok())
      return r;
    return RecordVerificationDisabled(*tracking_, spec, opt_.worker_id, disabled);
  });
  if (!s.ok()) return s;
  return static_cast<int>(claimed.size());
}

}  // namespace georep::framework
