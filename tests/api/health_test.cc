// The health verdict of each role, from its inputs.
#include "api/health.h"

#include "gtest/gtest.h"

namespace georep::api {
namespace {

HealthInputs HealthySecondary() {
  return {.sampled = true,
          .database_reachable = true,
          .streaming = true,
          .seconds_since_report = 5,
          .uptime_seconds = 600};
}

bool Mentions(const HealthVerdict& v, const std::string& text) {
  for (const auto& r : v.reasons) {
    if (r.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(HealthTest, APrimaryNeedsItsDatabase) {
  HealthInputs in{.primary = true, .sampled = true, .database_reachable = true};
  EXPECT_TRUE(JudgeHealth(in).healthy);
  in.maintenance = true;
  auto v = JudgeHealth(in);
  EXPECT_TRUE(v.healthy);
  ASSERT_EQ(v.notes.size(), 1u);
  in.database_reachable = false;
  in.database_error = "connection refused";
  v = JudgeHealth(in);
  EXPECT_FALSE(v.healthy);
  EXPECT_TRUE(Mentions(v, "main database is unreachable: connection refused"));
  EXPECT_FALSE(JudgeHealth({.primary = true}).healthy) << "not sampled yet";
}

TEST(HealthTest, ASecondaryNeedsStreamingTrackingAndAcceptedReports) {
  EXPECT_TRUE(JudgeHealth(HealthySecondary()).healthy);

  auto in = HealthySecondary();
  in.streaming = false;
  in.replay_lag_seconds = 42;
  auto v = JudgeHealth(in);
  EXPECT_FALSE(v.healthy);
  EXPECT_TRUE(Mentions(v, "not streaming")) << v.reasons[0];

  in = HealthySecondary();
  in.tracking_reachable = false;
  in.tracking_error = "timeout";
  EXPECT_TRUE(Mentions(JudgeHealth(in), "tracking database is unreachable: timeout"));

  in = HealthySecondary();
  in.seconds_since_report = 61;
  EXPECT_TRUE(Mentions(JudgeHealth(in), "no status report for 61 s"));
  // None yet: fine while the daemon is young, not after.
  in.seconds_since_report.reset();
  in.uptime_seconds = 20;
  EXPECT_TRUE(JudgeHealth(in).healthy);
  in.uptime_seconds = 90;
  EXPECT_TRUE(Mentions(JudgeHealth(in), "since the daemon started 90 s ago"));
}

TEST(HealthTest, APauseIsANoteAndADetachedStandbyAFault) {
  auto in = HealthySecondary();
  in.streaming = false;
  in.paused = true;
  auto v = JudgeHealth(in);
  EXPECT_TRUE(v.healthy);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_NE(v.notes[0].find("paused"), std::string::npos);

  in = HealthySecondary();
  in.streaming = false;
  in.detached_for = "eu";
  v = JudgeHealth(in);
  EXPECT_FALSE(v.healthy);
  EXPECT_TRUE(Mentions(v, "promotion of \"eu\""));
}

// A secondary's report as the primary keeps it: 100 registry rows, 2 failed.
nlohmann::json Report() {
  return nlohmann::json::parse(R"({
    "site": "s1", "paused": false,
    "database": {"streaming": true, "replay_lag_seconds": 2.5},
    "replicables": [{"name": "upload", "registry": 60, "failed": 2},
                    {"name": "lfs_object", "registry": 40, "failed": 0}],
    "health": {"healthy": true, "reasons": [], "notes": []}})");
}

TEST(FleetHealthTest, AFreshReportWithinTheLimitsIsHealthy) {
  auto v = JudgeReport(Report(), 3, true, {});
  EXPECT_TRUE(v.healthy) << (v.reasons.empty() ? "" : v.reasons[0]);
}

TEST(FleetHealthTest, EachLimitPassedIsAReason) {
  EXPECT_TRUE(Mentions(JudgeReport(Report(), 61, true, {}), "last status report is 61 s old"));
  auto lagging = Report();
  lagging["database"]["replay_lag_seconds"] = 400;
  EXPECT_TRUE(Mentions(JudgeReport(lagging, 1, true, {}), "400 s behind (limit 300 s)"));
  EXPECT_TRUE(JudgeReport(lagging, 1, true, {.max_replay_lag_seconds = 500}).healthy);
  // 2 of 100 failed: over a 1% limit, under the default 5%.
  EXPECT_TRUE(Mentions(JudgeReport(Report(), 1, true, {.max_failed_share = 0.01}),
                       "2 of its 100 registry rows failed"));
  auto paused = Report();
  paused["paused"] = true;
  EXPECT_TRUE(Mentions(JudgeReport(paused, 1, true, {}), "paused by an operator"));
  auto allowed = JudgeReport(paused, 1, true, {.paused_is_healthy = true});
  EXPECT_TRUE(allowed.healthy);
  EXPECT_EQ(allowed.notes.size(), 1u);
  auto own = Report();
  own["health"] = {{"healthy", false}, {"reasons", {"the tracking database is unreachable"}}};
  EXPECT_TRUE(Mentions(JudgeReport(own, 1, true, {}), "it reports: the tracking database"));
}

TEST(FleetHealthTest, NoReportIsUnhealthyAndADisabledSiteIsANote) {
  EXPECT_TRUE(Mentions(JudgeReport(nullptr, 0, true, {}), "no status report"));
  auto disabled = JudgeReport(nullptr, 0, false, {});
  EXPECT_TRUE(disabled.healthy);
  ASSERT_EQ(disabled.notes.size(), 1u);
  EXPECT_NE(disabled.notes[0].find("disabled"), std::string::npos);
}

TEST(FleetHealthTest, ASiteSilentPastTheEventLogHoldIsToldItWillFallBack) {
  auto v = JudgeReport(Report(), 100, true, {.prune_hold_seconds = 90});
  EXPECT_TRUE(Mentions(v, "past the event log's hold (90 s)"));
  EXPECT_EQ(v.reasons.size(), 1u) << "one reason, not also the stale one";
  auto behind = Report();
  behind["cursor"] = {{"needs_pruned_events", true}};
  EXPECT_TRUE(Mentions(JudgeReport(behind, 1, true, {}), "needs events the primary has pruned"));

  auto needing = Report();
  needing["cursor"] = {{"oldest_needed_event_id", 12}};
  EXPECT_TRUE(HoldsEventLog(needing, 10, true, 90));
  EXPECT_FALSE(HoldsEventLog(needing, 100, true, 90)) << "past the hold";
  EXPECT_FALSE(HoldsEventLog(needing, 10, false, 90)) << "disabled";
  needing["cursor"]["oldest_needed_event_id"] = nullptr;  // its cursor has not started
  EXPECT_FALSE(HoldsEventLog(needing, 10, true, 90));
  EXPECT_FALSE(HoldsEventLog(nullptr, 0, true, 90));
}

TEST(FleetHealthTest, AMalformedReportNeverThrows) {
  for (const char* text :
       {R"({"database": 7, "replicables": {"x": 1}, "paused": "yes", "health": []})",
        R"({"replicables": [1, null, {"registry": "many", "failed": true}]})", "[]", "42"}) {
    auto report = nlohmann::json::parse(text);
    EXPECT_NO_THROW(JudgeReport(report, 1, true, {})) << text;
    EXPECT_NO_THROW(HoldsEventLog(report, 1, true, 90)) << text;
  }
}

}  // namespace
}  // namespace georep::api
