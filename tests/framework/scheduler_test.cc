// The sync scheduler against real tracking and standby databases, with a
// fake syncer in place of downloads: which rows it claims, in what order,
// how often a failing row is tried again, and how soon a wake-up is heard.
#include "framework/sync/scheduler.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/storage/blob_store.h"
#include "framework/sync/backoff.h"
#include "gtest/gtest.h"
#include "support/two_db.h"
#include "util/mutex.h"

namespace georep::framework {
namespace {

// What the fake syncer saw, shared by the worker threads.
struct SyncLog {
  Mutex mu;
  std::vector<std::string> order ABSL_GUARDED_BY(mu);  // "a:17", in sync order
  std::map<std::string, int> attempts ABSL_GUARDED_BY(mu);
  std::vector<std::string> failing;  // set before the scheduler starts
  // Syncs running now and the most at once, by replicable; while `hold`,
  // a sync waits before it completes.
  std::map<std::string, int> running ABSL_GUARDED_BY(mu);
  std::map<std::string, int> most ABSL_GUARDED_BY(mu);
  bool hold ABSL_GUARDED_BY(mu) = false;
  std::vector<size_t> batches ABSL_GUARDED_BY(mu);  // rows per SyncBatch call

  int Running(const std::string& name) {
    MutexLock lock(&mu);
    return running[name];
  }
  int Most(const std::string& name) {
    MutexLock lock(&mu);
    return most[name];
  }
  void Hold(bool on) {
    MutexLock lock(&mu);
    hold = on;
  }

  std::vector<std::string> Order() {
    MutexLock lock(&mu);
    return order;
  }
  int Attempts(const std::string& key) {
    MutexLock lock(&mu);
    return attempts[key];
  }
};

// Records the item and marks it synced (no bytes move), or fails it like an
// unreachable primary when its key is in `failing`.
class FakeSyncer : public Syncer {
 public:
  FakeSyncer(const SyncContext& ctx, SyncLog* log) : Syncer(ctx), log_(log) {}

  absl::Status SyncBatch(const ReplicableSpec& spec,
                         const std::vector<ClaimedItem>& items) override {
    {
      MutexLock lock(&log_->mu);
      log_->batches.push_back(items.size());
    }
    return Syncer::SyncBatch(spec, items);
  }

 protected:
  absl::Status Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                     const Target& target) override {
    std::string key = absl::StrCat(spec.name, ":", item.model_id);
    {
      MutexLock lock(&log_->mu);
      log_->order.push_back(key);
      ++log_->attempts[key];
      int now = ++log_->running[spec.name];
      log_->most[spec.name] = std::max(log_->most[spec.name], now);
      auto released = [this]() {
        log_->mu.AssertReaderHeld();
        return !log_->hold;
      };
      log_->mu.Await(absl::Condition(&released));
      --log_->running[spec.name];
    }
    for (const auto& f : log_->failing) {
      if (f == key) return absl::UnavailableError("primary answered 502");
    }
    SyncResult result;
    result.local_path = target.local;
    result.checksum = "fake";
    result.new_entry = false;
    auto done = CompleteSync(*tracking_, spec, item, result, [] { return absl::OkStatus(); });
    return done.ok() ? absl::OkStatus() : done.status();
  }

 private:
  SyncLog* log_;
};

class SchedulerTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    for (const char* name : {"a", "b"}) {
      ASSERT_TRUE(main_
                      ->ExecScript(absl::StrCat("CREATE TABLE t.", name,
                                                " (id bigint PRIMARY KEY, path text NOT NULL)"))
                      .ok());
      ReplicableSpec spec{name, name,     Strategy::kBlob, absl::StrCat("t.", name),
                          "id", "{path}", "test"};
      ASSERT_TRUE(EnsureRegistryTable(*tracking_, spec).ok());
      specs_.push_back(spec);
    }
  }
  void TearDown() override {
    scheduler_.reset();
    test::TwoDbTest::TearDown();
  }
  // `count` model rows of `name` and their pending registry rows.
  void Seed(const std::string& name, int count) {
    ASSERT_TRUE(main_
                    ->Exec(absl::StrCat("INSERT INTO t.", name,
                                        " SELECT g, 'f/' || g FROM generate_series(1, $1) g"),
                           {absl::StrCat(count)})
                    .ok());
    ASSERT_TRUE(
        tracking_
            ->Exec(absl::StrCat("INSERT INTO georep.", name,
                                "_registry (model_id) SELECT g FROM generate_series(1, $1) g"),
                   {absl::StrCat(count)})
            .ok());
  }
  int64_t Synced(const std::string& name) {
    auto r = tracking_->Exec(
        absl::StrCat("SELECT count(*) FROM georep.", name, "_registry WHERE state = 2"));
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  void Start(SchedulerOptions options) {
    options.sync.standby_conninfo = conninfo_;
    options.sync.tracking_conninfo = tracking_conninfo_;
    options.sync.storage_root = storage_;
    options.sync.blobs = LocalFiles(storage_);
    options.sync.worker_id = "scheduler-test";
    options.make_syncer = [this](Strategy, const SyncContext& ctx) -> std::unique_ptr<Syncer> {
      return std::make_unique<FakeSyncer>(ctx, &log_);
    };
    scheduler_ = std::make_unique<Scheduler>(std::move(options), specs_);
    scheduler_->Start();
  }

  std::vector<ReplicableSpec> specs_;
  SyncLog log_;
  std::unique_ptr<Scheduler> scheduler_;
};

// Blobs run on files_max_capacity workers and repositories on
// repos_max_capacity: each pool fills to its own capacity and no further.
TEST_F(SchedulerTest, BlobsAndRepositoriesEachRunUpToTheirOwnCapacity) {
  ASSERT_TRUE(
      main_->ExecScript("CREATE TABLE t.r (id bigint PRIMARY KEY, path text NOT NULL)").ok());
  ReplicableSpec repo{"r", "r", Strategy::kRepository, "t.r", "id", "{path}.git", "test"};
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, repo).ok());
  specs_.push_back(repo);
  Seed("a", 30);
  Seed("r", 30);
  log_.Hold(true);
  SchedulerOptions o;
  o.capacity = 3;
  o.repos_capacity = 2;
  o.batch_max = 1;
  Start(o);
  EXPECT_TRUE(test::WaitFor([&] { return log_.Running("a") == 3 && log_.Running("r") == 2; }, 30))
      << "a: " << log_.Running("a") << ", r: " << log_.Running("r");
  log_.Hold(false);
  EXPECT_TRUE(test::WaitFor([&] { return Synced("a") == 30 && Synced("r") == 30; }, 60));
  EXPECT_EQ(log_.Most("a"), 3);
  EXPECT_EQ(log_.Most("r"), 2);
}

TEST_F(SchedulerTest, ASmallTypeIsNotStarvedBehindALargeOne) {
  Seed("a", 1000);
  Seed("b", 20);
  Start({.capacity = 2});
  ASSERT_TRUE(test::WaitFor([&] { return Synced("a") == 1000 && Synced("b") == 20; }, 120));
  std::vector<std::string> order = log_.Order();
  ASSERT_EQ(order.size(), 1020u) << "each row synced once";
  size_t last_b = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (order[i].starts_with("b:")) last_b = i;
  }
  // Claims take turns between types: b's rows go in the first rounds, not
  // after the thousand rows of a.
  EXPECT_LT(last_b, 200u) << "b's last row was the " << last_b << "th sync";
}

// A backlog of small blobs is fetched in large requests: a worker takes its
// share of the queue's rows of one replicable though the claims of several
// interleave there, and more rows are kept claimed while syncs are fast.
TEST_F(SchedulerTest, ABacklogIsFetchedInLargeBatchesOfOneReplicable) {
  Seed("a", 600);
  Seed("b", 600);
  Start({.capacity = 2});
  ASSERT_TRUE(test::WaitFor([&] { return Synced("a") == 600 && Synced("b") == 600; }, 120));
  EXPECT_EQ(log_.Order().size(), 1200u) << "each row synced once";
  MutexLock lock(&log_.mu);
  size_t largest = 0, rows = 0;
  for (size_t n : log_.batches) {
    largest = std::max(largest, n);
    rows += n;
  }
  // Most rows went in batches, some larger than the 16 rows that were the
  // most before; none above what the primary accepts in one request.
  EXPECT_GT(rows, 600u) << "rows synced in batches, of 1200";
  EXPECT_GT(largest, 16u) << log_.batches.size() << " batches";
  EXPECT_LE(largest, static_cast<size_t>(defaults::kMaxBatchItems));
}

TEST_F(SchedulerTest, AFailingRowWaitsForItsRetryTimeWhileTheOthersSync) {
  Seed("a", 200);
  // a:5 fails for the first time; a:6 has failed 50 times already and is due.
  ASSERT_TRUE(tracking_
                  ->Exec("UPDATE georep.a_registry SET state = 3, retry_count = 50, "
                         "retry_at = now() - interval '1 second' WHERE model_id = 6")
                  .ok());
  log_.failing = {"a:5", "a:6"};
  Start({.capacity = 2});
  ASSERT_TRUE(test::WaitFor([&] { return Synced("a") == 198; }, 120));
  ASSERT_TRUE(test::WaitFor([&] { return log_.Attempts("a:6") == 1; }, 60));
  // Every other row went through the scheduler after both failures were
  // recorded at least once, and neither was tried again before its time.
  EXPECT_EQ(log_.Attempts("a:5"), 1);
  EXPECT_EQ(log_.Attempts("a:6"), 1);
  auto r = tracking_->Exec(
      "SELECT model_id, state, retry_count, extract(epoch FROM retry_at - now()), "
      "last_sync_failure FROM georep.a_registry WHERE model_id IN (5, 6) ORDER BY model_id");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows(), 2);
  EXPECT_EQ(r->GetInt64(0, 1), 3) << "failed";
  EXPECT_EQ(r->GetInt64(0, 2), 1);
  EXPECT_GT(r->GetDouble(0, 3), 0) << "retried later, not at once";
  EXPECT_NE(std::string(r->Get(0, 4)).find("502"), std::string::npos) << r->Get(0, 4);
  EXPECT_EQ(r->GetInt64(1, 2), 51);
  // Fifty failures do not push the next try beyond the cap (plus jitter).
  EXPECT_LE(r->GetDouble(1, 3), kRetryCapSeconds + 30);
  EXPECT_GT(r->GetDouble(1, 3), kRetryCapSeconds - 60);
}

TEST_F(SchedulerTest, AWakeUpClaimsNewRowsWithoutWaitingForThePoll) {
  // Polls once an hour: only Wake() can get the new row synced in time.
  Start({.capacity = 1, .idle_poll_seconds = 3600});
  // Its first round (heartbeat, then an empty claim) is under way.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking_->Exec(
            "SELECT count(*) FROM georep.workers WHERE worker_id = 'scheduler-test'");
        return r.ok() && r->GetInt64(0, 0) == 1;
      },
      60));
  Seed("b", 1);
  scheduler_->Wake();
  EXPECT_TRUE(test::WaitFor([&] { return Synced("b") == 1; }, 60));
}

}  // namespace
}  // namespace georep::framework
