#include "framework/sync/backoff.h"

#include "gtest/gtest.h"

namespace georep::framework {
namespace {

TEST(BackoffTest, GrowsAsTheFourthPowerWithJitter) {
  auto zero = [] { return 0; };
  auto max = [] { return 29; };
  EXPECT_EQ(RetryDelaySeconds(0, false, zero), 1 + 15);
  EXPECT_EQ(RetryDelaySeconds(1, false, zero), 16 + 15);
  EXPECT_EQ(RetryDelaySeconds(4, false, zero), 625 + 15);
  // With the largest jitter: base + 29·(n+1) + 29.
  EXPECT_EQ(RetryDelaySeconds(0, false, max), 1 + 15 + 29 * 2 + 29);
}

TEST(BackoffTest, CapsAtOneHourOrFourWhenMissing) {
  auto zero = [] { return 0; };
  EXPECT_EQ(RetryDelaySeconds(6, false, zero), 2401 + 15);
  EXPECT_EQ(RetryDelaySeconds(7, false, zero), kRetryCapSeconds);  // 8⁴ + 15 > 3600
  EXPECT_EQ(RetryDelaySeconds(100, false, zero), kRetryCapSeconds);
  EXPECT_EQ(RetryDelaySeconds(100, true, zero), kMissingRetryCapSeconds);
  EXPECT_LT(RetryDelaySeconds(100, false, [] { return 29; }), kRetryCapSeconds + 30);
}

}  // namespace
}  // namespace georep::framework
