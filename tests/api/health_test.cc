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

}  // namespace
}  // namespace georep::api
