// A site's health for its role, as GET /api/v1/health answers it (200 or
// 503 with the reasons) and `georep status` and `georep check` use it.
//
// Healthy means: the main database answered the last sample; on the primary
// nothing more; on a secondary also its tracking database answered, its
// standby streams from the primary (or an operator paused it, which is
// shown, not a fault), and the primary accepted a status report within
// kReportStaleSeconds (or the daemon started less than that ago).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace georep::api {

inline constexpr double kReportStaleSeconds = 60;

struct HealthInputs {
  bool primary = false;
  bool maintenance = false;
  std::string fenced_since;  // the database fence is up (site/fence.h)
  bool sampled = false;      // the replication monitor has taken a sample
  bool database_reachable = false;
  std::string database_error;
  bool streaming = false;
  double replay_lag_seconds = 0;
  bool tracking_reachable = true;
  std::string tracking_error;
  bool paused = false;
  std::string detached_for;                    // a promotion detached the standby
  std::optional<double> seconds_since_report;  // nullopt: none accepted yet
  double uptime_seconds = 0;
};

struct HealthVerdict {
  bool healthy = true;
  std::vector<std::string> reasons;  // why not healthy
  std::vector<std::string> notes;    // worth knowing, not a fault (maintenance, paused)
};

HealthVerdict JudgeHealth(const HealthInputs& in);

// The fleet view: a secondary's health as any site judges it from the
// latest status report the primary kept (GET /api/v1/sites), with the
// thresholds of the judging site's configuration (health.*).
struct FleetThresholds {
  double report_stale_seconds = 60;
  double max_replay_lag_seconds = 300;
  double max_failed_share = 0.05;
  bool paused_is_healthy = false;
  double prune_hold_seconds = 86400;  // events.prune_hold_seconds
};

// `report` is the secondary's /api/v1/status document (null when it never
// reported); `age_seconds` how long ago the primary accepted it. A disabled
// site is healthy with a note: nothing is expected of it.
HealthVerdict JudgeReport(const nlohmann::json& report, double age_seconds, bool enabled,
                          const FleetThresholds& limits);

// Whether the primary's event-log pruner keeps the events this secondary
// still needs (events/prune.h): enabled, and its cursor's need reported
// within the hold.
bool HoldsEventLog(const nlohmann::json& report, double age_seconds, bool enabled,
                   double hold_seconds);

}  // namespace georep::api
