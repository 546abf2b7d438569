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
    if (!in.fenced_since.empty()) {
      fault(absl::StrCat("the database is fenced since ", in.fenced_since,
                         ": it refuses the application's writes (promoted away: `georep demote`; "
                         "otherwise `georep maintenance off --database`)"));
    }
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

namespace {

// j[key] of a JSON object, or null: never throws, whatever a report holds.
const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

}  // namespace

HealthVerdict JudgeReport(const nlohmann::json& report, double age_seconds, bool enabled,
                          const FleetThresholds& limits) {
  HealthVerdict v;
  auto fault = [&](std::string reason) {
    v.healthy = false;
    v.reasons.push_back(std::move(reason));
  };
  if (!enabled) {
    v.notes.push_back("disabled: it neither syncs nor verifies");
    return v;
  }
  if (!report.is_object()) {
    fault("it has sent no status report");
    return v;
  }
  if (age_seconds > limits.prune_hold_seconds) {
    fault(absl::StrFormat(
        "its last status report is %.0f s old, past the event log's hold (%.0f s): the primary "
        "prunes the events it missed, and when it returns its log cursor falls back to a "
        "backfill",
        age_seconds, limits.prune_hold_seconds));
  } else if (age_seconds > limits.report_stale_seconds) {
    fault(absl::StrFormat("its last status report is %.0f s old (limit %.0f s)", age_seconds,
                          limits.report_stale_seconds));
  }
  if (Field(Field(report, "cursor"), "needs_pruned_events") == true) {
    fault("its log cursor needs events the primary has pruned: it falls back to a backfill");
  }
  // What the site says of itself.
  const nlohmann::json& own = Field(report, "health");
  if (Field(own, "healthy") == false && Field(own, "reasons").is_array()) {
    for (const auto& r : Field(own, "reasons")) {
      if (r.is_string()) fault(absl::StrCat("it reports: ", r.get<std::string>()));
    }
  }
  const nlohmann::json& lag_field = Field(Field(report, "database"), "replay_lag_seconds");
  if (lag_field.is_number()) {
    double lag = lag_field.get<double>();
    if (lag > limits.max_replay_lag_seconds) {
      fault(absl::StrFormat("its database is %.0f s behind (limit %.0f s)", lag,
                            limits.max_replay_lag_seconds));
    }
  }
  int64_t rows = 0, failed = 0;
  if (Field(report, "replicables").is_array()) {
    for (const auto& r : Field(report, "replicables")) {
      if (Field(r, "registry").is_number_integer()) rows += Field(r, "registry").get<int64_t>();
      if (Field(r, "failed").is_number_integer()) failed += Field(r, "failed").get<int64_t>();
    }
  }
  if (rows > 0 &&
      static_cast<double>(failed) / static_cast<double>(rows) > limits.max_failed_share) {
    fault(absl::StrFormat("%d of its %d registry rows failed (limit %.1f%%): see `georep failures`",
                          failed, rows, 100 * limits.max_failed_share));
  }
  if (Field(report, "paused") == true) {
    if (limits.paused_is_healthy) {
      v.notes.push_back("replication paused by an operator");
    } else {
      fault(
          "replication is paused by an operator: it falls behind until `georep replication "
          "resume`");
    }
  }
  return v;
}

bool HoldsEventLog(const nlohmann::json& report, double age_seconds, bool enabled,
                   double hold_seconds) {
  const nlohmann::json& need = Field(Field(report, "cursor"), "oldest_needed_event_id");
  return enabled && report.is_object() && age_seconds <= hold_seconds && need.is_number_integer() &&
         need.get<int64_t>() > 0;
}

}  // namespace georep::api
