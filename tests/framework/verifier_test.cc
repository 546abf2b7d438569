// The secondary's verifier: a copy synced before the primary's checksum
// reached the standby is verified as soon as it does, without waiting for
// the verifier's idle round.
#include "framework/verify/verifier.h"

#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "events/publish.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/states.h"
#include "framework/storage/blob_store.h"
#include "gtest/gtest.h"
#include "support/fake_clock.h"
#include "support/two_db.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/stop_signal.h"

namespace georep::framework {
namespace {

const int kSynced = static_cast<int>(SyncState::kSynced);

class VerifierTest : public test::TwoDbTest {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();  // t.files and its registry table
    auto skipped = events::InstallPublishTriggers(*main_, {spec_});
    ASSERT_TRUE(skipped.ok()) << skipped.status();
  }
  std::string Row(int64_t id) {
    auto r = tracking_->Exec(
        "SELECT state || ' ' || verification_state FROM georep.file_registry WHERE model_id = $1",
        {absl::StrCat(id)});
    return r.ok() && r->rows() == 1 ? std::string(r->Get(0, 0)) : "none";
  }
  double LastRound() {  // the verifier's heartbeat, written every round
    auto r = tracking_->Exec(
        "SELECT coalesce(extract(epoch from max(heartbeat_at)), 0) FROM georep.workers "
        "WHERE worker_id = 'w'");
    return r.ok() ? std::stod(std::string(r->Get(0, 0))) : 0;
  }
};

// N synced copies, verified two years ago (due on any interval), each with
// its file and the primary's checksum of it.
class ScrubTest : public VerifierTest {
 protected:
  void MakeDue(int n) {
    for (int id = 1; id <= n; ++id) {
      std::string bytes = absl::StrCat(id, "\n");
      ASSERT_TRUE(WriteFileAtomic(absl::StrCat(storage_, "/f", id), bytes).ok());
    }
    ASSERT_TRUE(main_
                    ->Exec(absl::StrCat("INSERT INTO t.files (id, path) SELECT g, 'f' || g FROM "
                                        "generate_series(1, ",
                                        n, ") g"))
                    .ok());
    ASSERT_TRUE(
        main_
            ->Exec(absl::StrCat("UPDATE georep.file_states SET state = ", kVerificationSucceeded,
                                ", checksum = encode(sha256(convert_to(model_id || "
                                "E'\\n', 'UTF8')), 'hex')"))
            .ok());
    ASSERT_TRUE(tracking_
                    ->Exec(absl::StrCat(
                        "INSERT INTO georep.file_registry (model_id, state, local_path, checksum, "
                        "verification_state, verified_at) SELECT g, ",
                        kSynced, ", '", storage_,
                        "/f' || g, encode(sha256(convert_to(g || E'\\n', 'UTF8')), 'hex'), ",
                        kVerificationSucceeded,
                        ", now() - interval '2 years' FROM generate_series(1, ", n, ") g"))
                    .ok());
  }
  int64_t StillDue() {
    auto r = tracking_->Exec(
        "SELECT count(*) FROM georep.file_registry WHERE verified_at < now() - interval '1 year'");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  VerificationOptions Options() {
    VerificationOptions o;
    o.main_conninfo = conninfo_;
    o.tracking_conninfo = tracking_conninfo_;
    o.blobs = LocalFiles(storage_);
    o.worker_id = "w";
    o.batch = 100;
    o.clock = &clock_;
    return o;
  }
  test::FakeClock clock_;  // never moved unless a test says so
};

TEST_F(ScrubTest, ABacklogOfDueCopiesIsReadBackToBackNotABatchPerLook) {
  MakeDue(450);
  Verifier verifier(Options(), {spec_});
  // Due copies are looked for every few seconds; a look that finds a full
  // batch goes on in the next round, with no time passing.
  for (int round = 0; round < 6; ++round) ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(StillDue(), 0) << "the scrub read one batch per look";
}

TEST_F(ScrubTest, AScrubRateHoldsTheScrubToItsPace) {
  MakeDue(450);
  VerificationOptions o = Options();
  o.scrub_rate = 100;  // copies a second: 10 at a time
  Verifier verifier(o, {spec_});
  for (int round = 0; round < 6; ++round) ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(StillDue(), 440) << "more than a tenth of a second's worth read with no time passing";
  clock_.Advance(1.0);  // a second's worth: 100, 10 a round
  for (int round = 0; round < 20; ++round) ASSERT_TRUE(verifier.Round().ok());
  EXPECT_EQ(StillDue(), 430) << "one turn per tenth of a second";
  for (int i = 0; i < 100; ++i) {
    clock_.Advance(0.1);
    ASSERT_TRUE(verifier.Round().ok());
  }
  EXPECT_EQ(StillDue(), 0);
}

TEST_F(VerifierTest, ACopyLeftUnverifiedIsSettledSoonAfterThePrimarysChecksumArrives) {
  ASSERT_TRUE(main_->Exec("INSERT INTO t.files (id, path) VALUES (1, 'a')").ok());
  // Synced with no primary checksum yet: `disabled`.
  ASSERT_TRUE(tracking_
                  ->Exec(absl::StrCat("INSERT INTO georep.file_registry (model_id, state, "
                                      "checksum, verification_state) VALUES (1, ",
                                      kSynced, ", 'sum', ", kVerificationDisabled, ")"))
                  .ok());
  VerificationOptions o;
  o.main_conninfo = conninfo_;
  o.tracking_conninfo = tracking_conninfo_;
  o.blobs = LocalFiles(storage_);
  o.worker_id = "w";
  o.idle_poll_seconds = 3600;  // only a ring and the quick looks after it can settle the row
  StopSignal stop;
  Doorbell bell(&stop);
  std::thread run([&] {
    Verifier verifier(o, {spec_});
    verifier.Run(stop, &bell);
  });
  // Conditions, not times: a minute is far beyond any quick look and far
  // short of the idle wait.
  auto wait_until = [&](const std::function<bool()>& done) {
    for (double start = MonotonicSeconds(); MonotonicSeconds() - start < 60;) {
      if (done()) return true;
      stop.WaitFor(0.01);
    }
    return false;
  };
  // The first round, then the idle wait.
  ASSERT_TRUE(wait_until([&] { return LastRound() > 0; }));
  double first = LastRound();
  // The sync rings; the woken round finds no primary checksum yet.
  bell.Ring();
  ASSERT_TRUE(wait_until([&] { return LastRound() > first; })) << "the ring started no round";
  EXPECT_EQ(Row(1), absl::StrCat(kSynced, " ", kVerificationDisabled));
  // Now the primary's checksum arrives on the standby.
  ASSERT_TRUE(
      main_
          ->Exec(absl::StrCat("UPDATE georep.file_states SET state = ", kVerificationSucceeded,
                              ", checksum = 'sum' "
                              "WHERE model_id = 1"))
          .ok());
  EXPECT_TRUE(wait_until([&] {
    return Row(1) == absl::StrCat(kSynced, " ", kVerificationSucceeded);
  })) << "still "
      << Row(1) << ": no quick look after the ring";
  stop.Stop();
  run.join();
}

}  // namespace
}  // namespace georep::framework
