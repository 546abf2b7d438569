#include "api/health.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace georep::api {

HealthVerdict JudgeHealth(const HealthInputs& in) {
  HealthVerdict v;
  auto fault = [&](std::string reason) {
    v.healthy = false;
    v.reasons.push_back(std::move(reason));
  };
  if (!in.sampled) {
    fault("the main database has not been sampled yet");
  } else if (!in.database_reachable) {
    fault(absl::StrCat("the main database is unreachable: ", in.database_error));
  }
  if (in.primary) {
    if (in.maintenance) v.notes.push_back("maintenance mode: writes are refused");
    return v;
  }
  if (!in.tracking_reachable) {
    fault(absl::StrCat("the tracking database is unreachable: ", in.tracking_error));
  }
  if (in.paused) {
    v.notes.push_back("replication paused by an operator");
  } else if (!in.detached_for.empty()) {
    fault(absl::StrCat("the standby is detached from the old primary for the promotion of \"",
                       in.detached_for, "\": run `georep follow`"));
  } else if (in.sampled && in.database_reachable && !in.streaming) {
    fault(absl::StrFormat(
        "the standby is not streaming from the primary (replay lag %.0f s): check that the "
        "primary's PostgreSQL is up and reachable",
        in.replay_lag_seconds));
  }
  double since = in.seconds_since_report.value_or(in.uptime_seconds);
  if (since > kReportStaleSeconds) {
    fault(in.seconds_since_report
              ? absl::StrFormat("the primary has accepted no status report for %.0f s", since)
              : absl::StrFormat("the primary has accepted no status report since the daemon "
                                "started %.0f s ago",
                                since));
  }
  return v;
}

}  // namespace georep::api
