// Verification through real daemons: checksums on both sides, a scrub that
// finds damaged copies, repairs, and nothing stuck after kill -9.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace georep {
namespace {

using Clock = std::chrono::steady_clock;

// Re-verify every 2 s on both sides, reclaim dead daemons' rows after 3 s.
const std::vector<std::string> kEnv = {"GEOREP_VERIFICATION_INTERVAL_SECONDS=2",
                                       "GEOREP_SYNC_DEAD_WORKER_SECONDS=3"};

class VerificationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    topo_ = new test::Topology({"--seed", "0"}, kEnv);
    if (!topo_->ok()) return;
    auto start = Clock::now();
    for (int i = 0; i < 1000; ++i) {
      auto r =
          topo_->Post("primary", absl::StrCat("/api/v1/sample/", i % 2 ? "upload" : "lfs_object"),
                      std::string(100 + i * 7 % 4000, static_cast<char>('a' + i % 26)));
      if (r.status != 201) {
        ADD_FAILURE() << r.body;
        return;
      }
      auto j = nlohmann::json::parse(r.body);
      ids_.push_back({i % 2 ? "upload" : "lfs_object", j["id"].get<int64_t>()});
    }
    bool all =
        test::WaitFor([&] { return Verified("upload") + Verified("lfs_object") == 1000; }, 120);
    EXPECT_TRUE(all) << topo_->Status("secondary-1").dump();
    std::printf("[ figures  ] 1000 blobs created, synced and verified in %.1f s\n",
                std::chrono::duration<double>(Clock::now() - start).count());
  }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }
  static int64_t Verified(const std::string& kind) {
    return topo_->Count("secondary-1", kind, "verified");
  }
  static std::string Rel(const std::string& kind, int64_t id) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(id % 256));
    return absl::StrCat(kind, "/", hex, "/", id);
  }
  static std::string Primary(const std::string& rel) {
    return topo_->Site("primary")["storage_root"].get<std::string>() + "/" + rel;
  }
  static std::string Secondary(const std::string& rel) {
    return topo_->Site("secondary-1")["storage_root"].get<std::string>() + "/" + rel;
  }
  static bool Same(const std::string& rel) {
    auto a = ReadFile(Primary(rel));
    auto b = ReadFile(Secondary(rel));
    return a.ok() && b.ok() && *a == *b;
  }
  static int RegistryVerification(const std::string& kind, int64_t id) {
    auto t = topo_->TrackingDb("secondary-1");
    auto r = t->Exec(absl::StrCat("SELECT verification_state FROM georep.", kind,
                                  "_registry WHERE model_id = $1"),
                     {absl::StrCat(id)});
    return r.ok() && r->rows() == 1 ? static_cast<int>(r->GetInt64(0, 0)) : -1;
  }

  static test::Topology* topo_;
  static std::vector<std::pair<std::string, int64_t>> ids_;
};
test::Topology* VerificationTest::topo_ = nullptr;
std::vector<std::pair<std::string, int64_t>> VerificationTest::ids_;

TEST_F(VerificationTest, EveryBlobIsChecksummedOnThePrimaryAndVerifiedOnTheSecondary) {
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return topo_->Count("primary", "upload", "checksummed") == 500 &&
               topo_->Count("primary", "lfs_object", "checksummed") == 500;
      },
      30))
      << topo_->Status("primary").dump();
  EXPECT_EQ(Verified("upload") + Verified("lfs_object"), 1000);
  EXPECT_EQ(topo_->Count("secondary-1", "upload", "verification_failed"), 0);
  auto metrics = topo_->Request("secondary-1", "GET", "/metrics");
  EXPECT_NE(metrics.body.find(
                "\ngeorep_verification_items{replicable=\"upload\",state=\"succeeded\"} 500\n"),
            std::string::npos)
      << metrics.body.substr(0, 3000);
  auto pm = topo_->Request("primary", "GET", "/metrics");
  EXPECT_NE(
      pm.body.find("\ngeorep_checksum_items{replicable=\"lfs_object\",state=\"succeeded\"} 500\n"),
      std::string::npos);
}

TEST_F(VerificationTest, AFlippedByteIsFoundByTheScrubAndRepaired) {
  auto [kind, id] = ids_[11];
  std::string rel = Rel(kind, id);
  ASSERT_TRUE(Same(rel));
  {
    std::fstream f(Secondary(rel), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5);
    f.put('#');
  }
  ASSERT_FALSE(Same(rel));
  EXPECT_TRUE(test::WaitFor([&] { return Same(rel) && RegistryVerification(kind, id) == 2; }, 60))
      << "state " << RegistryVerification(kind, id);
  auto t = topo_->TrackingDb("secondary-1");
  auto r = t->Exec(absl::StrCat("SELECT verification_retry_count FROM georep.", kind,
                                "_registry WHERE model_id = ", id));
  EXPECT_EQ(r->GetInt64(0, 0), 0) << "reset after the repair";
}

TEST_F(VerificationTest, ADeletedCopyIsRepaired) {
  auto [kind, id] = ids_[22];
  std::string rel = Rel(kind, id);
  ASSERT_TRUE(std::filesystem::remove(Secondary(rel)));
  EXPECT_TRUE(test::WaitFor([&] { return Same(rel) && RegistryVerification(kind, id) == 2; }, 60));
}

TEST_F(VerificationTest, AFileChangedOnThePrimaryBehindTheApplicationIsNeverVerified) {
  auto [kind, id] = ids_[33];
  std::string rel = Rel(kind, id);
  ASSERT_TRUE(WriteFileAtomic(Primary(rel), "changed behind the application's back").ok());
  ASSERT_TRUE(
      test::WaitFor([&] { return topo_->Count("primary", kind, "checksum_failed") == 1; }, 30))
      << topo_->Status("primary").dump();
  auto main = topo_->MainDb("primary");
  auto failure = main->Exec(
      absl::StrCat("SELECT failure FROM georep.", kind, "_states WHERE model_id = ", id));
  EXPECT_NE(failure->Get(0, 0).find("modified outside the application"), std::string::npos)
      << failure->Get(0, 0);
  // The secondary's copy stops counting as verified, and a fresh download
  // of the changed bytes is not verified either.
  EXPECT_TRUE(test::WaitFor([&] { return RegistryVerification(kind, id) == 4; }, 30))
      << "state " << RegistryVerification(kind, id);
  auto resync = topo_->Admin("secondary-1", "POST",
                             absl::StrCat("/api/v1/replicables/", kind, "/", id, "/resync"));
  EXPECT_EQ(resync.status, 202) << resync.body;
  std::this_thread::sleep_for(std::chrono::seconds(5));
  EXPECT_NE(RegistryVerification(kind, id), 2);
  EXPECT_EQ(topo_->Count("secondary-1", kind, "verified"), 499);
}

TEST_F(VerificationTest, OperatorVerbsAnswerClearly) {
  auto [kind, id] = ids_[44];
  const std::string reverify = absl::StrCat("/api/v1/replicables/", kind, "/", id, "/reverify");
  // Without the admin token, or with a wrong one: refused.
  auto anonymous = topo_->Request("secondary-1", "POST", reverify);
  EXPECT_EQ(anonymous.status, 401) << anonymous.body;
  EXPECT_NE(anonymous.body.find("Authorization: Bearer"), std::string::npos) << anonymous.body;
  auto forged = topo_->Request("secondary-1", "POST", reverify, "",
                               {"Authorization: Bearer " + std::string(48, 'f')});
  EXPECT_EQ(forged.status, 401) << forged.body;
  auto ok = topo_->Admin("secondary-1", "POST", reverify);
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(topo_->Admin("secondary-1", "POST", "/api/v1/replicables/upload/999999/resync").status,
            404);
  EXPECT_EQ(topo_->Admin("secondary-1", "POST", "/api/v1/replicables/nothing/1/resync").status,
            404);
  EXPECT_EQ(topo_->Admin("primary", "POST", "/api/v1/replicables/upload/1/resync").status, 400);
  auto cli =
      test::RunGeorep({"reverify", "upload", "--failed", "--config", topo_->Config("secondary-1")});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  auto bad = test::RunGeorep({"resync", "upload", "--config", topo_->Config("secondary-1")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("name an id, --failed or --all"), std::string::npos) << bad.output;
  auto primary_resync =
      test::RunGeorep({"resync", "upload", "--all", "--config", topo_->Config("primary")});
  EXPECT_EQ(primary_resync.exit_code, 2);
  EXPECT_TRUE(test::WaitFor([&] { return RegistryVerification(kind, id) == 2; }, 30));
}

TEST_F(VerificationTest, KillNineDuringVerificationLeavesNothingStuck) {
  for (const char* site : {"secondary-1", "primary"}) {
    auto r = test::RunGeorep({"reverify", "upload", "--all", "--config", topo_->Config(site)});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    int pid = topo_->Pid(site);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
    ASSERT_TRUE(topo_->Up());
  }
  auto t = topo_->TrackingDb("secondary-1");
  auto m = topo_->MainDb("primary");
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto a = t->Exec(
            "SELECT count(*) FROM georep.upload_registry WHERE verification_state = 1 OR state = "
            "1");
        auto b = m->Exec("SELECT count(*) FROM georep.upload_states WHERE state = 1 OR state = 0");
        return a.ok() && b.ok() && a->GetInt64(0, 0) == 0 && b->GetInt64(0, 0) == 0 &&
               topo_->Count("secondary-1", "upload", "verified") +
                       topo_->Count("secondary-1", "upload", "verification_disabled") ==
                   500;
      },
      60))
      << topo_->Status("secondary-1").dump();
}

}  // namespace
}  // namespace georep
