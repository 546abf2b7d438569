// The sync scheduler of one secondary daemon: claims registry rows in
// batches (FOR UPDATE SKIP LOCKED, so any number of daemons share a tracking
// DB) and runs them on two pools of worker threads, `capacity` for blobs and
// `repos_capacity` for repositories (the site's files_max_capacity and
// repos_max_capacity; a strategy's descriptor names its pool), interleaving
// the replicables round-robin so that no type starves another.
//
// A sync that cannot reach the primary (refused, timed out, 5xx) makes the
// whole scheduler wait: no claims while its health is probed every
// probe_seconds; when it answers, the failed rows are due at once instead of
// after each one's backoff.
//
// Rows are claimed ahead of the workers (up to capacity × queue_factor, in
// batches whose model paths are read from the standby in one query), so a
// worker never waits on a claim. Its loop also beats this daemon's
// heartbeat, reclaims started rows of dead daemons or past the sync timeout,
// removes temp files of dead daemons, and folds the registry counts.
//
// Thread-safe: Start/Stop from one thread; workers synchronise on mu_.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "config/defaults.h"
#include "framework/registry/registry_store.h"
#include "framework/sync/strategy.h"
#include "framework/sync/syncer.h"
#include "georep/replicable.h"
#include "util/mutex.h"

namespace georep::framework {

struct SchedulerOptions {
  SyncContext sync;
  int capacity = 10;        // concurrent blob syncs (geo_nodes.files_max_capacity)
  int repos_capacity = 10;  // concurrent repository syncs (geo_nodes.repos_max_capacity)
  // Claimed rows kept ready: capacity × this, and more while syncs are
  // fast: what the workers finish in claim_ahead_seconds, up to capacity ×
  // batch_max, so every worker can take a full batch. Bounded by time, a
  // queue of large blobs stays short (its rows wait far less than the sync
  // timeout) while a backlog of small ones is fetched in large batches.
  int queue_factor = 4;
  double claim_ahead_seconds = 2;
  // Most blobs of one replicable a worker fetches in one request (under
  // load: a worker takes its share of the queue; 1 turns batching off).
  int batch_max = defaults::kMaxBatchItems;
  double dead_worker_seconds = defaults::kDeadWorkerSeconds;
  double sync_timeout_seconds = defaults::kSyncTimeoutSeconds;
  // With nothing to do, look again this often (resyncs, retries coming due,
  // backfilled rows); new events wake it at once (Wake, from the log cursor).
  double idle_poll_seconds = 0.2;
  // While the primary is unreachable (a sync said so), its /api/v1/health
  // is probed this often instead of claiming; when it answers 200, failed
  // rows are due at once.
  double probe_seconds = 0.5;
  double probe_timeout_seconds = 2;
  // Makes a worker thread's syncer for a strategy; empty: the strategy's own
  // (MakeSyncer). Tests hand in a fake.
  std::function<std::unique_ptr<Syncer>(Strategy, const SyncContext&)> make_syncer;
  // Told how long each sync took (one item, or one batch fetched in one
  // request), for metrics; may be empty.
  std::function<void(const ReplicableSpec&, double seconds)> on_synced;
  // Told, every housekeeping, the replication latency of each copy verified
  // since (CollectLatencies: from the event on the primary to the verified
  // copy), for metrics; empty: not collected.
  std::function<void(const ReplicableSpec&, const std::vector<double>& seconds)> on_latencies;
};

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, std::vector<ReplicableSpec> specs);
  ~Scheduler();

  void Start();
  void Stop();
  // New work may be waiting (the log cursor applied events): claim now.
  void Wake();

 private:
  struct Job {
    size_t spec;
    ClaimedItem item;
  };
  // What Loop keeps from one round to the next (scheduler.cc).
  struct LoopState;
  // Claims ahead of the workers until stopped, in rounds: MeasureRoom,
  // Reconnect when needed, housekeeping, WaitForPrimary, Claim,
  // AwaitNextRound.
  void Loop();
  // Sets each pool's room_max from the rows its workers finish per second.
  void MeasureRoom(LoopState& state) ABSL_LOCKS_EXCLUDED(mu_);
  // Opens the tracking and standby connections; false, after waiting up to a
  // second, when one cannot be opened.
  bool Reconnect(LoopState& state) ABSL_LOCKS_EXCLUDED(mu_);
  // Claims into each pool's room, round-robin over the replicables that have
  // work; the rows claimed, in all and per pool (`claimed_in`).
  int Claim(LoopState& state, std::array<int, kCapacityPools>& claimed_in) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns at once when more may be waiting; else waits until half a pool's
  // queue has drained, a wake-up (when nothing was claimed), Stop or a
  // timeout.
  void AwaitNextRound(const LoopState& state, const std::array<int, kCapacityPools>& claimed_in,
                      int claimed) ABSL_LOCKS_EXCLUDED(mu_);
  void Work(int pool);
  int Capacity(int pool) const;
  bool stopped() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Housekeeping(db::Connection& tracking);
  // True when the primary is not known to be unreachable, or answers its
  // probe now (then failed rows are made due).
  bool WaitForPrimary(db::Connection& tracking);
  // Claims a batch of one replicable and queues it; returns how many.
  absl::StatusOr<int> ClaimInto(db::Connection& tracking, db::Connection& standby, size_t spec,
                                int limit);

  SchedulerOptions opt_;
  std::vector<ReplicableSpec> specs_;
  std::thread loop_;
  std::vector<std::thread> workers_;

  // Waiters wait on conditions over these (Mutex evaluates them when
  // it is released), not on condition variables.
  Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> pool_of_;  // per spec: its CapacityPool
  // Per CapacityPool.
  std::deque<Job> queue_[kCapacityPools] ABSL_GUARDED_BY(mu_);
  int in_flight_[kCapacityPools] ABSL_GUARDED_BY(mu_) = {};  // queued + running
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  int64_t finished_[kCapacityPools] ABSL_GUARDED_BY(mu_) = {};  // rows the workers finished
  int failed_probes_ = 0;  // Loop's own: probes of the primary failed in a row
};

}  // namespace georep::framework
