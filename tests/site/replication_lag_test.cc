#include "gtest/gtest.h"
#include "site/replication.h"

namespace georep::site {
namespace {

TEST(ReplayLagTest, ZeroWhileStreamingAndCaughtUp) {
  std::optional<double> last;
  EXPECT_EQ(ComputeReplayLag(
                {.now = 100, .streaming = true, .caught_up = true, .last_replay_time = 10}, last),
            0);
  EXPECT_EQ(last, 100);
}

TEST(ReplayLagTest, AgeOfLastReplayedCommitWhileReplayingABacklog) {
  std::optional<double> last;
  EXPECT_EQ(ComputeReplayLag(
                {.now = 100, .streaming = true, .caught_up = false, .last_replay_time = 97}, last),
            3);
}

TEST(ReplayLagTest, RisesFromLastCaughtUpWhilePrimaryIsUnreachable) {
  std::optional<double> last;
  ComputeReplayLag({.now = 100, .streaming = true, .caught_up = true, .last_replay_time = 1}, last);
  // The primary was idle for a long time (last commit at t=1): that is no lag.
  // Once streaming stops, lag counts from the last time it was caught up.
  EXPECT_EQ(ComputeReplayLag(
                {.now = 102, .streaming = false, .caught_up = false, .last_replay_time = 1}, last),
            2);
  EXPECT_EQ(ComputeReplayLag(
                {.now = 105, .streaming = false, .caught_up = false, .last_replay_time = 1}, last),
            5);
}

TEST(ReplayLagTest, WithoutHistoryFallsBackToLastCommitOrZero) {
  std::optional<double> last;
  EXPECT_EQ(ComputeReplayLag(
                {.now = 50, .streaming = false, .caught_up = false, .last_replay_time = 20}, last),
            30);
  EXPECT_EQ(ComputeReplayLag({.now = 50, .streaming = false, .caught_up = false}, last), 0);
}

}  // namespace
}  // namespace georep::site
