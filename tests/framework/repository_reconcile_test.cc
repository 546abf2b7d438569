// Repositories changed without an event: the primary's checksummer records
// the new refs digest and publishes an `updated` event with it (not a
// "modified outside the application" failure), and a secondary's verifier
// queues every synced copy whose digest is not the primary's.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "events/publish.h"
#include "framework/storage/blob_store.h"
#include "framework/verify/checksummer.h"
#include "framework/verify/verifier.h"
#include "git/repository.h"
#include "gtest/gtest.h"
#include "support/fake_clock.h"
#include "support/two_db.h"
#include "util/subprocess.h"

namespace georep::framework {
namespace {

class RepositoryReconcileTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    repos_ = test::MakeTempDir("repos");
    work_ = test::MakeTempDir("work");
    ASSERT_TRUE(
        main_->ExecScript("CREATE TABLE t.repos (id bigserial PRIMARY KEY, path text NOT NULL)")
            .ok());
    repo_spec_ = {"repo", "Repo", Strategy::kRepository, "t.repos", "id", "{path}.git", "test"};
    auto skipped = events::InstallPublishTriggers(*main_, {repo_spec_});
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    ASSERT_TRUE(EnsureRegistryTable(*tracking_, repo_spec_).ok());
    test::Git({"init", "-q", work_});
  }
  void TearDown() override {
    test::RemoveTree(repos_);
    test::RemoveTree(work_);
    test::TwoDbTest::TearDown();
  }
  // A commit pushed straight into the bare repository: no event at all.
  void PushOutOfBand(const std::string& bare, const std::string& tag) {
    std::ofstream(work_ + "/" + tag) << tag;
    test::Git({"-C", work_, "add", "-A"});
    test::Git({"-C", work_, "commit", "-q", "-m", tag});
    test::Git({"-C", work_, "push", "-q", bare, "main"});
  }
  VerificationOptions Options() {
    VerificationOptions o;
    o.main_conninfo = conninfo_;
    o.tracking_conninfo = tracking_conninfo_;
    o.blobs = LocalFiles(storage_);
    o.repository_root = repos_;
    o.worker_id = "w";
    o.repository_interval_seconds = 60;
    return o;
  }
  std::string StatesRow(int64_t id) {
    auto r = main_->Exec(
        "SELECT state || ' ' || coalesce(checksum, '-') FROM georep.repo_states "
        "WHERE model_id = $1",
        {absl::StrCat(id)});
    return r.ok() && r->rows() == 1 ? std::string(r->Get(0, 0)) : "none";
  }
  int64_t UpdatedEvents(int64_t id) {
    auto r = main_->Exec(
        "SELECT count(*) FROM georep.geo_events WHERE replicable_name = 'repo' AND "
        "event_name = 'updated' AND model_id = $1",
        {absl::StrCat(id)});
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }

  std::string repos_;
  std::string work_;
  ReplicableSpec repo_spec_;
};

TEST_F(RepositoryReconcileTest, ThePrimaryPublishesARepositoryChangedWithoutAnEvent) {
  std::string bare = repos_ + "/g/p.git";
  ASSERT_TRUE(git::InitBare(bare).ok());
  PushOutOfBand(bare, "one");
  auto ins = main_->Exec("INSERT INTO t.repos (path) VALUES ('g/p') RETURNING id");
  ASSERT_TRUE(ins.ok()) << ins.status();
  int64_t id = ins->GetInt64(0, 0);
  Checksummer checksummer(Options(), {repo_spec_});
  ASSERT_TRUE(checksummer.Round().ok());
  std::string first = *git::RefsChecksum(bare);
  ASSERT_EQ(StatesRow(id), "2 " + first);
  EXPECT_EQ(UpdatedEvents(id), 0);

  // Pushed behind the application's back, then due for its re-read.
  PushOutOfBand(bare, "two");
  std::string second = *git::RefsChecksum(bare);
  ASSERT_NE(first, second);
  ASSERT_TRUE(
      main_->Exec("UPDATE georep.repo_states SET verified_at = now() - interval '2 minutes'").ok());
  auto n = checksummer.Round();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(StatesRow(id), "2 " + second) << "a new state, not a checksum failure";
  EXPECT_EQ(UpdatedEvents(id), 1) << "published, so secondaries fetch it";

  // Not due yet: nothing is read again.
  EXPECT_EQ(*checksummer.Round(), 0);
}

TEST_F(RepositoryReconcileTest, ASecondaryQueuesEveryCopyWhoseDigestIsNotThePrimarys) {
  // Primary digests as replicated: 1 and 2 checksummed, 3 being re-checksummed.
  ASSERT_TRUE(main_
                  ->Exec("INSERT INTO t.repos (id, path) VALUES (1, 'a'), (2, 'b'), (3, 'c'), "
                         "(4, 'd')")
                  .ok());
  ASSERT_TRUE(main_
                  ->Exec("UPDATE georep.repo_states SET state = 2, checksum = 'new' "
                         "WHERE model_id IN (1, 2, 4)")
                  .ok());
  // The secondary: 1 is current, 2 is a stale copy marked synced and
  // verified (its event was lost), 3 has no primary digest yet, 4 is still
  // syncing.
  ASSERT_TRUE(tracking_
                  ->Exec("INSERT INTO georep.repo_registry (model_id, state, checksum, "
                         "verification_state, verified_at) VALUES "
                         "(1, 2, 'new', 2, now()), (2, 2, 'old', 2, now()), "
                         "(3, 2, 'old', 2, now()), (4, 1, NULL, 0, NULL)")
                  .ok());
  Verifier verifier(Options(), {repo_spec_});
  ASSERT_TRUE(verifier.Round().ok());
  auto states = tracking_->Exec(
      "SELECT string_agg(model_id || ':' || state, ' ' ORDER BY model_id) FROM "
      "georep.repo_registry");
  ASSERT_TRUE(states.ok());
  EXPECT_EQ(states->Get(0, 0), "1:2 2:0 3:2 4:1") << "only the stale copy is queued";
}

TEST_F(RepositoryReconcileTest, ASecondaryComparesDigestsOnItsIntervalNotEveryRound) {
  ASSERT_TRUE(main_->Exec("INSERT INTO t.repos (id, path) VALUES (1, 'a')").ok());
  ASSERT_TRUE(
      main_->Exec("UPDATE georep.repo_states SET state = 2, checksum = 'one' WHERE model_id = 1")
          .ok());
  ASSERT_TRUE(tracking_
                  ->Exec("INSERT INTO georep.repo_registry (model_id, state, checksum, "
                         "verification_state, verified_at) VALUES (1, 2, 'one', 2, now())")
                  .ok());
  auto state = [&] {
    auto r = tracking_->Exec("SELECT state FROM georep.repo_registry WHERE model_id = 1");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };
  test::FakeClock clock;
  VerificationOptions options = Options();
  options.clock = &clock;
  Verifier verifier(options, {repo_spec_});
  ASSERT_TRUE(verifier.Round().ok());
  ASSERT_EQ(state(), 2) << "current: nothing to queue";

  // The primary's digest moves on; its event is lost.
  ASSERT_TRUE(
      main_->Exec("UPDATE georep.repo_states SET checksum = 'two' WHERE model_id = 1").ok());
  clock.Advance(30);
  ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(state(), 2) << "half an interval on: not compared yet";
  clock.Advance(31);
  ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(state(), 0) << "an interval on: the stale copy is queued";
}

}  // namespace
}  // namespace georep::framework
