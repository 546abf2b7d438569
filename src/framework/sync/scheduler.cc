#include "framework/sync/scheduler.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "framework/storage/uploads.h"
#include "framework/sync/strategy.h"
#include "transport/http_client.h"
#include "util/logging.h"
#include "util/loop.h"

namespace georep::framework {

using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(SchedulerOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {
  if (!opt_.sync.completions) opt_.sync.completions = std::make_shared<CompletionGroup>();
  opt_.sync.stopping = [this] { return stopped(); };
  if (!opt_.sync.primary_unreachable) {
    opt_.sync.primary_unreachable = std::make_shared<std::atomic<bool>>(false);
  }
  for (const auto& spec : specs_) {
    pool_of_.push_back(static_cast<int>(DescriptorOf(spec).capacity_pool));
  }
}

int Scheduler::Capacity(int pool) const {
  return std::max(
      1, pool == static_cast<int>(CapacityPool::kRepos) ? opt_.repos_capacity : opt_.capacity);
}

Scheduler::~Scheduler() { Stop(); }

bool Scheduler::stopped() {
  MutexLock lock(&mu_);
  return stop_;
}

void Scheduler::Start() {
  loop_ = std::thread([this] { Loop(); });
  for (int pool = 0; pool < kCapacityPools; ++pool) {
    if (std::find(pool_of_.begin(), pool_of_.end(), pool) == pool_of_.end()) continue;
    for (int i = 0; i < Capacity(pool); ++i) workers_.emplace_back([this, pool] { Work(pool); });
  }
}

void Scheduler::Wake() {
  MutexLock lock(&mu_);  // waiters' conditions are evaluated on release
  woken_ = true;
}

void Scheduler::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (loop_.joinable()) loop_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
}

absl::Status Scheduler::Housekeeping(db::Connection& tracking) {
  if (auto s = Heartbeat(tracking, opt_.sync.worker_id); !s.ok()) return s;
  for (const auto& spec : specs_) {
    auto n = ReclaimStarted(tracking, spec, opt_.dead_worker_seconds, opt_.sync_timeout_seconds);
    if (!n.ok()) return n.status();
    if (*n > 0) log::Info("reclaimed started rows", {{"replicable", spec.name}, {"rows", *n}});
    if (opt_.on_latencies) {
      auto latencies = CollectLatencies(tracking, spec);
      if (!latencies.ok()) return latencies.status();
      if (!latencies->empty()) opt_.on_latencies(spec, *latencies);
    }
  }
  for (Strategy strategy : kStrategies) {
    const StrategyDescriptor& d = DescriptorOf(strategy);
    const std::string& root =
        d.under_repository_root ? opt_.sync.repository_root : opt_.sync.storage_root;
    if (root.empty()) continue;
    std::string dir = d.temp_dir(root);
    if (auto s = SweepTempFiles(tracking, dir, opt_.dead_worker_seconds); !s.ok()) return s;
  }
  if (auto n = AbortOrphanedUploads(tracking, *opt_.sync.blobs, opt_.dead_worker_seconds); !n.ok())
    return n.status();
  return FoldCounts(tracking);
}

bool Scheduler::WaitForPrimary(db::Connection& tracking) {
  if (!opt_.sync.primary_unreachable->load()) return true;
  auto health = transport::HttpRequest(opt_.sync.primary_url + "/api/v1/health",
                                       {.timeout_seconds = opt_.probe_timeout_seconds});
  if (!health.ok() || health->status != 200) {
    if (failed_probes_++ == 0) {
      log::Warn("the primary is unreachable: syncing waits, and its health is probed",
                {{"primary", opt_.sync.site_name},
                 {"probe", health.ok() ? absl::StrCat("HTTP ", health->status)
                                       : std::string(health.status().message())}});
    }
    return false;
  }
  opt_.sync.primary_unreachable->store(false);
  // Answering at the first probe, it was never down (the failure was the
  // item's own, and keeps its backoff). Back from an outage, what failed
  // against it is due now, not after each item's backoff.
  if (failed_probes_ > 0) {
    int64_t due = 0;
    for (const auto& spec : specs_) {
      auto n = RetryFailedNow(tracking, spec);
      if (n.ok()) due += *n;
    }
    log::Info("the primary answers again: failed items are retried now",
              {{"primary", opt_.sync.site_name}, {"items", due}});
  }
  failed_probes_ = 0;
  return true;
}

absl::StatusOr<int> Scheduler::ClaimInto(db::Connection& tracking, db::Connection& standby,
                                         size_t spec, int limit) {
  auto items = ClaimBatch(tracking, specs_[spec], opt_.sync.worker_id, limit);
  if (!items.ok()) return items.status();
  if (items->empty()) return 0;
  // A failed lookup leaves the items unresolved; each worker then looks its own up.
  (void)ResolvePaths(standby, specs_[spec], *items);
  MutexLock lock(&mu_);
  const int pool = pool_of_[spec];
  for (auto& item : *items) queue_[pool].push_back({spec, std::move(item)});
  in_flight_[pool] += static_cast<int>(items->size());
  return static_cast<int>(items->size());
}

// What Loop keeps from one round to the next; its own thread's.
struct Scheduler::LoopState {
  std::unique_ptr<db::Connection> tracking;
  std::unique_ptr<db::Connection> standby;
  size_t next_spec = 0;
  Clock::time_point last_housekeeping{};
  std::string last_error;
  // Per pool: the rows kept claimed (see SchedulerOptions::queue_factor),
  // from the rows finished per second over windows of a quarter second or more.
  int room_max[kCapacityPools];
  int specs_in[kCapacityPools] = {};
  double rate[kCapacityPools] = {};
  int64_t window_finished[kCapacityPools] = {};
  Clock::time_point window_start = Clock::now();
};

void Scheduler::Loop() {
  LoopState state;
  for (int pool : pool_of_) ++state.specs_in[pool];
  while (!stopped()) {
    MeasureRoom(state);
    if (!state.tracking || !state.standby) {
      if (!Reconnect(state)) continue;
    }
    if (Clock::now() - state.last_housekeeping > std::chrono::seconds(2)) {
      if (auto s = Housekeeping(*state.tracking); !s.ok()) {
        CountLoopError("scheduler");
        log::Warn("scheduler housekeeping failed", {{"error", std::string(s.message())}});
        state.tracking.reset();
        continue;
      }
      state.last_housekeeping = Clock::now();
    }

    if (!opt_.sync.primary_url.empty() && !WaitForPrimary(*state.tracking)) {
      MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(opt_.probe_seconds));
      continue;
    }
    std::array<int, kCapacityPools> claimed_in = {};
    int claimed = Claim(state, claimed_in);
    AwaitNextRound(state, claimed_in, claimed);
  }
}

void Scheduler::MeasureRoom(LoopState& state) {
  MutexLock lock(&mu_);
  const double window = std::chrono::duration<double>(Clock::now() - state.window_start).count();
  for (int pool = 0; pool < kCapacityPools; ++pool) {
    if (window >= 0.25) {
      state.rate[pool] =
          static_cast<double>(finished_[pool] - state.window_finished[pool]) / window;
      state.window_finished[pool] = finished_[pool];
    }
    const int least = Capacity(pool) * std::max(1, opt_.queue_factor);
    const int most = Capacity(pool) * std::max({1, opt_.queue_factor, opt_.batch_max});
    state.room_max[pool] = static_cast<int>(std::clamp<double>(
        state.rate[pool] * opt_.claim_ahead_seconds, least, std::max(least, most)));
  }
  if (window >= 0.25) state.window_start = Clock::now();
}

bool Scheduler::Reconnect(LoopState& state) {
  auto t = db::Connection::Open(opt_.sync.tracking_conninfo);
  auto s = t.ok() ? db::Connection::Open(opt_.sync.standby_conninfo) : t.status();
  if (!t.ok() || !s.ok()) {
    std::string msg(!t.ok() ? t.status().message() : s.status().message());
    CountLoopError("scheduler");
    if (msg != state.last_error) log::Warn("scheduler: database unreachable", {{"error", msg}});
    state.last_error = msg;
    MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(1));
    return false;
  }
  state.tracking = std::move(*t);
  state.standby = std::move(*s);
  (void)Heartbeat(*state.tracking, opt_.sync.worker_id);
  state.last_housekeeping = {};
  return true;
}

int Scheduler::Claim(LoopState& state, std::array<int, kCapacityPools>& claimed_in) {
  int room[kCapacityPools];
  int per_spec[kCapacityPools];
  bool any_room = false;
  {
    MutexLock lock(&mu_);
    for (int pool = 0; pool < kCapacityPools; ++pool) {
      room[pool] = state.room_max[pool] - in_flight_[pool];
      // Batches large enough to keep claims cheap.
      per_spec[pool] =
          std::max(room[pool] / std::max(1, state.specs_in[pool]), std::min(room[pool], 16));
      any_room = any_room || (room[pool] > 0 && state.specs_in[pool] > 0);
    }
  }
  int claimed = 0;
  if (any_room) {
    // Round-robin from a rotating start: every type gets its turn.
    // The maintained counts say which types have pending or failed rows:
    // one query instead of two claims per type when there is nothing to do.
    auto counts = ReadCounts(*state.tracking);
    auto idle = [&](const ReplicableSpec& spec) {
      if (!counts.ok()) return false;
      auto it = counts->find(spec.name);
      if (it == counts->end()) return true;
      auto n = [&](SyncState st) {
        auto c = it->second.find(static_cast<int>(st));
        return c == it->second.end() ? 0 : c->second;
      };
      return n(SyncState::kPending) <= 0 && n(SyncState::kFailed) <= 0;
    };
    for (size_t k = 0; k < specs_.size(); ++k) {
      size_t i = (state.next_spec + k) % specs_.size();
      const int pool = pool_of_[i];
      if (claimed_in[pool] >= room[pool] || idle(specs_[i])) continue;
      auto n = ClaimInto(*state.tracking, *state.standby, i,
                         std::min(per_spec[pool], room[pool] - claimed_in[pool]));
      if (!n.ok()) {
        CountLoopError("scheduler");
        log::Warn("claim failed",
                  {{"replicable", specs_[i].name}, {"error", std::string(n.status().message())}});
        state.tracking.reset();
        state.standby.reset();
        break;
      }
      claimed += *n;
      claimed_in[pool] += *n;
    }
    state.next_spec = (state.next_spec + 1) % specs_.size();
  }
  return claimed;
}

void Scheduler::AwaitNextRound(const LoopState& state,
                               const std::array<int, kCapacityPools>& claimed_in, int claimed) {
  MutexLock lock(&mu_);
  // A pool that took rows and has room left: more may be waiting.
  bool more = false;
  for (int pool = 0; pool < kCapacityPools; ++pool) {
    more = more || (claimed_in[pool] > 0 && in_flight_[pool] < state.room_max[pool]);
  }
  if (more) return;
  // Full: wait until half a pool's queue has drained. Idle: poll, or a
  // wake-up.
  auto ready = [&]() {
    mu_.AssertReaderHeld();
    bool drained = false;
    for (int pool = 0; pool < kCapacityPools; ++pool) {
      drained = drained || (claimed_in[pool] > 0 && in_flight_[pool] <= state.room_max[pool] / 2);
    }
    return stop_ || drained || (claimed == 0 && woken_);
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready),
                       absl::Seconds(claimed > 0 ? 1.0 : opt_.idle_poll_seconds));
  woken_ = false;
}

void Scheduler::Work(int pool) {
  // One syncer per strategy, made on first use.
  std::map<Strategy, std::unique_ptr<Syncer>> syncers;
  while (true) {
    size_t spec_index;
    std::vector<ClaimedItem> items;
    {
      MutexLock lock(&mu_);
      std::deque<Job>& queue = queue_[pool];
      auto ready = [&]() {
        mu_.AssertReaderHeld();
        return stop_ || !queue.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;  // queued rows stay started; the next daemon reclaims them
      spec_index = queue.front().spec;
      // Under load a worker takes its share of the queue's rows of the
      // replicable at its front (StrategyDescriptor::takes_many); alone, one
      // row.
      size_t take = 1;
      if (DescriptorOf(specs_[spec_index]).takes_many) {
        take = std::clamp<size_t>(queue.size() / Capacity(pool), 1, std::max(1, opt_.batch_max));
      }
      // Rows of the same replicable from anywhere in the queue: claims of
      // several replicables interleave there.
      for (auto it = queue.begin(); it != queue.end() && items.size() < take;) {
        if (it->spec != spec_index) {
          ++it;
          continue;
        }
        items.push_back(std::move(it->item));
        it = queue.erase(it);
      }
    }
    const ReplicableSpec& spec = specs_[spec_index];
    auto& syncer = syncers[spec.strategy];
    if (!syncer) {
      syncer = opt_.make_syncer ? opt_.make_syncer(spec.strategy, opt_.sync)
                                : MakeSyncer(spec.strategy, opt_.sync);
    }
    const auto started = Clock::now();
    absl::Status s =
        items.size() == 1 ? syncer->Sync(spec, items[0]) : syncer->SyncBatch(spec, items);
    if (opt_.on_synced) {
      opt_.on_synced(spec, std::chrono::duration<double>(Clock::now() - started).count());
    }
    if (!s.ok()) {
      log::Warn("sync outcome not recorded", {{"replicable", spec.name},
                                              {"id", items[0].model_id},
                                              {"rows", static_cast<int64_t>(items.size())},
                                              {"error", std::string(s.message())}});
    }
    MutexLock lock(&mu_);
    in_flight_[pool] -= static_cast<int>(items.size());
    finished_[pool] += static_cast<int64_t>(items.size());
  }
}

}  // namespace georep::framework
