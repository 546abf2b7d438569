// Items recorded lost in a forced failover, against a real PostgreSQL: a
// secondary's registry follows the records (lost rows are never claimed,
// its own synced copies are kept), the data-loss report names them apart
// from this site's loss, and a record removed by salvage puts the row back
// to be fetched.
#include "framework/registry/lost_in_failover.h"

#include "absl/strings/match.h"
#include "framework/registry/dataloss.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/states.h"
#include "gtest/gtest.h"
#include "support/two_db.h"

namespace georep::framework {
namespace {

class LostInFailoverTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    // Five rows of the application; the registry holds 1 synced and
    // verified, 2 failed, 3 and 4 pending, 5 not yet registered.
    ASSERT_TRUE(main_
                    ->Exec("INSERT INTO t.files (path) SELECT 'f' || g FROM "
                           "generate_series(1, 5) g")
                    .ok());
    ASSERT_TRUE(tracking_
                    ->ExecScript("INSERT INTO georep.file_registry (model_id, state, "
                                 "verification_state) VALUES (1, 2, 2), (2, 3, 0), (3, 0, 0), "
                                 "(4, 0, 0);"
                                 "UPDATE georep.file_registry SET retry_at = now() - interval "
                                 "'1 hour', last_sync_failure = 'HTTP 404' WHERE model_id = 2")
                    .ok());
  }
  int State(int64_t id) {
    auto r = tracking_->Exec("SELECT state FROM georep.file_registry WHERE model_id = $1",
                             {std::to_string(id)});
    return r.ok() && r->rows() == 1 ? static_cast<int>(r->GetInt64(0, 0)) : -1;
  }
  std::vector<int64_t> ClaimAll() {
    std::vector<int64_t> ids;
    auto claimed = ClaimBatch(*tracking_, spec_, "w", 100);
    EXPECT_TRUE(claimed.ok());
    for (const auto& c : claimed.value_or(std::vector<ClaimedItem>{})) ids.push_back(c.model_id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};

TEST_F(LostInFailoverTest, TheRegistryFollowsTheRecordsAndLostRowsAreNeverClaimed) {
  // The forced promotion recorded 1, 2 and 3 lost (1 was synced here: this
  // site's copy is kept).
  ASSERT_TRUE(
      RecordLost(*main_,
                 {{"file", 1, "pending"}, {"file", 2, "failed: HTTP 404"}, {"file", 3, "pending"}},
                 "old", "new")
          .ok());
  // Recorded again (the promotion run twice): the first record stays.
  ASSERT_TRUE(RecordLost(*main_, {{"file", 2, "other"}}, "old", "new").ok());
  auto changed = FollowLostRecords(*main_, *tracking_, {spec_});
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(*changed, 2);
  EXPECT_EQ(State(1), static_cast<int>(SyncState::kSynced));
  EXPECT_EQ(State(2), static_cast<int>(SyncState::kLost));
  EXPECT_EQ(State(3), static_cast<int>(SyncState::kLost));
  // Idempotent.
  EXPECT_EQ(*FollowLostRecords(*main_, *tracking_, {spec_}), 0);
  // Nothing lost is fetched: only 4 is claimed.
  EXPECT_EQ(ClaimAll(), std::vector<int64_t>{4});

  // The data-loss report names them apart, with when and from where.
  auto loss = UnverifiedItems(*main_, *tracking_, spec_);
  ASSERT_TRUE(loss.ok()) << loss.status();
  ASSERT_EQ(loss->lost.size(), 2u);
  EXPECT_EQ(loss->lost[0].id, 2);
  EXPECT_TRUE(absl::StrContains(loss->lost[0].reason, "lost in the failover from old to new"))
      << loss->lost[0].reason;
  std::vector<int64_t> missing;
  for (const auto& m : loss->missing) missing.push_back(m.id);
  EXPECT_EQ(missing, (std::vector<int64_t>{4, 5}));
  auto failovers = ReadLostFailovers(*main_);
  ASSERT_TRUE(failovers.ok());
  ASSERT_EQ(failovers->size(), 1u);
  EXPECT_EQ((*failovers)[0].total, 3);
  EXPECT_EQ((*failovers)[0].items.at("file"), 3);
  EXPECT_EQ((*failovers)[0].old_primary, "old");
}

TEST_F(LostInFailoverTest, ARecordRemovedBySalvagePutsTheRowBackToBeFetched) {
  ASSERT_TRUE(
      RecordLost(*main_, {{"file", 2, "failed"}, {"file", 3, "pending"}}, "old", "new").ok());
  ASSERT_TRUE(FollowLostRecords(*main_, *tracking_, {spec_}).ok());
  ASSERT_EQ(State(3), static_cast<int>(SyncState::kLost));
  // An operator's resync of a lost row: it is marked lost again at once.
  ASSERT_TRUE(tracking_->Exec("UPDATE georep.file_registry SET state = 0 WHERE model_id = 3").ok());
  EXPECT_EQ(*FollowLostRecords(*main_, *tracking_, {spec_}), 1);
  EXPECT_EQ(State(3), static_cast<int>(SyncState::kLost));

  auto forgotten = ForgetLost(*main_, "file", {3});
  ASSERT_TRUE(forgotten.ok());
  EXPECT_EQ(*forgotten, 1);
  EXPECT_EQ(*FollowLostRecords(*main_, *tracking_, {spec_}), 1);
  EXPECT_EQ(State(3), static_cast<int>(SyncState::kPending));
  EXPECT_EQ(State(2), static_cast<int>(SyncState::kLost));
  EXPECT_EQ(ClaimAll(), (std::vector<int64_t>{3, 4}));
  // Every record gone: nothing stays lost.
  ASSERT_TRUE(ForgetLost(*main_, "file", {2}).ok());
  EXPECT_EQ(*FollowLostRecords(*main_, *tracking_, {spec_}), 1);
  EXPECT_EQ(State(2), static_cast<int>(SyncState::kPending));
  EXPECT_TRUE(ReadLostFailovers(*main_)->empty());
}

}  // namespace
}  // namespace georep::framework
