#include "framework/backfill.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "support/two_db.h"

namespace georep::framework {
namespace {

class BackfillTest : public test::TwoDbTest {};

TEST_F(BackfillTest, CreatesMissingRowsAndRemovesOrphansWithTheirFiles) {
  ASSERT_TRUE(
      main_->Exec("INSERT INTO t.files (path) SELECT 'f' || g FROM generate_series(1, 20000) g")
          .ok());
  Backfill backfill({conninfo_, tracking_conninfo_, "b", storage_, "", 5000, 60}, {spec_});
  auto first = backfill.Pass(60);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->pass_complete);
  EXPECT_EQ(first->created, 20000);
  EXPECT_EQ(RegistryRows(), 20000);
  EXPECT_EQ(CountState(0), 20000);

  // Rows deleted from the model (events missed), and one for an id that never existed.
  ASSERT_TRUE(main_->Exec("DELETE FROM t.files WHERE id % 200 = 0").ok());
  std::ofstream(storage_ + "/orphan") << "x";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET local_path = $1 WHERE model_id = 400",
                         {storage_ + "/orphan"})
                  .ok());
  ASSERT_TRUE(tracking_->Exec("INSERT INTO georep.file_registry (model_id) VALUES (999999)").ok());
  ASSERT_TRUE(main_->Exec("INSERT INTO t.files (path) VALUES ('new')").ok());
  auto second = backfill.Pass(60);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->removed, 101);
  EXPECT_EQ(second->created, 1);
  EXPECT_EQ(RegistryRows(), 20000 - 100 + 1);
  EXPECT_FALSE(std::filesystem::exists(storage_ + "/orphan"));
  // Nothing left to do.
  auto third = backfill.Pass(60);
  EXPECT_EQ(third->created + third->removed, 0);
}

TEST_F(BackfillTest, MissingModelTableIsSkipped) {
  ReplicableSpec absent{"absent", "", Strategy::kBlob, "t.nothing", "id", "{id}", "test"};
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, absent).ok());
  Backfill backfill({conninfo_, tracking_conninfo_, "b", storage_, "", 5000, 60}, {absent});
  auto pass = backfill.Pass(10);
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_TRUE(pass->pass_complete);
}

}  // namespace
}  // namespace georep::framework
