#include "events/log_cursor.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "events/publish.h"
#include "framework/registry/dataloss.h"
#include "framework/storage/blob_store.h"
#include "gtest/gtest.h"
#include "support/two_db.h"

namespace georep::events {
namespace {

class LogCursorTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    auto skipped = InstallPublishTriggers(*main_, {spec_});
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    ASSERT_TRUE(skipped->empty());
  }
  CursorOptions Options(const std::string& holder, double lease = 5) {
    return {PgConninfo(), tracking_conninfo_,
            holder,       framework::LocalFiles(storage_),
            0.01,         lease,
            3600,         1000};
  }
  std::string PgConninfo() const { return conninfo_; }
  int64_t InsertFile(db::Connection& c, const std::string& path) {
    auto r = c.Exec("INSERT INTO t.files (path) VALUES ($1) RETURNING id", {path});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->GetInt64(0, 0) : 0;
  }
};

TEST_F(LogCursorTest, StartsAtTheNewestEventThenAppliesNewOnes) {
  InsertFile(*main_, "before");  // existed before: the backfill's job
  LogCursor cursor(Options("a"), {spec_});
  EXPECT_EQ(*cursor.Cycle(), 0);
  EXPECT_EQ(RegistryRows(), 0);
  int64_t id1 = InsertFile(*main_, "one");
  int64_t id2 = InsertFile(*main_, "two");
  EXPECT_EQ(*cursor.Cycle(), 2);
  EXPECT_EQ(CountState(0), 2);
  auto r = tracking_->Exec(
      "SELECT array_agg(model_id ORDER BY model_id)::text FROM georep.file_registry");
  EXPECT_EQ(r->Get(0, 0), absl::StrCat("{", id1, ",", id2, "}"));
  EXPECT_EQ(*cursor.Cycle(), 0);
}

// The loss report's count of events a site still owes: before its cursor has
// ever run, every event in the log (it has applied none); once it runs, those
// after its position.
TEST_F(LogCursorTest, EventsOwedBeforeTheCursorFirstRunsAreAllOfTheLog) {
  InsertFile(*main_, "one");
  InsertFile(*main_, "two");
  auto owed = framework::UnappliedEvents(*main_, *tracking_);
  ASSERT_TRUE(owed.ok()) << owed.status();
  EXPECT_FALSE(owed->started);
  EXPECT_EQ(owed->last_event, 2);
  EXPECT_EQ(owed->not_applied, 2);

  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);  // takes the newest event as its position
  InsertFile(*main_, "three");
  owed = framework::UnappliedEvents(*main_, *tracking_);
  ASSERT_TRUE(owed.ok()) << owed.status();
  EXPECT_TRUE(owed->started);
  EXPECT_EQ(owed->cursor, 2);
  EXPECT_EQ(owed->not_applied, 1);
  ASSERT_EQ(*cursor.Cycle(), 1);
  owed = framework::UnappliedEvents(*main_, *tracking_);
  EXPECT_EQ(owed->not_applied, 0);
}

// What the site still needs of the log (what a primary may not prune): the
// first id it skipped that may yet commit, else the one after its position.
TEST_F(LogCursorTest, TheOldestEventStillNeededIsTheFirstGapOrTheNextOne) {
  InsertFile(*main_, "before");
  EXPECT_EQ(framework::UnappliedEvents(*main_, *tracking_)->oldest_needed, 0)
      << "a cursor that has not started needs none of the log";
  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  EXPECT_EQ(framework::UnappliedEvents(*main_, *tracking_)->oldest_needed, 2);
  ASSERT_TRUE(main_->Exec("BEGIN").ok());
  InsertFile(*main_, "in flight");  // id 2, not committed yet
  auto other = db::Connection::Open(conninfo_);
  ASSERT_TRUE(other.ok());
  InsertFile(**other, "after");  // id 3, committed first
  ASSERT_EQ(*cursor.Cycle(), 1);
  auto owed = framework::UnappliedEvents(*main_, *tracking_);
  ASSERT_TRUE(owed.ok()) << owed.status();
  EXPECT_EQ(owed->cursor, 3);
  EXPECT_EQ(owed->oldest_needed, 2) << "the gap is still needed";
  ASSERT_TRUE(main_->Exec("COMMIT").ok());
  ASSERT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(framework::UnappliedEvents(*main_, *tracking_)->oldest_needed, 4);
}

TEST_F(LogCursorTest, UpdatedResyncsAndDeletedRemovesRowAndFile) {
  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  int64_t id = InsertFile(*main_, "dir/f1");
  ASSERT_EQ(*cursor.Cycle(), 1);
  // Pretend it was synced.
  std::filesystem::create_directories(storage_ + "/dir");
  std::ofstream(storage_ + "/dir/f1") << "bytes";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 2, local_path = $1",
                         {storage_ + "/dir/f1"})
                  .ok());
  // An update with no change of path: back to pending.
  ASSERT_TRUE(
      main_->Exec("UPDATE t.files SET path = path || '' WHERE id = $1", {absl::StrCat(id)}).ok());
  EXPECT_EQ(*cursor.Cycle(), 0) << "a no-op update publishes nothing";
  ASSERT_TRUE(main_->Exec("ALTER TABLE t.files ADD COLUMN note text").ok());
  ASSERT_TRUE(main_->Exec("UPDATE t.files SET note = 'x' WHERE id = $1", {absl::StrCat(id)}).ok());
  EXPECT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(CountState(0), 1);
  ASSERT_TRUE(main_->Exec("DELETE FROM t.files WHERE id = $1", {absl::StrCat(id)}).ok());
  EXPECT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(RegistryRows(), 0);
  EXPECT_FALSE(std::filesystem::exists(storage_ + "/dir/f1"));
}

// An event whose name publish_event never writes (put in the log by hand)
// is skipped: it neither removes nor resyncs the item.
TEST_F(LogCursorTest, AnEventOfAnUnknownKindChangesNothing) {
  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  int64_t id = InsertFile(*main_, "dir/f2");
  ASSERT_EQ(*cursor.Cycle(), 1);
  ASSERT_TRUE(tracking_->Exec("UPDATE georep.file_registry SET state = 2").ok());
  ASSERT_TRUE(main_
                  ->Exec("WITH e AS (INSERT INTO georep.geo_events (replicable_name, event_name, "
                         "model_id) VALUES ('file', 'frobbed', $1) RETURNING id) "
                         "INSERT INTO georep.geo_event_log (geo_event_id) SELECT id FROM e",
                         {absl::StrCat(id)})
                  .ok());
  ASSERT_TRUE(cursor.Cycle().ok());
  EXPECT_EQ(RegistryRows(), 1);
  EXPECT_EQ(CountState(2), 1);
}

// Selective sync: an item created outside the selection gets no row; one
// updated out of it loses its row and copy; a delete is applied whatever
// the item's namespace was.
TEST_F(LogCursorTest, SelectiveSyncSkipsItemsOutsideTheSelectionAndAppliesEveryDelete) {
  ASSERT_TRUE(main_->Exec("ALTER TABLE t.files ADD COLUMN ns text").ok());
  ReplicableSpec scoped = spec_;
  scoped.namespace_sql = "{ns}";
  CursorOptions o = Options("a");
  o.selective_sync = {SelectiveSync::Kind::kNamespaces, {"a"}, {}};
  LogCursor cursor(o, {scoped});
  ASSERT_EQ(*cursor.Cycle(), 0);
  auto insert = [&](const std::string& path, const char* ns) {
    auto r = main_->Exec("INSERT INTO t.files (path, ns) VALUES ($1, $2) RETURNING id",
                         {path, ns ? std::optional<std::string>(ns) : std::nullopt});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->GetInt64(0, 0) : 0;
  };
  int64_t in_sub = insert("in", "a/b");
  insert("out", "b");
  insert("prefix", "ab");  // "a" selects "a/…", not "ab"
  int64_t none = insert("none", nullptr);
  ASSERT_EQ(*cursor.Cycle(), 4);
  auto ids = [&] {
    auto r = tracking_->Exec(
        "SELECT coalesce(array_agg(model_id ORDER BY model_id)::text, '{}') "
        "FROM georep.file_registry");
    return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
  };
  EXPECT_EQ(ids(), absl::StrCat("{", in_sub, ",", none, "}"));

  // It moves out: row and copy go.
  std::ofstream(storage_ + "/in") << "bytes";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 2, local_path = $1 "
                         "WHERE model_id = $2",
                         {storage_ + "/in", absl::StrCat(in_sub)})
                  .ok());
  ASSERT_TRUE(
      main_->Exec("UPDATE t.files SET ns = 'b' WHERE id = $1", {absl::StrCat(in_sub)}).ok());
  ASSERT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(ids(), absl::StrCat("{", none, "}"));
  EXPECT_FALSE(std::filesystem::exists(storage_ + "/in"));

  // A row the site still has for an item now outside the selection (the
  // selection shrank, the backfill has not passed yet) goes with its delete.
  int64_t stale = insert("stale", "elsewhere");
  ASSERT_EQ(*cursor.Cycle(), 1);
  ASSERT_TRUE(
      tracking_
          ->Exec("INSERT INTO georep.file_registry (model_id) VALUES ($1)", {absl::StrCat(stale)})
          .ok());
  ASSERT_TRUE(main_->Exec("DELETE FROM t.files WHERE id = $1", {absl::StrCat(stale)}).ok());
  ASSERT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(ids(), absl::StrCat("{", none, "}"));
}

TEST_F(LogCursorTest, EventsCommittedOutOfIdOrderAreNotMissed) {
  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  auto slow = std::move(*db::Connection::Open(conninfo_));
  ASSERT_TRUE(slow->Exec("BEGIN").ok());
  int64_t early = InsertFile(*slow, "early");  // takes the lower event id, commits last
  int64_t late = InsertFile(*main_, "late");
  EXPECT_EQ(*cursor.Cycle(), 1);
  auto gaps = tracking_->Exec("SELECT count(*) FROM georep.event_gaps");
  EXPECT_EQ(gaps->GetInt64(0, 0), 1);
  ASSERT_TRUE(slow->Exec("COMMIT").ok());
  EXPECT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(tracking_->Exec("SELECT count(*) FROM georep.event_gaps")->GetInt64(0, 0), 0);
  auto ids = tracking_->Exec(
      "SELECT array_agg(model_id ORDER BY model_id)::text FROM georep.file_registry");
  EXPECT_EQ(ids->Get(0, 0),
            absl::StrCat("{", std::min(early, late), ",", std::max(early, late), "}"));
}

// A transaction holding more ids than any per-batch limit commits after a
// later one: every one of its events is still applied.
TEST_F(LogCursorTest, ALargeTransactionCommittedLateLosesNoEvent) {
  constexpr int kLate = 12000;
  LogCursor cursor(Options("a"), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  auto slow = std::move(*db::Connection::Open(conninfo_));
  ASSERT_TRUE(slow->Exec("BEGIN").ok());
  ASSERT_TRUE(slow->Exec("INSERT INTO t.files (path) SELECT 'late/' || g FROM "
                         "generate_series(1, $1) g",
                         {absl::StrCat(kLate)})
                  .ok());
  InsertFile(*main_, "early");  // a higher event id, committed first
  EXPECT_EQ(*cursor.Cycle(), 1);
  ASSERT_TRUE(slow->Exec("COMMIT").ok());
  int applied = 0;
  for (int i = 0; i < 100 && RegistryRows() < kLate + 1; ++i) applied += *cursor.Cycle();
  EXPECT_EQ(applied, kLate);
  EXPECT_EQ(RegistryRows(), kLate + 1);
  EXPECT_EQ(tracking_->Exec("SELECT count(*) FROM georep.event_gaps")->GetInt64(0, 0), 0);
}

TEST_F(LogCursorTest, RolledBackIdsAreForgottenAfterTheGapTimeout) {
  CursorOptions opt = Options("a");
  opt.gap_timeout_seconds = 1;
  LogCursor cursor(opt, {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  ASSERT_TRUE(main_->Exec("BEGIN").ok());
  InsertFile(*main_, "never");
  ASSERT_TRUE(main_->Exec("ROLLBACK").ok());
  InsertFile(*main_, "kept");
  EXPECT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(tracking_->Exec("SELECT count(*) FROM georep.event_gaps")->GetInt64(0, 0), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  (void)*cursor.Cycle();
  EXPECT_EQ(tracking_->Exec("SELECT count(*) FROM georep.event_gaps")->GetInt64(0, 0), 0);
  EXPECT_EQ(RegistryRows(), 1);
}

TEST_F(LogCursorTest, OneHolderAtATimeAndAStandbyTakesOver) {
  LogCursor a(Options("a", 1), {spec_});
  LogCursor b(Options("b", 1), {spec_});
  EXPECT_GE(*a.Cycle(), 0);
  EXPECT_EQ(*b.Cycle(), -1) << "b must stand by while a holds the lease";
  InsertFile(*main_, "x");
  EXPECT_EQ(*a.Cycle(), 1);
  // a stops renewing (as if killed): b takes over once the lease expires.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  InsertFile(*main_, "y");
  EXPECT_EQ(*b.Cycle(), 1);
  EXPECT_TRUE(b.holds_lease());
  EXPECT_EQ(*a.Cycle(), -1);
  EXPECT_EQ(RegistryRows(), 2) << "every event applied once";
}

}  // namespace
}  // namespace georep::events
