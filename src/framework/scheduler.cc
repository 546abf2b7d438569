#include "framework/scheduler.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "util/logging.h"

namespace georep::framework {

using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(SchedulerOptions options, std::vector<ReplicableSpec> specs)
    : opt_(std::move(options)), specs_(std::move(specs)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  loop_ = std::thread([this] { Loop(); });
  for (int i = 0; i < opt_.capacity; ++i) workers_.emplace_back([this] { Work(); });
}

void Scheduler::Stop() {
  stop_ = true;
  work_cv_.notify_all();
  free_cv_.notify_all();
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
  }
  return FoldCounts(tracking);
}

void Scheduler::Loop() {
  std::unique_ptr<db::Connection> tracking;
  size_t next_spec = 0;
  Clock::time_point last_housekeeping{};
  std::string last_error;
  while (!stop_) {
    if (!tracking) {
      auto c = db::Connection::Open(opt_.sync.tracking_conninfo);
      if (!c.ok()) {
        if (std::string(c.status().message()) != last_error) {
          log::Warn("scheduler: tracking database unreachable",
                    {{"error", std::string(c.status().message())}});
          last_error = std::string(c.status().message());
        }
        std::unique_lock lock(mu_);
        free_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_.load(); });
        continue;
      }
      tracking = std::move(*c);
      (void)Heartbeat(*tracking, opt_.sync.worker_id);
      if (auto s = SweepTempFiles(*tracking, opt_.sync.storage_root, opt_.dead_worker_seconds);
          !s.ok()) {
        log::Warn("temp file sweep failed", {{"error", std::string(s.message())}});
      }
    }
    if (Clock::now() - last_housekeeping > std::chrono::seconds(2)) {
      if (auto s = Housekeeping(*tracking); !s.ok()) {
        log::Warn("scheduler housekeeping failed", {{"error", std::string(s.message())}});
        tracking.reset();
        continue;
      }
      last_housekeeping = Clock::now();
    }

    int free_slots;
    {
      std::lock_guard lock(mu_);
      free_slots = opt_.capacity - in_flight_;
    }
    int claimed = 0;
    if (free_slots > 0 && !specs_.empty()) {
      // Round-robin: each type gets a fair share of the free slots.
      int share = std::max(1, free_slots / static_cast<int>(specs_.size()));
      for (size_t k = 0; k < specs_.size() && claimed < free_slots; ++k) {
        size_t i = (next_spec + k) % specs_.size();
        auto items = ClaimBatch(*tracking, specs_[i], opt_.sync.worker_id,
                                std::min(share, free_slots - claimed));
        if (!items.ok()) {
          log::Warn("claim failed", {{"replicable", specs_[i].name},
                                     {"error", std::string(items.status().message())}});
          tracking.reset();
          break;
        }
        if (items->empty()) continue;
        claimed += static_cast<int>(items->size());
        std::lock_guard lock(mu_);
        for (const auto& item : *items) queue_.push_back({i, item});
        in_flight_ += static_cast<int>(items->size());
      }
      next_spec = (next_spec + 1) % specs_.size();
    }
    if (claimed > 0) work_cv_.notify_all();
    std::unique_lock lock(mu_);
    if (claimed > 0 && in_flight_ < opt_.capacity) continue;  // more may be waiting
    auto wait = claimed > 0 ? std::chrono::duration<double>(1.0)
                            : std::chrono::duration<double>(opt_.idle_poll_seconds);
    int before = in_flight_;
    free_cv_.wait_for(lock, wait,
                      [&] { return stop_.load() || (claimed > 0 && in_flight_ < before); });
  }
}

void Scheduler::Work() {
  BlobSyncer syncer(opt_.sync);
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [this] { return stop_.load() || !queue_.empty(); });
      if (stop_) return;  // queued rows stay started; the next daemon reclaims them
      job = queue_.front();
      queue_.pop_front();
    }
    absl::Status s = syncer.Sync(specs_[job.spec], job.item);
    if (!s.ok()) {
      log::Warn("sync outcome not recorded", {{"replicable", specs_[job.spec].name},
                                              {"id", job.item.model_id},
                                              {"error", std::string(s.message())}});
    }
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    free_cv_.notify_all();
  }
}

}  // namespace georep::framework
