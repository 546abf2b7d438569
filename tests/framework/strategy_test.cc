// LocalChecksums: the copies of a batch read by up to a site's
// verification_max_capacity threads at once, results in the batch's order.
#include "framework/sync/strategy.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "framework/storage/blob_store.h"
#include "gtest/gtest.h"

namespace georep::framework {
namespace {

// A checksum that waits until `want` reads have run at once (or 10 s pass), so
// the most seen at once is what the caller allowed.
std::mutex mu;
std::condition_variable cv;
int running = 0, most = 0, want = 0;

absl::StatusOr<std::string> MeetingChecksum(const BlobStore&, const std::string& path) {
  std::unique_lock<std::mutex> lock(mu);
  most = std::max(most, ++running);
  cv.notify_all();
  cv.wait_for(lock, std::chrono::seconds(10), [] { return most >= want; });
  --running;
  if (path == "bad") return absl::DataLossError("unreadable");
  return "sum:" + path;
}

TEST(LocalChecksumsTest, ReadsUpToCapacityAtOnceAndKeepsTheOrder) {
  StrategyDescriptor fake{.strategy = Strategy::kBlob, .local_checksum = &MeetingChecksum};
  std::vector<std::string> paths = {"a", "b", "", "c", "bad", "d"};
  {
    std::lock_guard<std::mutex> lock(mu);
    running = most = 0;
    want = 3;
  }
  auto sums = LocalChecksums(fake, *LocalFiles("/nowhere"), paths, 3);
  ASSERT_EQ(sums.size(), paths.size());
  EXPECT_EQ(*sums[0], "sum:a");
  EXPECT_EQ(*sums[1], "sum:b");
  EXPECT_EQ(sums[2].status().code(), absl::StatusCode::kNotFound) << "no local copy";
  EXPECT_EQ(*sums[3], "sum:c");
  EXPECT_EQ(sums[4].status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*sums[5], "sum:d");
  EXPECT_EQ(most, 3);
}

TEST(LocalChecksumsTest, NoMoreThreadsThanPathsAndNoneForAnEmptyBatch) {
  StrategyDescriptor fake{.strategy = Strategy::kBlob, .local_checksum = &MeetingChecksum};
  {
    std::lock_guard<std::mutex> lock(mu);
    running = most = 0;
    want = 2;
  }
  auto sums = LocalChecksums(fake, *LocalFiles("/nowhere"), {"x", "y"}, 50);
  EXPECT_EQ(most, 2);
  EXPECT_EQ(*sums[1], "sum:y");
  EXPECT_TRUE(LocalChecksums(fake, *LocalFiles("/nowhere"), {}, 4).empty());
}

}  // namespace
}  // namespace georep::framework
