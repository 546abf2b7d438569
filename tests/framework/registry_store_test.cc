#include "framework/registry/registry_store.h"

#include <stdio.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/two_db.h"
#include "util/fs.h"

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
  // What an `updated` event does to a row, here while it is being synced.
  void ResetToPending(int64_t model_id) {
    ASSERT_TRUE(tracking_
                    ->Exec("UPDATE georep.file_registry SET state = 0 WHERE model_id = $1",
                           {std::to_string(model_id)})
                    .ok());
  }
};

// A registry table's steps are versioned per replicable: recorded when
// made, recognised on a table made before versions were recorded, and a
// step it lacks is applied; a table newer than the binary is refused.
TEST_F(RegistryStoreTest, RegistryTablesAreMigratedByVersionedSteps) {
  auto versions = [&]() {
    auto r = tracking_->Exec(
        "SELECT string_agg(version::text, ',' ORDER BY version) FROM georep.registry_migrations "
        "WHERE replicable = $1",
        {spec_.name});
    return r.ok() && !r->IsNull(0, 0) ? std::string(r->Get(0, 0)) : std::string();
  };
  EXPECT_EQ(versions(), absl::StrCat("1,", LatestRegistryVersion())) << "recorded when made";
  auto has_event_at = [&]() {
    auto r = tracking_->Exec(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'georep.file_registry'::regclass "
        "AND attname = 'event_at' AND NOT attisdropped");
    return r.ok() && r->rows() == 1;
  };
  // A table as the first release made it, with no versions recorded.
  ASSERT_TRUE(tracking_
                  ->ExecScript("ALTER TABLE georep.file_registry DROP COLUMN event_at; "
                               "DELETE FROM georep.registry_migrations;")
                  .ok());
  ASSERT_FALSE(has_event_at());
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, spec_).ok());
  EXPECT_TRUE(has_event_at()) << "the step it lacked is applied";
  EXPECT_EQ(versions(), "1,2");
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, spec_).ok()) << "idempotent";
  EXPECT_EQ(versions(), "1,2");
  ASSERT_TRUE(tracking_
                  ->Exec("INSERT INTO georep.registry_migrations (replicable, version, name) "
                         "VALUES ($1, 99, 'from the future')",
                         {spec_.name})
                  .ok());
  auto newer = EnsureRegistryTable(*tracking_, spec_);
  EXPECT_TRUE(absl::IsFailedPrecondition(newer)) << newer;
  EXPECT_NE(newer.message().find("newer than this georep knows"), std::string::npos) << newer;
}

// The replication latency: from the event's time on the primary to the
// verified copy, each row counted once; an update keeps the time of the
// oldest change not yet verified; backfilled rows (no event) are not counted.
TEST_F(RegistryStoreTest, LatencyRunsFromTheEventToTheVerifiedCopyAndIsCountedOnce) {
  auto now_us = [&] {
    auto r = tracking_->Exec("SELECT (extract(epoch FROM now()) * 1000000)::bigint");
    return r->GetInt64(0, 0);
  };
  int64_t t = now_us();
  ASSERT_TRUE(ApplyCreated(*tracking_, spec_, {1, 2}, {t - 30'000'000, t - 5'000'000}).ok());
  ASSERT_TRUE(ApplyCreated(*tracking_, spec_, {3}).ok());  // no time: as a backfilled row
  EXPECT_TRUE(CollectLatencies(*tracking_, spec_)->empty()) << "nothing verified yet";
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 2, verification_state = 2, "
                         "verified_at = now()")
                  .ok());
  auto first = CollectLatencies(*tracking_, spec_);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  std::vector<double> got = *first;
  std::sort(got.begin(), got.end());
  EXPECT_NEAR(got[0], 5, 1);
  EXPECT_NEAR(got[1], 30, 1);
  EXPECT_TRUE(CollectLatencies(*tracking_, spec_)->empty()) << "counted once";

  // Two updates before the copy is verified again: the older one counts.
  t = now_us();
  ASSERT_TRUE(ApplyUpdated(*tracking_, spec_, {1}, {t - 60'000'000}).ok());
  ASSERT_TRUE(ApplyUpdated(*tracking_, spec_, {1}, {t - 1'000'000}).ok());
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.file_registry SET state = 2, verification_state = 2, "
                         "verified_at = now() WHERE model_id = 1")
                  .ok());
  auto again = CollectLatencies(*tracking_, spec_);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_NEAR((*again)[0], 60, 1);
}

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
  ResetToPending(claimed[0].model_id);
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

TEST_F(RegistryStoreTest, BatchCompletionRecordsEachRowOnItsOwnMerits) {
  Insert(4);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 4);
  ASSERT_EQ(claimed.size(), 4u);
  // Row 0 was reset by an update event meanwhile; row 1's install fails.
  ResetToPending(claimed[0].model_id);
  std::vector<SyncResult> results = {
      {"/a", 1, "c0", kVerificationSucceeded},
      {"/b", 2, "c1", kVerificationSucceeded},
      {"/odd \"path\", {with} \\ marks", 3, "c2", kVerificationSucceeded},
      {"/d", 4, "c3", kVerificationDisabled}};
  std::vector<int> calls(4, 0);
  std::vector<std::function<absl::Status()>> installs;
  for (int i = 0; i < 4; ++i) {
    installs.push_back([&calls, i]() -> absl::Status {
      ++calls[i];
      return i == 1 ? absl::InternalError("disk full") : absl::OkStatus();
    });
  }
  std::vector<Completion> batch;
  for (int i = 0; i < 4; ++i) batch.push_back({&claimed[i], &results[i], &installs[i]});
  ASSERT_TRUE(CompleteSyncBatch(*tracking_, spec_, batch).ok());

  EXPECT_FALSE(batch[0].done);
  EXPECT_EQ(calls[0], 0) << "a stale result must not be put in place";
  EXPECT_FALSE(batch[1].done);
  EXPECT_EQ(batch[1].status.message(), "disk full");
  EXPECT_TRUE(batch[2].done);
  EXPECT_TRUE(batch[3].done);
  EXPECT_EQ(calls[2], 1) << "installs run once, even when the batch is marked again";
  EXPECT_EQ(calls[3], 1);
  auto rows = tracking_->Exec(
      "SELECT model_id, state, local_path, file_size, checksum, verification_state, "
      "verified_at IS NOT NULL FROM georep.file_registry ORDER BY model_id");
  ASSERT_TRUE(rows.ok());
  std::map<int64_t, int> row_of;
  for (int r = 0; r < rows->rows(); ++r) row_of[rows->GetInt64(r, 0)] = r;
  auto at = [&](int i) { return row_of.at(claimed[i].model_id); };
  EXPECT_EQ(rows->GetInt64(at(0), 1), 0);
  EXPECT_EQ(rows->GetInt64(at(1), 1), 1) << "a failed install leaves its row started";
  EXPECT_EQ(rows->GetInt64(at(2), 1), 2);
  EXPECT_EQ(rows->Get(at(2), 2), "/odd \"path\", {with} \\ marks");
  EXPECT_EQ(rows->GetInt64(at(2), 3), 3);
  EXPECT_EQ(rows->Get(at(2), 4), "c2");
  EXPECT_TRUE(rows->GetBool(at(2), 6));
  EXPECT_EQ(rows->GetInt64(at(3), 5), kVerificationDisabled);
  EXPECT_FALSE(rows->GetBool(at(3), 6));
  EXPECT_EQ(CountState(2), 2);
}

// A copy renamed into place is made durable (its folder fsynced) before its
// row says synced: the barrier runs after the renames, while no other session
// can yet see the rows synced, and a barrier that fails records nothing.
TEST_F(RegistryStoreTest, NoRowIsRecordedSyncedBeforeItsCopyIsDurable) {
  Insert(3);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 3);
  ASSERT_EQ(claimed.size(), 3u);
  std::vector<std::string> finals = {storage_ + "/a/1", storage_ + "/a/2", storage_ + "/b/3"};
  std::vector<SyncResult> results;
  std::vector<std::function<absl::Status()>> installs;
  for (size_t i = 0; i < claimed.size(); ++i) {
    ASSERT_TRUE(MakeDirs(std::filesystem::path(finals[i]).parent_path().string()).ok());
    std::string tmp = absl::StrCat(storage_, "/tmp-", i);
    ASSERT_TRUE(WriteFileAtomic(tmp, "bytes").ok());
    results.push_back({finals[i], 5, "sum"});
    installs.push_back([tmp, dst = finals[i]]() -> absl::Status {
      return rename(tmp.c_str(), dst.c_str()) == 0 ? absl::OkStatus()
                                                   : absl::InternalError("rename");
    });
  }
  std::vector<Completion> batch;
  for (size_t i = 0; i < claimed.size(); ++i)
    batch.push_back({&claimed[i], &results[i], &installs[i]});
  auto observer = std::move(*db::Connection::Open(tracking_conninfo_));
  std::vector<std::string> barrier_paths;
  bool in_place = false;
  int64_t synced_meanwhile = -1;
  auto barrier = [&](const std::vector<std::string>& paths) -> absl::Status {
    barrier_paths = paths;
    in_place = true;
    for (const auto& f : finals) in_place = in_place && std::filesystem::exists(f);
    auto r = observer->Exec("SELECT count(*) FROM georep.file_registry WHERE state = 2");
    synced_meanwhile = r.ok() ? r->GetInt64(0, 0) : -1;
    return MakeInstallsDurable(paths);
  };
  ASSERT_TRUE(CompleteSyncBatch(*tracking_, spec_, batch, barrier).ok());
  std::sort(barrier_paths.begin(), barrier_paths.end());
  EXPECT_EQ(barrier_paths, finals);
  EXPECT_TRUE(in_place) << "the barrier runs after the renames";
  EXPECT_EQ(synced_meanwhile, 0) << "and before the rows are committed synced";
  EXPECT_EQ(CountState(2), 3);

  // The folders cannot be made durable (an fsync error): nothing is recorded.
  ASSERT_TRUE(tracking_->Exec("INSERT INTO georep.file_registry (model_id) VALUES (4)").ok());
  auto more = *ClaimBatch(*tracking_, spec_, "w", 1);
  ASSERT_EQ(more.size(), 1u);
  SyncResult r4{storage_ + "/b/4", 1, "sum"};
  std::function<absl::Status()> noop = [] { return absl::OkStatus(); };
  std::vector<Completion> one = {{&more[0], &r4, &noop}};
  auto failed = CompleteSyncBatch(*tracking_, spec_, one, [](const std::vector<std::string>&) {
    return absl::InternalError("fsync folder b: Input/output error");
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("Input/output error"), std::string::npos) << failed;
  EXPECT_EQ(CountState(2), 3);
  EXPECT_EQ(CountState(1), 1) << "the row stays started, to be reclaimed and synced again";
}

TEST_F(RegistryStoreTest, GroupCommitCompletesEveryWorkersRowOnce) {
  constexpr int kThreads = 8, kPerThread = 25;
  Insert(kThreads * kPerThread);
  CompletionGroup group;
  std::atomic<int> installs{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto conn = db::Connection::Open(tracking_conninfo_);
      ASSERT_TRUE(conn.ok());
      for (int k = 0; k < kPerThread; ++k) {
        auto items = ClaimBatch(**conn, spec_, "w" + std::to_string(t), 1);
        ASSERT_TRUE(items.ok() && items->size() == 1u);
        SyncResult result{"/f" + std::to_string((*items)[0].model_id), 1, "c",
                          kVerificationSucceeded};
        auto ok = group.Complete(**conn, spec_, (*items)[0], result, [&] {
          ++installs;
          return absl::OkStatus();
        });
        ASSERT_TRUE(ok.ok()) << ok.status();
        if (*ok) ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(installs.load(), kThreads * kPerThread);
  EXPECT_EQ(CountState(2), kThreads * kPerThread);
  auto paths = tracking_->Exec(
      "SELECT count(*) FROM georep.file_registry WHERE local_path = '/f' || model_id");
  EXPECT_EQ(paths->GetInt64(0, 0), kThreads * kPerThread);
}

TEST_F(RegistryStoreTest, FailuresBackOffAndRetriesTakeAtMostHalf) {
  Insert(4);
  auto claimed = *ClaimBatch(*tracking_, spec_, "w", 4);
  for (const auto& item : claimed) {
    ASSERT_TRUE(FailSync(*tracking_, spec_, item, {.error = "HTTP 503"}).ok());
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
  for (const auto& i : later) ASSERT_TRUE(FailSync(*tracking_, spec_, i, {"x", true, 3600}).ok());
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
  ASSERT_TRUE(FailSync(*tracking_, spec_, claimed[1], {.error = "x", .delay_seconds = 60}).ok());
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

TEST_F(RegistryStoreTest, TheBrowserFiltersAndPagesByKeyset) {
  Insert(12);
  auto claimed = ClaimBatch(*tracking_, spec_, "w", 3);  // rows 1..3 started
  ASSERT_TRUE(claimed.ok() && claimed->size() == 3u);
  ASSERT_TRUE(
      FailSync(
          *tracking_, spec_, (*claimed)[0],
          {.error = "HTTP 404 from the primary", .missing_on_primary = true, .delay_seconds = 30})
          .ok());
  auto failed = ListRegistry(*tracking_, spec_, {.state = static_cast<int>(SyncState::kFailed)});
  ASSERT_TRUE(failed.ok()) << failed.status();
  ASSERT_EQ(failed->size(), 1u);
  const RegistryRow& row = (*failed)[0];
  EXPECT_EQ(row.model_id, (*claimed)[0].model_id);
  EXPECT_EQ(row.state, "failed");
  EXPECT_EQ(row.last_sync_failure, "HTTP 404 from the primary");
  EXPECT_TRUE(row.missing_on_primary);
  EXPECT_EQ(row.retry_count, 1);
  EXPECT_EQ(row.retry_at.size(), 20u) << row.retry_at;  // 2026-11-30T12:00:00Z
  EXPECT_EQ(
      ListRegistry(*tracking_, spec_, {.state = static_cast<int>(SyncState::kStarted)})->size(),
      2u);

  // Pages of 5 in id order, each after the last: every row once.
  std::vector<int64_t> seen;
  int64_t after = 0;
  for (int page = 0; page < 4; ++page) {
    auto rows = ListRegistry(*tracking_, spec_, {.after = after, .limit = 5});
    ASSERT_TRUE(rows.ok());
    for (const auto& r : *rows) seen.push_back(r.model_id);
    if (rows->empty()) break;
    after = rows->back().model_id;
  }
  ASSERT_EQ(seen.size(), 12u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(ListRegistry(*tracking_, spec_, {.id = 7})->at(0).model_id, 7);
  EXPECT_EQ(ListRegistry(*tracking_, spec_, {.limit = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ListRegistry(*tracking_, spec_, {.limit = kMaxRegistryPage + 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace georep::framework
