#include "events/backfill.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "framework/storage/blob_store.h"
#include "gtest/gtest.h"
#include "support/two_db.h"

namespace georep::events {
namespace {

using framework::CheckDeclaredSql;
using framework::EnsureRegistryTable;
using framework::LocalFiles;

class BackfillTest : public test::TwoDbTest {};

TEST_F(BackfillTest, CreatesMissingRowsAndRemovesOrphansWithTheirFiles) {
  ASSERT_TRUE(
      main_->Exec("INSERT INTO t.files (path) SELECT 'f' || g FROM generate_series(1, 20000) g")
          .ok());
  Backfill backfill({conninfo_, tracking_conninfo_, "b", LocalFiles(storage_), "", 5000, 60},
                    {spec_});
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

// Selective sync: rows only for items in the selection (a namespace holds
// its subgroups, not its look-alikes; an item of no namespace is in every
// selection); a new selection removes what left it, copies included, even
// below a saved position, and adds what entered it.
TEST_F(BackfillTest, SelectiveSyncKeepsRowsInScopeAndFollowsANewSelection) {
  ASSERT_TRUE(
      main_
          ->ExecScript("CREATE TABLE t.items (id bigserial PRIMARY KEY, path text NOT NULL, "
                       "ns text, shard text);"
                       "INSERT INTO t.items (path, ns, shard) SELECT 'i' || g, "
                       "(ARRAY['a', 'a/b', 'ab', 'c'])[1 + g % 4], "
                       "CASE WHEN g % 2 = 0 THEN 'ssd' ELSE 'default' END "
                       "FROM generate_series(1, 400) g;"
                       "INSERT INTO t.items (path) SELECT 'n' || g FROM "
                       "generate_series(1, 10) g;")
          .ok());
  ReplicableSpec items{"item", "Item", Strategy::kBlob, "t.items", "id", "{path}", "test"};
  items.namespace_sql = "{ns}";
  items.shard_sql = "SELECT upper({shard})";
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, items).ok());
  auto count = [&](const std::string& where) {
    auto r = main_->Exec(absl::StrCat("SELECT count(*) FROM t.items WHERE ", where));
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };
  auto rows = [&]() {
    auto r = tracking_->Exec("SELECT count(*) FROM georep.item_registry");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };
  auto pass = [&](SelectiveSync sel) {
    BackfillOptions o{conninfo_, tracking_conninfo_, "b", LocalFiles(storage_), "", 50, 60};
    o.selective_sync = std::move(sel);
    Backfill backfill(o, {items});
    auto p = backfill.Pass(60);
    EXPECT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p.ok() && p->pass_complete);
    return p.ok() ? *p : BackfillStats{};
  };

  auto first = pass({SelectiveSync::Kind::kNamespaces, {"a"}, {}});
  int64_t in_a = count("ns IN ('a', 'a/b') OR ns IS NULL");
  EXPECT_EQ(in_a, 210);
  EXPECT_EQ(first.created, in_a);
  EXPECT_EQ(rows(), in_a);

  // Copies of items of "a" (not "a/b"), and a position saved mid-table.
  auto a_row = main_->Exec("SELECT min(id) FROM t.items WHERE ns = 'a'");
  int64_t a_id = a_row->GetInt64(0, 0);
  std::ofstream(storage_ + "/copy") << "bytes";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.item_registry SET state = 2, local_path = $1 "
                         "WHERE model_id = $2",
                         {storage_ + "/copy", absl::StrCat(a_id)})
                  .ok());
  ASSERT_TRUE(tracking_->Exec("UPDATE georep.backfill_state SET next_id = 300").ok());

  auto narrower = pass({SelectiveSync::Kind::kNamespaces, {"a/b", "c"}, {}});
  int64_t in_ab_c = count("ns IN ('a/b', 'c') OR ns IS NULL");
  EXPECT_EQ(rows(), in_ab_c);
  EXPECT_EQ(narrower.removed, count("ns = 'a'"));
  EXPECT_EQ(narrower.created, count("ns = 'c'"));
  EXPECT_FALSE(std::filesystem::exists(storage_ + "/copy"));

  // By shard, through an expression over the row.
  pass({SelectiveSync::Kind::kShards, {}, {"SSD"}});
  EXPECT_EQ(rows(), count("shard = 'ssd' OR shard IS NULL"));

  // Everything again.
  pass({});
  EXPECT_EQ(rows(), count("true"));
}

// A replicable the site has disabled keeps no rows: every pass removes
// them with their copies, whatever the model table says.
TEST_F(BackfillTest, ADisabledReplicableLosesItsRowsAndCopies) {
  ASSERT_TRUE(
      main_->Exec("INSERT INTO t.files (path) SELECT 'f' || g FROM generate_series(1, 120) g")
          .ok());
  Backfill on({conninfo_, tracking_conninfo_, "b", LocalFiles(storage_), "", 50, 60}, {spec_});
  ASSERT_TRUE(on.Pass(60).ok());
  ASSERT_EQ(RegistryRows(), 120);
  std::ofstream(storage_ + "/f7") << "bytes";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 2, local_path = $1 "
                         "WHERE model_id = 7",
                         {storage_ + "/f7"})
                  .ok());
  Backfill off({conninfo_, tracking_conninfo_, "b", LocalFiles(storage_), "", 50, 60}, {}, {spec_});
  auto pass = off.Pass(60);
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_TRUE(pass->pass_complete);
  EXPECT_EQ(pass->removed, 120);
  EXPECT_EQ(pass->created, 0);
  EXPECT_EQ(RegistryRows(), 0);
  EXPECT_FALSE(std::filesystem::exists(storage_ + "/f7"));
  // Enabled again, it is filled again.
  ASSERT_TRUE(on.Pass(60).ok());
  EXPECT_EQ(RegistryRows(), 120);
}

// A declaration's selective-sync SQL is planned against the database at
// start-up, so a mistake is an error naming it, not a backfill that fails
// on every pass.
TEST_F(BackfillTest, ScopeSqlTheDatabaseRefusesIsAnErrorNamingTheDeclaration) {
  ReplicableSpec good = spec_;
  good.namespace_sql = "SELECT 'g/' || {path}";
  good.shard_sql = "{path}";
  EXPECT_TRUE(CheckDeclaredSql(*main_, good).ok()) << CheckDeclaredSql(*main_, good);
  ReplicableSpec bad = spec_;
  bad.shard_sql = "{no_such_column}";
  absl::Status s = CheckDeclaredSql(*main_, bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("replicable \"file\" (test): shard_sql: "), std::string::npos) << s;
  EXPECT_NE(s.message().find("no_such_column"), std::string::npos) << s;
  ReplicableSpec elsewhere = bad;
  elsewhere.model_table = "t.not_here";
  EXPECT_TRUE(CheckDeclaredSql(*main_, elsewhere).ok()) << "no table here: nothing to check";
}

TEST_F(BackfillTest, MissingModelTableIsSkipped) {
  ReplicableSpec absent{"absent", "", Strategy::kBlob, "t.nothing", "id", "{id}", "test"};
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, absent).ok());
  Backfill backfill({conninfo_, tracking_conninfo_, "b", LocalFiles(storage_), "", 5000, 60},
                    {absent});
  auto pass = backfill.Pass(10);
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_TRUE(pass->pass_complete);
}

}  // namespace
}  // namespace georep::events
