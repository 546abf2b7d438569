// The database leg of replication as this site sees it: on a secondary, how
// far its streaming standby is behind the primary; on the primary, which
// standbys stream from it.
//
// ReplicationMonitor samples the main database on a background thread and
// keeps the latest snapshot, so status requests never wait on a slow or dead
// database. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "util/mutex.h"
#include "util/stop_signal.h"

namespace georep::site {

struct StandbyInfo {
  std::string slot_name;
  bool active = false;
  int64_t retained_bytes = 0;     // WAL the slot keeps on the primary
  std::string client;             // application_name@address of the streaming standby
  std::string state;              // pg_stat_replication.state, empty if not connected
  int64_t replay_lag_bytes = -1;  // -1 when not connected
};

struct ReplicationSnapshot {
  bool sampled = false;  // false until the first sample is taken
  bool database_reachable = false;
  std::string error;         // why the last sample failed
  double sampled_at = 0;     // unix seconds
  bool in_recovery = false;  // the main DB is a standby (this is a secondary)

  // Secondary (standby) side.
  bool streaming = false;  // WAL receiver connected and streaming
  std::string receive_lsn;
  std::string replay_lsn;
  int64_t replay_backlog_bytes = 0;
  double replay_lag_seconds = 0;  // 0 when caught up; grows while the primary is unreachable
  std::optional<double> last_replay_time;  // commit time of the last replayed transaction

  // Primary side.
  std::string current_lsn;
  std::vector<StandbyInfo> standbys;
};

// Raw readings of one sample of a standby, the input of the lag rule.
struct StandbySample {
  double now = 0;  // unix seconds
  bool streaming = false;
  bool caught_up = false;  // received WAL fully replayed
  std::optional<double> last_replay_time;
};

// The lag rule. Replay lag is 0 while the standby streams and has replayed
// all it received. While it replays a backlog, lag is the age of the last
// replayed commit. While it cannot stream (primary down, network cut), lag is
// the time since it was last seen caught up, so the figure keeps rising;
// before any such sighting, the age of the last replayed commit.
// `last_caught_up` carries state between samples.
double ComputeReplayLag(const StandbySample& sample, std::optional<double>& last_caught_up);

class ReplicationMonitor {
 public:
  ReplicationMonitor(std::string main_conninfo, double interval_seconds);
  ~ReplicationMonitor();

  void Start();
  void Stop();
  ReplicationSnapshot Latest() const;
  // Takes one sample now (also used by Start's thread).
  void SampleOnce();

 private:
  void Loop();

  const std::string conninfo_;
  const double interval_seconds_;
  mutable Mutex mu_;
  ReplicationSnapshot latest_ ABSL_GUARDED_BY(mu_);
  std::optional<double> last_caught_up_ ABSL_GUARDED_BY(mu_);
  StopSignal stop_;
  std::thread thread_;
};

}  // namespace georep::site
