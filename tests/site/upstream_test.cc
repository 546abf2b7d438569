// Whether a standby can follow a promoted sibling by streaming alone, from
// its position and the new primary's timeline history.
#include "site/upstream.h"

#include "gtest/gtest.h"

namespace georep::site {
namespace {

TEST(UpstreamTest, LsnRoundTripsAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseLsn("0/4002120"), 0x4002120u);
  EXPECT_EQ(*ParseLsn("1A/0"), 0x1Aull << 32);
  EXPECT_EQ(FormatLsn(0x4002120), "0/4002120");
  EXPECT_EQ(FormatLsn((0x1Aull << 32) | 0xFF), "1A/FF");
  for (const char* bad : {"", "0", "0/", "/1", "x/1", "0/123456789", "1/2/3"}) {
    EXPECT_FALSE(ParseLsn(bad).ok()) << bad;
  }
}

TEST(UpstreamTest, TimelineHistoryLinesAreRead) {
  auto h = ParseTimelineHistory("1\t0/4002120\tno recovery target specified\n\n2\t0/5000000\tx\n");
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].timeline, 1);
  EXPECT_EQ((*h)[0].switchpoint, 0x4002120u);
  EXPECT_EQ((*h)[1].timeline, 2);
  EXPECT_FALSE(ParseTimelineHistory("one\t0/1\n").ok());
  EXPECT_FALSE(ParseTimelineHistory("1\tnowhere\n").ok());
}

SourceSystem Promoted() {
  // Timeline 1 ended at 0/4002120, where the promoted site's timeline 2 began.
  return {"7713948928539521194", 2, 0x4002400, {{1, 0x4002120}}};
}
LocalPosition At(uint64_t received, uint64_t replayed, int timeline = 1) {
  return {"7713948928539521194", timeline, received, replayed, false, ""};
}

TEST(UpstreamTest, AStandbyAtOrBeforeThePromotionPointCanStream) {
  auto v = CheckFork(At(0x4002120, 0x4002120), Promoted());
  EXPECT_TRUE(v.can_stream) << v.reason;
  EXPECT_EQ(v.fork_point, 0x4002120u);
  EXPECT_TRUE(CheckFork(At(0x4000000, 0x3FFF000), Promoted()).can_stream);
  // Never streamed since it started: the replayed position decides.
  EXPECT_TRUE(CheckFork(At(0, 0x4002000), Promoted()).can_stream);
}

TEST(UpstreamTest, WalReceivedPastThePromotionPointRulesStreamingOut) {
  // Received, not replayed, is enough: it would be replayed before the switch.
  auto v = CheckFork(At(0x4002238, 0x4002120), Promoted());
  EXPECT_FALSE(v.can_stream);
  EXPECT_NE(v.reason.find("past the promotion point 0/4002120"), std::string::npos) << v.reason;
  EXPECT_FALSE(CheckFork(At(0, 0x4002238), Promoted()).can_stream);
}

TEST(UpstreamTest, AnotherClusterOrAnUnknownTimelineIsRefused) {
  LocalPosition other = At(0x1000, 0x1000);
  other.system_id = "1";
  auto v = CheckFork(other, Promoted());
  EXPECT_FALSE(v.can_stream);
  EXPECT_NE(v.reason.find("another database cluster"), std::string::npos) << v.reason;
  EXPECT_FALSE(CheckFork(At(0x1000, 0x1000, 3), Promoted()).can_stream);
  SourceSystem skipped = Promoted();
  skipped.timeline = 3;
  skipped.history = {{1, 0x3000000}, {2, 0x4000000}};
  // A standby still on timeline 1 past where timeline 1 ended.
  EXPECT_FALSE(CheckFork(At(0x3500000, 0x3500000), skipped).can_stream);
  EXPECT_TRUE(CheckFork(At(0x3500000, 0x3500000, 2), skipped).can_stream);
}

TEST(UpstreamTest, OnTheSameTimelineItMayNotBeAhead) {
  EXPECT_TRUE(CheckFork(At(0x4002400, 0x4002400, 2), Promoted()).can_stream);
  EXPECT_FALSE(CheckFork(At(0x4002500, 0x4002400, 2), Promoted()).can_stream);
}

}  // namespace
}  // namespace georep::site
