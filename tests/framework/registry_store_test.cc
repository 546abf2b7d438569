#include "framework/registry_store.h"

#include "gtest/gtest.h"
#include "support/two_db.h"

namespace georep::framework {
namespace {

class RegistryStoreTest : public test::TwoDbTest {
 protected:
  void Insert(int n) {
    ASSERT_TRUE(
        tracking_
            ->Exec("INSERT INTO georep.file_registry (model_id) SELECT generate_series(1, $1)",
                   {std::to_string(n)})
            .ok());
  }
};

TEST_F(RegistryStoreTest, ClaimsAreExclusiveAcrossWorkers) {
  Insert(10);
  auto a = ClaimBatch(*tracking_, spec_, "worker-a", 6);
  auto other = db::Connection::Open(tracking_conninfo_);
  auto b = ClaimBatch(**other, spec_, "worker-b", 6);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 6u);
  EXPECT_EQ(b->size(), 4u);
  std::set<int64_t> ids;
  for (const auto& i : *a) ids.insert(i.model_id);
  for (const auto& i : *b) ids.insert(i.model_id);
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(CountState(1), 10);
  EXPECT_TRUE(ClaimBatch(*tracking_, spec_, "worker-a", 5)->empty());
}

TEST_F(RegistryStoreTest, CompletionIsGuardedByStateAndClaim) {
  Insert(2);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 2);
  ASSERT_EQ(claimed.size(), 2u);
  // An update event resets the first item to pending while it syncs.
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 0 WHERE model_id = $1",
                         {std::to_string(claimed[0].model_id)})
                  .ok());
  bool installed = false;
  auto first = CompleteSync(*tracking_, spec_, claimed[0], {"/x", 1, "abc"}, [&] {
    installed = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(*first);
  EXPECT_FALSE(installed) << "a stale result must not be put in place";
  // A claim id that is not the row's is refused too.
  ClaimedItem forged = claimed[1];
  forged.claim_id ^= 1;
  EXPECT_FALSE(
      *CompleteSync(*tracking_, spec_, forged, {"/x", 1, "abc"}, [] { return absl::OkStatus(); }));
  EXPECT_TRUE(*CompleteSync(*tracking_, spec_, claimed[1], {"/y", 5, "def"},
                            [] { return absl::OkStatus(); }));
  EXPECT_EQ(CountState(0), 1);
  EXPECT_EQ(CountState(2), 1);
  // A failing install rolls the row back to started.
  auto again = *ClaimBatch(*tracking_, spec_, "w", 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(CompleteSync(*tracking_, spec_, again[0], {"/z", 1, "x"}, [] {
                 return absl::InternalError("disk full");
               }).ok());
  EXPECT_EQ(CountState(1), 1);
}

TEST_F(RegistryStoreTest, FailuresBackOffAndRetriesTakeAtMostHalf) {
  Insert(4);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 4);
  for (const auto& item : claimed) {
    ASSERT_TRUE(FailSync(*tracking_, spec_, item, "HTTP 503", false, 0).ok());
  }
  auto r =
      tracking_->Exec("SELECT min(retry_count), max(last_sync_failure) FROM georep.file_registry");
  EXPECT_EQ(r->GetInt64(0, 0), 1);
  EXPECT_EQ(r->Get(0, 1), "HTTP 503");
  ASSERT_TRUE(
      tracking_
          ->Exec("INSERT INTO georep.file_registry (model_id) SELECT generate_series(100, 109)")
          .ok());
  auto mixed = *ClaimBatch(*tracking_, spec_, "w", 6);
  int retries = 0;
  for (const auto& i : mixed) retries += i.model_id < 100;
  EXPECT_EQ(mixed.size(), 6u);
  EXPECT_EQ(retries, 3) << "retries are capped at half a batch";
  // A failure whose retry time has not come is not claimed.
  auto later = *ClaimBatch(*tracking_, spec_, "w", 20);
  for (const auto& i : later) ASSERT_TRUE(FailSync(*tracking_, spec_, i, "x", true, 3600).ok());
  EXPECT_EQ(later.size(), 8u);
  EXPECT_TRUE(ClaimBatch(*tracking_, spec_, "w", 20)->empty());
}

TEST_F(RegistryStoreTest, StartedRowsOfDeadWorkersAreReclaimed) {
  Insert(3);
  ASSERT_TRUE(Heartbeat(*tracking_, "alive").ok());
  ASSERT_EQ(ClaimBatch(*tracking_, spec_, "alive", 1)->size(), 1u);
  ASSERT_EQ(ClaimBatch(*tracking_, spec_, "dead", 2)->size(), 2u);
  EXPECT_EQ(*ReclaimStarted(*tracking_, spec_, 10, 3600), 2);
  EXPECT_EQ(CountState(0), 2);
  EXPECT_EQ(CountState(1), 1);
  // Past the sync timeout even a live worker's row is reclaimed.
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET started_at = now() - interval '2 hours' "
                         "WHERE state = 1")
                  .ok());
  EXPECT_EQ(*ReclaimStarted(*tracking_, spec_, 10, 3600), 1);
  ASSERT_TRUE(RetireWorker(*tracking_, "alive").ok());
}

TEST_F(RegistryStoreTest, CountsFollowEveryChange) {
  Insert(5);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 2);
  ASSERT_TRUE(*CompleteSync(*tracking_, spec_, claimed[0], {"/p", 1, "c"},
                            [] { return absl::OkStatus(); }));
  ASSERT_TRUE(FailSync(*tracking_, spec_, claimed[1], "x", false, 60).ok());
  ASSERT_TRUE(tracking_
                  ->Exec("DELETE FROM georep.file_registry WHERE model_id = "
                         "(SELECT max(model_id) FROM georep.file_registry WHERE state = 0)")
                  .ok());
  auto check = [&] {
    auto counts = ReadCounts(*tracking_);
    ASSERT_TRUE(counts.ok());
    auto& c = (*counts)["file"];
    EXPECT_EQ(c[0], 2);
    EXPECT_EQ(c[1], 0);
    EXPECT_EQ(c[2], 1);
    EXPECT_EQ(c[3], 1);
  };
  check();
  ASSERT_TRUE(FoldCounts(*tracking_).ok());
  auto deltas = tracking_->Exec("SELECT count(*) FROM georep.registry_count_deltas");
  EXPECT_EQ(deltas->GetInt64(0, 0), 0);
  check();
}

}  // namespace
}  // namespace georep::framework
