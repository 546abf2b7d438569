// Disaster recovery as an operator meets it: `georep dataloss` on a real
// secondary lists exactly the items it would lack if promoted now, and says
// nothing would be lost once it has caught up; `georep replication pause`
// holds across a restart, and `resume` converges with nothing fetched twice.
#include <signal.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"

namespace georep {
namespace {

struct Report {
  int exit_code = -1;
  nlohmann::json json;
  std::string output;
};

Report Dataloss(const test::Topology& topo, bool json = true) {
  std::vector<std::string> args = {"dataloss", "--config", topo.Config("secondary-1")};
  if (json) args.push_back("--json");
  auto r = test::RunGeorep(args);
  Report out{r.exit_code, nlohmann::json(), r.output};
  if (json) out.json = nlohmann::json::parse(r.output, nullptr, false);
  return out;
}

std::set<int64_t> MissingIds(const nlohmann::json& report, const std::string& replicable) {
  std::set<int64_t> ids;
  for (const auto& r : report["replicables"]) {
    if (r["name"] != replicable) continue;
    for (const auto& m : r["missing"]) ids.insert(m["id"].get<int64_t>());
  }
  return ids;
}

TEST(DisasterRecoveryTest, DataLossReportNamesExactlyTheItemsASecondaryLacks) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  // Caught up (an empty site): nothing would be lost.
  ASSERT_TRUE(test::WaitFor([&] { return Dataloss(topo).exit_code == 0; }, 60))
      << Dataloss(topo).output;

  // The secondary's daemon stops; the database keeps streaming.
  int pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(pid, 0) != 0; }, 30));
  std::set<int64_t> created;
  for (int i = 0; i < 5; ++i) {
    auto r = topo.Post("primary", "/api/v1/sample/upload", absl::StrCat("upload ", i));
    ASSERT_EQ(r.status, 201) << r.body;
    created.insert(nlohmann::json::parse(r.body)["id"].get<int64_t>());
  }
  auto standby = topo.MainDb("secondary-1");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = standby->Exec("SELECT count(*) FROM sample.uploads");
        return r.ok() && r->GetInt64(0, 0) == 5;
      },
      30));

  Report report = Dataloss(topo);
  ASSERT_FALSE(report.json.is_discarded()) << report.output;
  EXPECT_EQ(report.exit_code, 1) << report.output;
  EXPECT_TRUE(report.json["would_lose_data"].get<bool>());
  EXPECT_EQ(MissingIds(report.json, "upload"), created) << report.output;
  EXPECT_EQ(report.json["missing_items"].get<int64_t>(), 5) << "and nothing else";
  EXPECT_EQ(report.json["events"]["not_applied"].get<int64_t>(), 5) << report.output;
  EXPECT_TRUE(report.json["database"]["primary_reachable"].get<bool>()) << report.output;
  for (const auto& r : report.json["replicables"]) {
    if (r["name"] != "upload") continue;
    for (const auto& m : r["missing"]) {
      EXPECT_EQ(m["reason"], "no registry row") << m.dump();
      EXPECT_FALSE(m["path"].get<std::string>().empty()) << m.dump();
    }
  }
  Report text = Dataloss(topo, /*json=*/false);
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("upload: 5 of 5 items not synced and verified"), std::string::npos)
      << text.output;

  // Back up: it catches up, and the report says so.
  ASSERT_TRUE(topo.Up());
  EXPECT_TRUE(test::WaitFor([&] { return Dataloss(topo).exit_code == 0; }, 120))
      << Dataloss(topo).output;
  text = Dataloss(topo, /*json=*/false);
  EXPECT_NE(text.output.find("verdict: nothing would be lost"), std::string::npos) << text.output;

  // The primary's configuration is refused, with the reason.
  auto primary = test::RunGeorep({"dataloss", "--config", topo.Config("primary")});
  EXPECT_EQ(primary.exit_code, 2);
  EXPECT_NE(primary.output.find("runs on a secondary"), std::string::npos) << primary.output;
}

// Blobs the primary has served to secondaries, alone or in batches.
int64_t Served(const test::Topology& topo) {
  return static_cast<int64_t>(
      topo.MetricSum("primary", "geo_retrieve_blobs_total", "status=\"200\""));
}

TEST(DisasterRecoveryTest, APauseHoldsAcrossARestartAndResumeLosesNothingAndFetchesNothingTwice) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  auto standby = topo.MainDb("secondary-1");
  auto replay_paused = [&] {
    auto r = standby->Exec("SELECT pg_is_wal_replay_paused()");
    return r.ok() && r->GetBool(0, 0);
  };
  auto status_paused = [&] {
    auto s = topo.Status("secondary-1");
    return !s.is_null() && s.value("paused", false);
  };
  auto pause = test::RunGeorep({"replication", "pause", "--config", topo.Config("secondary-1")});
  ASSERT_EQ(pause.exit_code, 0) << pause.output;
  EXPECT_TRUE(replay_paused());
  EXPECT_TRUE(test::WaitFor(status_paused, 30)) << topo.Status("secondary-1").dump();

  // Writes during the pause reach the standby's disk, not its database.
  for (int i = 0; i < 5; ++i) {
    auto r = topo.Post("primary", "/api/v1/sample/upload", absl::StrCat("paused ", i));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = standby->Exec(
            "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn(), "
            "(SELECT count(*) FROM sample.uploads)");
        return r.ok() && r->GetBool(0, 0) && r->GetInt64(0, 1) == 0;
      },
      30));

  // The daemon restarts: still paused, nothing synced.
  int pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(pid, 0) != 0; }, 30));
  ASSERT_TRUE(topo.Up());
  EXPECT_TRUE(test::WaitFor(status_paused, 30));
  EXPECT_TRUE(replay_paused());
  EXPECT_EQ(topo.TotalCount("secondary-1", "synced"), 0);
  auto metrics = topo.Request("secondary-1", "GET", "/metrics");
  EXPECT_NE(metrics.body.find("geo_replication_paused 1"), std::string::npos);

  // Resumed: it converges, every write there once.
  auto resume = test::RunGeorep({"replication", "resume", "--config", topo.Config("secondary-1")});
  ASSERT_EQ(resume.exit_code, 0) << resume.output;
  EXPECT_FALSE(replay_paused());
  EXPECT_TRUE(test::WaitFor([&] { return Dataloss(topo).exit_code == 0; }, 120))
      << Dataloss(topo).output;
  EXPECT_EQ(topo.Count("secondary-1", "upload", "synced"), 5);
  EXPECT_FALSE(status_paused());
  EXPECT_EQ(Served(topo), 5) << "each blob fetched once";
}

}  // namespace
}  // namespace georep
