// A site re-attached to a new primary after a promotion
// (docs/design/disaster-recovery.md):
//
//   follow   a secondary: its standby streams from the new primary without
//            a new base backup when it received nothing of the old primary
//            past the promotion point; its registry is kept, so nothing it
//            holds is downloaded again.
//   demote   the former primary, its PostgreSQL stopped: pg_rewind brings
//            its data folder onto the new primary's timeline and writes it
//            as a standby streaming through a slot made there.
//
// Each returns what it did; `georep follow` and `georep demote` print it.
// InvalidArgument names a bad option or a site that cannot do this; any
// other error is a failure to act on.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace georep::failover {

// Where a site re-attached to a new primary streams from.
struct UpstreamRequest {
  std::string primary_url;  // the new primary's daemon
  std::string host;         // its PostgreSQL; default: the URL's host
  int port = 5432;
  std::string user;  // default: the previous upstream's, else "replicator"
  std::string slot;  // default: the previous upstream's, else the site name
  std::string password_file;
  double timeout_seconds = 120;  // follow: how long to wait for streaming
  // A line of progress (the CLI writes it to stderr); may be unset.
  std::function<void(const std::string&)> progress;
};

struct FollowOutcome {
  std::string primary;         // the new primary's site name
  std::string streaming_from;  // host:port
  std::string slot;
  int timeline = 0;
  std::optional<std::string> fork_point;  // where the standby crossed timelines
  int64_t items_kept = 0;                 // synced items kept (-1: unknown)
};

absl::StatusOr<FollowOutcome> Follow(const config::Config& config, const UpstreamRequest& request);

struct DemoteOutcome {
  std::string primary;   // the new primary's site name
  bool rewound = false;  // false: it had not gone past the promotion
  std::string slot;
  bool tracking_migrated = false;
  std::vector<std::string> next;  // what the operator does next, in order
};

absl::StatusOr<DemoteOutcome> Demote(const config::Config& config, const UpstreamRequest& request,
                                     const std::string& data_dir);

}  // namespace georep::failover
