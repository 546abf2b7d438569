// Event-log pruning: the horizon the primary computes from its secondaries'
// reports, the batches that delete below it, and what a secondary's log
// cursor, backfill and verifier do when events it needed were pruned.
#include "events/prune.h"

#include "absl/strings/str_cat.h"
#include "events/backfill.h"
#include "events/log_cursor.h"
#include "events/publish.h"
#include "fleet/reports.h"
#include "framework/registry/dataloss.h"
#include "framework/storage/blob_store.h"
#include "framework/verify/verifier.h"
#include "gtest/gtest.h"
#include "site/sites.h"
#include "support/two_db.h"

namespace georep::events {
namespace {

class PruneTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    auto skipped = InstallPublishTriggers(*main_, {spec_});
    ASSERT_TRUE(skipped.ok()) << skipped.status();
  }
  int64_t AddSecondary(const std::string& name) {
    auto s = site::AddSite(*main_, {name, "http://" + name, "", false});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->id : 0;
  }
  void Report(int64_t site_id, int64_t oldest_needed) {
    std::string report =
        absl::StrCat(R"({"cursor": {"oldest_needed_event_id": )", oldest_needed, "}}");
    ASSERT_TRUE(fleet::StoreReport(*main_, site_id, report).ok());
  }
  void InsertFiles(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          main_->Exec("INSERT INTO t.files (path) VALUES ($1)", {absl::StrCat("f", i)}).ok());
    }
  }
  // The ids the log holds, as "first..last (count)".
  std::string Log() {
    auto r = main_->Exec(
        "SELECT coalesce(min(id), 0) || '..' || coalesce(max(id), 0) || ' (' || count(*) || ')' "
        "FROM georep.geo_event_log");
    return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
  }
  int64_t OrphanEvents() {
    auto r = main_->Exec(
        "SELECT count(*) FROM georep.geo_events e WHERE NOT EXISTS (SELECT 1 FROM "
        "georep.geo_event_log l WHERE l.geo_event_id = e.id)");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  int64_t PruneAll(double hold = 3600, int batch = 1000) {
    auto h = ReadPruneHorizon(*main_, hold);
    EXPECT_TRUE(h.ok()) << h.status();
    int64_t total = 0;
    while (h.ok()) {
      auto n = PruneBatch(*main_, h->below, batch);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      total += *n;
    }
    return total;
  }
  CursorOptions Cursor() {
    return {conninfo_, tracking_conninfo_, "a", framework::LocalFiles(storage_), 0.01, 5, 3600,
            1000};
  }
  std::string CursorRow() {
    auto r = tracking_->Exec(
        "SELECT last_event_id || ' fallbacks ' || fallbacks FROM georep.event_cursor");
    return r.ok() && r->rows() == 1 ? std::string(r->Get(0, 0)) : "none";
  }
};

TEST_F(PruneTest, TheLogIsPrunedBelowWhatEveryReportingSecondaryStillNeeds) {
  int64_t s1 = AddSecondary("s1");
  int64_t s2 = AddSecondary("s2");
  InsertFiles(10);  // events 1..10
  EXPECT_EQ(PruneAll(), 0) << "sites added lately that have not reported keep the whole log";

  Report(s1, 7);
  Report(s2, 4);
  auto h = ReadPruneHorizon(*main_, 3600);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->below, 4);
  ASSERT_EQ(h->sites.size(), 2u);
  EXPECT_TRUE(h->sites[0].holds && h->sites[1].holds);
  EXPECT_EQ(PruneAll(), 3);
  EXPECT_EQ(Log(), "4..10 (7)");
  EXPECT_EQ(OrphanEvents(), 0) << "an event goes with its log row";
  auto span = framework::ReadEventLogSpan(*main_);
  ASSERT_TRUE(span.ok());
  EXPECT_EQ(span->pruned_below, 4);
  EXPECT_EQ(span->events_pruned, 3);

  // A disabled site holds nothing back.
  ASSERT_TRUE(main_->Exec("UPDATE georep.geo_nodes SET enabled = false WHERE name = 's2'").ok());
  EXPECT_EQ(PruneAll(), 3);
  EXPECT_EQ(Log(), "7..10 (4)");

  // Nor does one silent past the hold; with no holder the whole log goes.
  ASSERT_TRUE(
      main_->Exec("UPDATE georep.site_reports SET reported_at = now() - interval '2 hours'").ok());
  h = ReadPruneHorizon(*main_, 3600);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->sites[0].holds);
  EXPECT_NE(h->sites[0].why.find("no status report for"), std::string::npos) << h->sites[0].why;
  EXPECT_EQ(h->below, 11);
  EXPECT_EQ(PruneAll(3600, 3), 4) << "in batches of 3";
  EXPECT_EQ(Log(), "0..0 (0)");
  span = framework::ReadEventLogSpan(*main_);
  EXPECT_EQ(span->pruned_below, 11);
  EXPECT_EQ(span->events_pruned, 10);
}

// A report whose cursor position is not a whole number (stored before the
// intake refused such reports, or written by hand) does not stop pruning
// for the fleet: that site holds nothing back, the others still do.
TEST_F(PruneTest, AReportThatIsNotAWholeNumberDoesNotStopPruning) {
  int64_t s1 = AddSecondary("s1");
  int64_t s2 = AddSecondary("s2");
  InsertFiles(10);
  Report(s1, 5);
  for (const char* odd : {"1.5", "\"7\"", "-3", "1e30", "99999999999999999999"}) {
    ASSERT_TRUE(
        fleet::StoreReport(*main_, s2,
                           absl::StrCat(R"({"cursor": {"oldest_needed_event_id": )", odd, "}}"))
            .ok())
        << odd;
    auto h = ReadPruneHorizon(*main_, 3600);
    ASSERT_TRUE(h.ok()) << odd << ": " << h.status();
    EXPECT_EQ(h->below, 5) << odd;
    EXPECT_FALSE(h->sites[1].holds) << odd;
  }
  EXPECT_EQ(PruneAll(), 4);
}

TEST_F(PruneTest, AnUncommittedEventBelowTheHorizonSurvivesAndIsStillRead) {
  LogCursor cursor(Cursor(), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);  // starts at 0
  ASSERT_TRUE(main_->Exec("BEGIN").ok());
  InsertFiles(1);  // event 1, committed late
  auto other = db::Connection::Open(conninfo_);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Exec("INSERT INTO t.files (path) VALUES ('late-2')").ok());  // event 2
  ASSERT_EQ(*cursor.Cycle(), 1);  // applies 2, keeps the gap at 1
  auto owed = framework::UnappliedEvents(*main_, *tracking_);
  ASSERT_TRUE(owed.ok());
  ASSERT_EQ(owed->oldest_needed, 1);
  // The primary prunes what this site says it has passed: nothing.
  int64_t s = AddSecondary("s1");
  Report(s, owed->oldest_needed);
  EXPECT_EQ(PruneAll(), 0);
  ASSERT_TRUE(main_->Exec("COMMIT").ok());
  EXPECT_EQ(*cursor.Cycle(), 1) << "the late event is read from its gap";
  EXPECT_EQ(RegistryRows(), 2);
  EXPECT_EQ(CursorRow(), "2 fallbacks 0");
}

TEST_F(PruneTest, ACursorThatNeededPrunedEventsFallsBackToABackfill) {
  LogCursor cursor(Cursor(), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  InsertFiles(2);  // events 1, 2
  ASSERT_EQ(*cursor.Cycle(), 2);
  // The site goes away; the primary prunes past it (no holder).
  InsertFiles(4);  // events 3..6: created while it was away
  EXPECT_EQ(PruneAll(), 6);
  auto owed = framework::UnappliedEvents(*main_, *tracking_);
  ASSERT_TRUE(owed.ok());
  EXPECT_TRUE(owed->needs_pruned_events);
  EXPECT_EQ(owed->pruned_below, 7);
  ASSERT_TRUE(tracking_
                  ->Exec("INSERT INTO georep.backfill_state (replicable, next_id) VALUES "
                         "('file', 5)")
                  .ok());

  InsertFiles(1);  // event 7
  ASSERT_EQ(*cursor.Cycle(), 1);
  EXPECT_EQ(CursorRow(), "7 fallbacks 1");
  EXPECT_EQ(RegistryRows(), 3) << "events 3..6 are gone: their rows are the backfill's";
  owed = framework::UnappliedEvents(*main_, *tracking_);
  EXPECT_FALSE(owed->needs_pruned_events);
  EXPECT_EQ(owed->not_applied, 0);
  auto next = tracking_->Exec("SELECT next_id FROM georep.backfill_state");
  EXPECT_EQ(next->GetInt64(0, 0), 0) << "the backfill's pass starts over";

  events::Backfill backfill(
      {conninfo_, tracking_conninfo_, "a", framework::LocalFiles(storage_), "", 1000, 60}, {spec_});
  auto pass = backfill.Pass(10);
  ASSERT_TRUE(pass.ok()) << pass.status();
  EXPECT_EQ(pass->created, 4);
  EXPECT_EQ(RegistryRows(), 7);
  EXPECT_EQ(*cursor.Cycle(), 0);
  EXPECT_EQ(CursorRow(), "7 fallbacks 1") << "one fallback, not one a cycle";
}

TEST_F(PruneTest, TheFallbackGapsBelowTheWatermarkAreDropped) {
  LogCursor cursor(Cursor(), {spec_});
  ASSERT_EQ(*cursor.Cycle(), 0);
  ASSERT_TRUE(main_->Exec("BEGIN").ok());
  InsertFiles(1);  // event 1, never committed
  auto other = db::Connection::Open(conninfo_);
  ASSERT_TRUE(other.ok());
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE((*other)->Exec("INSERT INTO t.files (path) VALUES ('x')").ok());  // 2..5
  ASSERT_EQ(*cursor.Cycle(), 4);
  ASSERT_TRUE(main_->Exec("ROLLBACK").ok());
  // Event 1 will never come; the site is silent past the hold; pruned to 4.
  ASSERT_TRUE(PruneBatch(*main_, 4, 1000).ok());
  ASSERT_EQ(*cursor.Cycle(), 0);
  EXPECT_EQ(CursorRow(), "5 fallbacks 1");
  auto gaps = tracking_->Exec("SELECT count(*) FROM georep.event_gaps");
  EXPECT_EQ(gaps->GetInt64(0, 0), 0);
}

TEST_F(PruneTest, AfterAFallbackTheVerifierComparesEveryCopyWithThePrimarysChecksum) {
  // An immutable blob whose update event was pruned: the copy is synced and
  // verified with the old checksum, the primary has a new one.
  ASSERT_TRUE(main_->Exec("INSERT INTO t.files (id, path) VALUES (1, 'a'), (2, 'b')").ok());
  ASSERT_TRUE(main_
                  ->Exec("UPDATE georep.file_states SET state = 2, checksum = 'new' "
                         "WHERE model_id IN (1, 2)")
                  .ok());
  ASSERT_TRUE(tracking_
                  ->Exec("INSERT INTO georep.file_registry (model_id, state, checksum, "
                         "verification_state, verified_at) VALUES "
                         "(1, 2, 'new', 2, now()), (2, 2, 'old', 2, now())")
                  .ok());
  ASSERT_TRUE(
      tracking_->Exec("INSERT INTO georep.event_cursor (name, last_event_id) VALUES ('main', 2)")
          .ok());
  framework::VerificationOptions o;
  o.main_conninfo = conninfo_;
  o.tracking_conninfo = tracking_conninfo_;
  o.blobs = framework::LocalFiles(storage_);
  o.worker_id = "w";
  framework::Verifier verifier(o, {spec_});
  auto states = [&] {
    auto r = tracking_->Exec(
        "SELECT string_agg(model_id || ':' || state, ' ' ORDER BY model_id) FROM "
        "georep.file_registry");
    return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
  };
  ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(states(), "1:2 2:2") << "blobs are not compared on the repository interval";

  ASSERT_TRUE(tracking_->Exec("UPDATE georep.event_cursor SET fallbacks = 1").ok());
  ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(states(), "1:2 2:0") << "after a fallback the stale copy is queued";
  auto answered = tracking_->Exec("SELECT reconciled_fallbacks FROM georep.event_cursor");
  EXPECT_EQ(answered->GetInt64(0, 0), 1);
}

}  // namespace
}  // namespace georep::events
