// Disaster recovery as an operator meets it: `georep dataloss` on a real
// secondary lists exactly the items it would lack if promoted now, and says
// nothing would be lost once it has caught up; `georep replication pause`
// holds across a restart, and `resume` converges with nothing fetched twice.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/fs.h"
#include "util/sha256.h"
#include "util/subprocess.h"

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
      topo.MetricSum("primary", "georep_retrieve_blobs_total", "status=\"200\""));
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
  // The primary sees it too, from the secondary's status reports.
  auto primary_view_paused = [&] {
    auto r = topo.Request("primary", "GET", "/api/v1/sites");
    auto sites = nlohmann::json::parse(r.body, nullptr, false);
    if (!sites.is_array()) return false;
    for (const auto& s : sites) {
      if (s["name"] == "secondary-1" && s["status"].is_object())
        return s["status"].value("paused", false);
    }
    return false;
  };
  EXPECT_TRUE(test::WaitFor(primary_view_paused, 60))
      << topo.Request("primary", "GET", "/api/v1/sites").body;

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
  EXPECT_NE(metrics.body.find("georep_replication_paused 1"), std::string::npos);

  // Resumed: it converges, every write there once.
  auto resume = test::RunGeorep({"replication", "resume", "--config", topo.Config("secondary-1")});
  ASSERT_EQ(resume.exit_code, 0) << resume.output;
  EXPECT_FALSE(replay_paused());
  EXPECT_TRUE(test::WaitFor([&] { return Dataloss(topo).exit_code == 0; }, 120))
      << Dataloss(topo).output;
  EXPECT_EQ(topo.Count("secondary-1", "upload", "synced"), 5);
  EXPECT_FALSE(status_paused());
  EXPECT_TRUE(test::WaitFor([&] { return !primary_view_paused(); }, 60));
  EXPECT_EQ(Served(topo), 5) << "each blob fetched once";
}

// The JSON document a verb printed on stdout after its progress lines.
nlohmann::json JsonOf(const std::string& output) {
  size_t at = output.rfind("\n{");
  at = output.starts_with("{") ? 0 : (at == std::string::npos ? at : at + 1);
  if (at == std::string::npos) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(output.substr(at), nullptr, false);
}

using test::GitRun;

struct Written {
  std::string kind;
  int64_t id;
  std::string sha256;
};

TEST(DisasterRecoveryTest, APlannedPromotionUnderWriteLoadLosesNoAcknowledgedWrite) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  auto project = topo.Post("primary", "/api/v1/sample/projects", R"({"path": "dr/app"})");
  ASSERT_EQ(project.status, 201) << project.body;
  std::string work = test::MakeTempDir("failover-work");
  test::Git({"init", "-q", work});
  const std::string old_url = topo.Url("primary");

  // A writer that keeps writing blobs of three kinds and pushing commits to
  // the primary, and remembers every write the primary acknowledged.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Written> acked;
  std::vector<std::string> pushed;  // commit ids the primary accepted
  int64_t refused = 0;
  std::thread writer([&] {
    const char* kinds[] = {"upload", "lfs_object", "package_file"};
    for (int i = 0; !stop.load(); ++i) {
      std::string kind = kinds[i % 3];
      auto r = topo.Post("primary", "/api/v1/sample/" + kind, absl::StrCat("write ", i));
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu);
      if (r.status == 201 && j.is_object()) {
        acked.push_back({kind, j["id"].get<int64_t>(), j["sha256"].get<std::string>()});
      } else {
        ++refused;
      }
      if (i % 10 != 0) continue;
      std::ofstream(work + "/f") << i;
      GitRun({"-C", work, "add", "-A"});
      GitRun({"-C", work, "commit", "-q", "--allow-empty", "-m", absl::StrCat("c", i)});
      if (GitRun({"-C", work, "push", "-q", old_url + "/dr/app.git", "HEAD:main"}).exit_code == 0) {
        pushed.push_back(GitRun({"-C", work, "rev-parse", "HEAD"}).output.substr(0, 40));
      }
    }
  });
  ASSERT_TRUE(test::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= 30 && pushed.size() >= 2;
      },
      120));

  auto promote = test::RunGeorep(
      {"promote", "--config", topo.Config("secondary-1"), "--timeout", "240", "--json"});
  stop = true;
  writer.join();
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  nlohmann::json outcome = JsonOf(promote.output);
  ASSERT_TRUE(outcome.is_object()) << promote.output;
  EXPECT_TRUE(outcome["planned"].get<bool>());
  EXPECT_FALSE(outcome["would_lose_data"].get<bool>()) << promote.output;
  ASSERT_TRUE(outcome["rto_seconds"].is_number()) << promote.output;
  std::printf(
      "planned promotion under load: RTO %.2f s, %zu blobs and %zu pushes acknowledged, "
      "%lld writes refused during the switch\n",
      outcome["rto_seconds"].get<double>(), acked.size(), pushed.size(),
      static_cast<long long>(refused));

  // The roles have changed, in the daemons and in geo_nodes.
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "primary");
  auto sites = topo.MainDb("secondary-1")
                   ->Exec(
                       "SELECT string_agg(name || ':' || is_primary || ':' || enabled, ' ' "
                       "ORDER BY name) FROM georep.geo_nodes");
  ASSERT_TRUE(sites.ok());
  EXPECT_EQ(sites->Get(0, 0), "primary:false:false secondary-1:true:true");

  // Every acknowledged blob is on the new primary, byte for byte.
  std::string storage = topo.Site("secondary-1")["storage_root"];
  for (const auto& w : acked) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(w.id % 256));
    auto sha = Sha256File(absl::StrCat(storage, "/", w.kind, "/", hex, "/", w.id));
    EXPECT_TRUE(sha.ok() && *sha == w.sha256) << w.kind << " " << w.id << " lost";
  }
  // Every acknowledged push too.
  std::string repo = topo.Site("secondary-1")["repository_root"].get<std::string>() + "/dr/app.git";
  for (const auto& commit : pushed) {
    EXPECT_EQ(GitRun({"-C", repo, "cat-file", "-e", commit + "^{commit}"}).exit_code, 0)
        << "commit " << commit << " lost";
  }

  // The old primary refuses writes (it stays in maintenance mode); the new
  // one takes them, Git pushes included.
  auto old = topo.Post("primary", "/api/v1/sample/upload", "after");
  EXPECT_EQ(old.status, 503) << old.body;
  EXPECT_NE(old.body.find("MAINTENANCE"), std::string::npos) << old.body;
  auto fresh = topo.Post("secondary-1", "/api/v1/sample/upload", "after");
  EXPECT_EQ(fresh.status, 201) << fresh.body;
  GitRun({"-C", work, "commit", "-q", "--allow-empty", "-m", "after"});
  auto push =
      GitRun({"-C", work, "push", "-q", topo.Url("secondary-1") + "/dr/app.git", "HEAD:main"});
  EXPECT_EQ(push.exit_code, 0) << push.output;
  test::RemoveTree(work);
}

TEST(DisasterRecoveryTest, AForcedPromotionLosesExactlyWhatItsReportListed) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();

  // Two writers keep the primary busy; every acknowledged blob is kept.
  const std::string url = topo.Url("primary");
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Written> acked;
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      const char* kinds[] = {"upload", "lfs_object", "package_file"};
      for (int i = 0; !stop.load(); ++i) {
        std::string kind = kinds[(i + w) % 3];
        // Not topo.Post: a refused connection is expected here.
        auto r = transport::HttpRequest(
            url + "/api/v1/sample/" + kind,
            {.method = "POST",
             .body = std::string(4096 * (1 + i % 8), static_cast<char>('a' + i % 26)),
             .headers = {test::GitTokenHeader()}});
        if (!r.ok() || r->status != 201) continue;
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (!j.is_object()) continue;
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back({kind, j["id"].get<int64_t>(), j["sha256"].get<std::string>()});
      }
    });
  }
  ASSERT_TRUE(test::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= 60;
      },
      120));
  // Some of it is on the secondary already, some not.
  ASSERT_TRUE(test::WaitFor([&] { return topo.TotalCount("secondary-1", "synced") >= 30; }, 120));

  // The primary dies: its daemon killed, its PostgreSQL stopped as a crash
  // would, while writes are in flight.
  ASSERT_EQ(kill(topo.Pid("primary"), SIGKILL), 0);
  const auto& c = topo.Site("primary")["clusters"][0];
  cluster::PgCluster pg({c["data_dir"], c["port"], c["log"]});
  ASSERT_TRUE(pg.Stop(/*immediate=*/true).ok());
  stop = true;
  for (auto& t : writers) t.join();
  // What reached the standby is replayed and its events applied (the
  // report counts what is not, but the ground truth below is per row).
  // Replay has used all it received once it waits for more WAL: a record
  // torn by the crash stays received and never replayed.
  auto standby = topo.MainDb("secondary-1");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = standby->Exec(
            "SELECT pg_last_wal_receive_lsn() IS NULL OR "
            "pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() OR EXISTS (SELECT 1 FROM "
            "pg_stat_activity WHERE backend_type = 'startup' AND wait_event IN "
            "('RecoveryWalStream', 'RecoveryRetrieveRetryInterval'))");
        return r.ok() && r->GetBool(0, 0);
      },
      60));
  ASSERT_TRUE(test::WaitFor(
      [&] {
        Report d = Dataloss(topo);
        return d.json.is_object() && d.json["events"]["not_applied"] == 0;
      },
      60))
      << Dataloss(topo).output;

  auto promote = test::RunGeorep(
      {"promote", "--config", topo.Config("secondary-1"), "--force", "--yes", "--json"});
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  nlohmann::json outcome = JsonOf(promote.output);
  ASSERT_TRUE(outcome.is_object()) << promote.output;
  EXPECT_FALSE(outcome["planned"].get<bool>());
  EXPECT_TRUE(outcome["would_lose_data"].get<bool>()) << "the primary could not be asked";
  EXPECT_FALSE(outcome["report"]["database"]["primary_reachable"].get<bool>());
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "primary");

  // The report's items, by what it says of each.
  std::set<std::string> listed_absent;  // no copy here
  std::set<std::string> listed_unverified;
  std::map<std::string, int> reasons;
  for (const auto& r : outcome["report"]["replicables"]) {
    for (const auto& m : r["missing"]) {
      std::string key = absl::StrCat(r["name"].get<std::string>(), ":", m["id"].get<int64_t>());
      std::string reason = m["reason"];
      ++reasons[reason.substr(0, reason.find(':'))];
      (reason.starts_with("synced") ? listed_unverified : listed_absent).insert(key);
    }
  }
  // The ground truth: every blob row the new primary has (acknowledged or
  // not: the primary may have died between its commit and its answer), and
  // whether its bytes are here.
  auto promoted = topo.MainDb("secondary-1");
  std::string storage = topo.Site("secondary-1")["storage_root"];
  std::set<std::string> absent;
  std::set<std::string> rows;
  int64_t unverified_but_intact = 0;
  for (const char* kind : {"upload", "lfs_object", "package_file"}) {
    auto r = promoted->Exec(absl::StrCat("SELECT id, file_path, sha256 FROM sample.", kind, "s"));
    ASSERT_TRUE(r.ok()) << r.status();
    for (int i = 0; i < r->rows(); ++i) {
      std::string key = absl::StrCat(kind, ":", r->GetInt64(i, 0));
      rows.insert(key);
      auto sha = Sha256File(absl::StrCat(storage, "/", r->Get(i, 1)));
      if (!sha.ok() || *sha != r->Get(i, 2)) {
        absent.insert(key);
      } else if (listed_unverified.contains(key)) {
        ++unverified_but_intact;
      }
    }
  }
  int64_t rows_lost = 0;  // acknowledged, but its WAL never reached the standby
  for (const auto& w : acked) {
    if (!rows.contains(absl::StrCat(w.kind, ":", w.id))) ++rows_lost;
  }
  EXPECT_EQ(absent, listed_absent) << "the report named exactly the blobs that are not here:\n"
                                   << outcome["report"].dump(1);
  std::printf(
      "forced promotion: RTO %.2f s; %zu blobs acknowledged, %zu listed and absent, "
      "%zu listed as not verified (%lld of them intact), %lld rows never replicated\n",
      outcome["rto_seconds"].is_number() ? outcome["rto_seconds"].get<double>() : -1.0,
      acked.size(), listed_absent.size(), listed_unverified.size(),
      static_cast<long long>(unverified_but_intact), static_cast<long long>(rows_lost));

  for (const auto& [reason, n] : reasons) std::printf("  %d × %s\n", n, reason.c_str());

  // What no site holds is recorded lost in the failover on the new primary
  // (a table every secondary replays), with where it was lost from.
  EXPECT_EQ(outcome["recorded_lost_in_failover"].get<int64_t>(),
            static_cast<int64_t>(listed_absent.size()));
  auto recorded = promoted->Exec(
      "SELECT replicable, model_id, old_primary, new_primary FROM georep.lost_in_failover");
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  std::set<std::string> recorded_keys;
  for (int i = 0; i < recorded->rows(); ++i) {
    std::string name(recorded->Get(i, 0));
    // The demo's replicable names are the sample's table names, singular.
    recorded_keys.insert(absl::StrCat(name, ":", recorded->GetInt64(i, 1)));
    EXPECT_EQ(recorded->Get(i, 2), "primary");
    EXPECT_EQ(recorded->Get(i, 3), "secondary-1");
  }
  EXPECT_EQ(recorded_keys, listed_absent);

  // Salvage on the old primary: its storage still has the bytes of what the
  // new primary lacks. Sent back, checked against the application's
  // digest, installed and published; the records go.
  const std::string token_file =
      (std::filesystem::path(topo.Config("secondary-1")).parent_path() / "admin-token").string();
  auto dry = test::RunGeorep({"salvage", "--config", topo.Config("primary"), "--primary",
                              topo.Url("secondary-1"), "--admin-token-file", token_file,
                              "--dry-run", "--json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  nlohmann::json looked = JsonOf(dry.output);
  ASSERT_TRUE(looked.is_object()) << dry.output;
  EXPECT_EQ(looked["listed"].get<int64_t>(), static_cast<int64_t>(listed_absent.size()));
  EXPECT_EQ(looked["recovered"].get<int64_t>(), 0);
  auto salvage =
      test::RunGeorep({"salvage", "--config", topo.Config("primary"), "--primary",
                       topo.Url("secondary-1"), "--admin-token-file", token_file, "--json"});
  ASSERT_EQ(salvage.exit_code, 0) << salvage.output;
  nlohmann::json salvaged = JsonOf(salvage.output);
  ASSERT_TRUE(salvaged.is_object()) << salvage.output;
  std::set<std::string> recovered;
  for (const auto& i : salvaged["items"]) {
    if (i["recovered"].get<bool>()) {
      recovered.insert(
          absl::StrCat(i["replicable"].get<std::string>(), ":", i["id"].get<int64_t>()));
    }
  }
  // Every blob the failover lost was on the old primary's disk.
  EXPECT_EQ(recovered, listed_absent) << salvage.output;
  std::printf("salvage: %zu listed lost, %zu recovered from the old primary's storage\n",
              listed_absent.size(), recovered.size());
  for (const char* kind : {"upload", "lfs_object", "package_file"}) {
    auto r = promoted->Exec(absl::StrCat("SELECT id, file_path, sha256 FROM sample.", kind, "s"));
    ASSERT_TRUE(r.ok()) << r.status();
    for (int i = 0; i < r->rows(); ++i) {
      if (!recovered.contains(absl::StrCat(kind, ":", r->GetInt64(i, 0)))) continue;
      auto sha = Sha256File(absl::StrCat(storage, "/", r->Get(i, 1)));
      ASSERT_TRUE(sha.ok()) << kind << " " << r->GetInt64(i, 0) << ": " << sha.status();
      EXPECT_EQ(*sha, r->Get(i, 2)) << kind << " " << r->GetInt64(i, 0);
    }
  }
  auto left = promoted->Exec("SELECT count(*) FROM georep.lost_in_failover");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->GetInt64(0, 0), 0);
  // The new primary checksums them again, as its own.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        for (const std::string& key : recovered) {
          std::string kind = key.substr(0, key.find(':'));
          auto c = promoted->Exec(
              absl::StrCat("SELECT state FROM georep.", kind,
                           "_states WHERE model_id = ", key.substr(key.find(':') + 1)));
          if (!c.ok() || c->rows() != 1 || c->GetInt64(0, 0) != 2) return false;
        }
        return true;
      },
      60));
  // A salvage run again finds nothing left to do.
  auto again =
      test::RunGeorep({"salvage", "--config", topo.Config("primary"), "--primary",
                       topo.Url("secondary-1"), "--admin-token-file", token_file, "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(JsonOf(again.output)["listed"].get<int64_t>(), 0);

  // The new primary takes writes.
  auto fresh = topo.Post("secondary-1", "/api/v1/sample/upload", "after the loss");
  EXPECT_EQ(fresh.status, 201) << fresh.body;
}

// What a forced failover recorded lost, as a secondary that follows the new
// primary meets it: the record replicates, its daemon stops fetching the
// item and says why, `dataloss` counts it apart; when the bytes come back
// (salvage's PUT) the item is fetched like any other.
TEST(DisasterRecoveryTest, AnItemRecordedLostIsNotFetchedUntilItsBytesComeBack) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  // An upload whose bytes the primary does not have when the secondary asks
  // (its file removed while the secondary's daemon is stopped), as a new
  // primary lacks what it never received.
  int pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  const std::string bytes = "bytes only the old primary had";
  auto up = topo.Post("primary", "/api/v1/sample/upload", bytes);
  ASSERT_EQ(up.status, 201) << up.body;
  int64_t id = nlohmann::json::parse(up.body)["id"];
  auto main = topo.MainDb("primary");
  auto row = main->Exec("SELECT file_path FROM sample.uploads WHERE id = $1", {absl::StrCat(id)});
  ASSERT_TRUE(row.ok() && row->rows() == 1);
  const std::string file =
      absl::StrCat(topo.Site("primary")["storage_root"].get<std::string>(), "/", row->Get(0, 0));
  ASSERT_EQ(unlink(file.c_str()), 0) << file;
  ASSERT_TRUE(main->Exec("INSERT INTO georep.lost_in_failover (replicable, model_id, old_primary, "
                         "new_primary, reason) VALUES ('upload', $1, 'old', 'primary', 'pending')",
                         {absl::StrCat(id)})
                  .ok());
  ASSERT_EQ(kill(pid, SIGCONT), 0);

  // The secondary marks it lost and does not fetch it.
  ASSERT_TRUE(test::WaitFor([&] { return topo.Count("secondary-1", "upload", "lost") == 1; }, 60))
      << topo.Status("secondary-1").dump();
  auto tracking = topo.TrackingDb("secondary-1");
  auto reg = tracking->Exec(
      "SELECT last_sync_failure, retry_count FROM georep.upload_registry WHERE model_id = $1",
      {absl::StrCat(id)});
  ASSERT_TRUE(reg.ok() && reg->rows() == 1);
  EXPECT_TRUE(absl::StrContains(reg->Get(0, 0), "lost in the failover from old to primary"))
      << reg->Get(0, 0);
  Report loss = Dataloss(topo);
  ASSERT_TRUE(loss.json.is_object()) << loss.output;
  EXPECT_EQ(loss.json["lost_in_failover_items"], 1) << loss.output;
  EXPECT_FALSE(MissingIds(loss.json, "upload").contains(id)) << loss.output;
  ASSERT_EQ(loss.json["lost_in_failover"].size(), 1u) << loss.output;
  EXPECT_EQ(loss.json["lost_in_failover"][0]["total"], 1);
  Report human = Dataloss(topo, /*json=*/false);
  EXPECT_TRUE(absl::StrContains(human.output, "1 items lost in the failover from \"old\""))
      << human.output;
  auto status = test::RunGeorep({"status", "--config", topo.Config("secondary-1")});
  EXPECT_TRUE(absl::StrContains(status.output, "lost in failover")) << status.output;

  // The bytes come back: the record goes and the secondary fetches them.
  auto back = topo.Admin("primary", "PUT", absl::StrCat("/api/v1/lost/upload/", id), bytes);
  ASSERT_EQ(back.status, 200) << back.body;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking->Exec(
            "SELECT state = 2 AND verification_state = 2 FROM georep.upload_registry "
            "WHERE model_id = $1",
            {absl::StrCat(id)});
        return r.ok() && r->rows() == 1 && r->GetBool(0, 0);
      },
      60))
      << topo.Status("secondary-1").dump();
  EXPECT_EQ(topo.Count("secondary-1", "upload", "lost"), 0);
}

TEST(DisasterRecoveryTest, APromotionCutShortAfterTheDatabaseIsFinishedByRunningItAgain) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  // As if `georep promote` was killed right after pg_promote: the database
  // is writable, geo_nodes still names the old primary.
  auto standby = topo.MainDb("secondary-1");
  // Without waiting inside the statement: a session held open through the
  // promotion may be cancelled by a conflict with recovery.
  auto promoted = standby->Exec("SELECT pg_promote(false)");
  ASSERT_TRUE(promoted.ok() && promoted->GetBool(0, 0)) << promoted.status();
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = standby->Exec("SELECT NOT pg_is_in_recovery()");
        return r.ok() && r->GetBool(0, 0);
      },
      60));
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "secondary");

  auto again = test::RunGeorep({"promote", "--config", topo.Config("secondary-1")});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("finishing the promotion cut short"), std::string::npos)
      << again.output;
  auto sites = standby->Exec(
      "SELECT string_agg(name || ':' || is_primary || ':' || enabled, ' ' ORDER BY name) "
      "FROM georep.geo_nodes");
  ASSERT_TRUE(sites.ok());
  EXPECT_EQ(sites->Get(0, 0), "primary:false:false secondary-1:true:true");
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "primary");
  auto fresh = topo.Post("secondary-1", "/api/v1/sample/upload", "after");
  EXPECT_EQ(fresh.status, 201) << fresh.body;

  // A third run has nothing left to do and says so.
  auto third = test::RunGeorep({"promote", "--config", topo.Config("secondary-1")});
  EXPECT_EQ(third.exit_code, 2) << third.output;
  EXPECT_NE(third.output.find("is already the primary"), std::string::npos) << third.output;
}

TEST(DisasterRecoveryTest, MaintenanceRequestsMustBeSignedAndWellFormed) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  auto forged =
      topo.Request("primary", "POST", "/geo/maintenance", R"({"enabled": true, "reason": "x"})",
                   {"Authorization: GL-Geo nosuchkey:abc.def.ghi"});
  EXPECT_EQ(forged.status, 401) << forged.body;
  auto malformed = topo.Request("primary", "POST", "/geo/maintenance", "[1, 2]");
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  auto big = topo.Request("primary", "POST", "/geo/status", std::string((1 << 20) + 1, ' '));
  EXPECT_EQ(big.status, 413) << big.body.substr(0, 200);
  // Nothing of that turned maintenance on: the primary still takes writes.
  auto write = topo.Post("primary", "/api/v1/sample/upload", "still open");
  EXPECT_EQ(write.status, 201) << write.body;
  // A secondary serves none of the primary's routes.
  auto on_secondary = topo.Request("secondary-1", "POST", "/geo/maintenance",
                                   R"({"enabled": true, "reason": "x"})");
  EXPECT_EQ(on_secondary.status, 404) << on_secondary.body;
}

}  // namespace
}  // namespace georep
