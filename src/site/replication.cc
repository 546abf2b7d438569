#include "site/replication.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "db/connection.h"
#include "util/clock.h"
#include "util/logging.h"

namespace georep::site {
namespace {

constexpr char kStandbySql[] = R"sql(
SELECT pg_is_in_recovery(),
       coalesce(pg_last_wal_receive_lsn()::text, ''),
       coalesce(pg_last_wal_replay_lsn()::text, ''),
       coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint,
       extract(epoch from pg_last_xact_replay_timestamp()),
       coalesce((SELECT status FROM pg_stat_wal_receiver LIMIT 1), '')
)sql";

constexpr char kPrimarySql[] = R"sql(
SELECT s.slot_name, s.active,
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::bigint,
       coalesce(r.application_name || '@' || host(r.client_addr), ''),
       coalesce(r.state, ''),
       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn), -1)::bigint,
       pg_current_wal_lsn()::text
FROM pg_replication_slots s
LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
WHERE s.slot_type = 'physical'
ORDER BY s.slot_name
)sql";

}  // namespace

double ComputeReplayLag(const StandbySample& sample, std::optional<double>& last_caught_up) {
  if (sample.streaming && sample.caught_up) {
    last_caught_up = sample.now;
    return 0;
  }
  if (!sample.streaming && last_caught_up) return std::max(0.0, sample.now - *last_caught_up);
  if (sample.last_replay_time) return std::max(0.0, sample.now - *sample.last_replay_time);
  return 0;
}

ReplicationMonitor::ReplicationMonitor(std::string main_conninfo, double interval_seconds)
    : conninfo_(std::move(main_conninfo)), interval_seconds_(interval_seconds) {}

ReplicationMonitor::~ReplicationMonitor() { Stop(); }

void ReplicationMonitor::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ReplicationMonitor::Stop() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
}

ReplicationSnapshot ReplicationMonitor::Latest() const {
  MutexLock lock(&mu_);
  return latest_;
}

void ReplicationMonitor::Loop() {
  while (!stop_.stopped()) {
    SampleOnce();
    stop_.WaitFor(interval_seconds_);
  }
}

void ReplicationMonitor::SampleOnce() {
  // One short-lived connection per sample: a restarted server or a promoted
  // standby is simply seen at the next sample.
  ReplicationSnapshot snap;
  snap.sampled = true;
  snap.sampled_at = WallSeconds();
  StandbySample sample{.now = snap.sampled_at};
  auto conn = db::Connection::Open(conninfo_);
  absl::Status error = conn.status();
  if (conn.ok()) {
    auto r = (*conn)->Exec(kStandbySql);
    if (r.ok()) {
      snap.database_reachable = true;
      snap.in_recovery = r->GetBool(0, 0);
      snap.receive_lsn = std::string(r->Get(0, 1));
      snap.replay_lsn = std::string(r->Get(0, 2));
      snap.replay_backlog_bytes = r->GetInt64(0, 3);
      if (!r->IsNull(0, 4)) snap.last_replay_time = r->GetDouble(0, 4);
      snap.streaming = r->Get(0, 5) == "streaming";
      if (!snap.in_recovery) {
        auto p = (*conn)->Exec(kPrimarySql);
        if (p.ok()) {
          for (int i = 0; i < p->rows(); ++i) {
            snap.standbys.push_back({std::string(p->Get(i, 0)), p->GetBool(i, 1), p->GetInt64(i, 2),
                                     std::string(p->Get(i, 3)), std::string(p->Get(i, 4)),
                                     p->GetInt64(i, 5)});
          }
          auto lsn = (*conn)->Exec("SELECT pg_current_wal_lsn()::text");
          if (lsn.ok()) snap.current_lsn = std::string(lsn->Get(0, 0));
        } else {
          error = p.status();
        }
      }
    } else {
      error = r.status();
    }
  }
  if (!error.ok()) snap.error = std::string(error.message());
  sample.streaming = snap.streaming;
  sample.caught_up = snap.streaming && snap.replay_backlog_bytes == 0;
  sample.last_replay_time = snap.last_replay_time;

  MutexLock lock(&mu_);
  bool was_reachable = latest_.database_reachable || !latest_.sampled;
  if (snap.database_reachable) {
    // Only a standby has a replay lag; a primary is its own source.
    snap.replay_lag_seconds = snap.in_recovery ? ComputeReplayLag(sample, last_caught_up_) : 0;
  } else {
    if (last_caught_up_)
      snap.replay_lag_seconds = std::max(0.0, snap.sampled_at - *last_caught_up_);
    snap.in_recovery = latest_.in_recovery;
    if (was_reachable) log::Warn("main database unreachable", {{"error", snap.error}});
  }
  latest_ = std::move(snap);
}

}  // namespace georep::site
