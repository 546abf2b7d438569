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

namespace georep::api {

inline constexpr double kReportStaleSeconds = 60;

struct HealthInputs {
  bool primary = false;
  bool maintenance = false;
  bool sampled = false;  // the replication monitor has taken a sample
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

}  // namespace georep::api
