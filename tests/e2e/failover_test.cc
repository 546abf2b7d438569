// A planned failover of a fleet of three (one primary, two secondaries) as
// an operator runs it: `georep promote` on one secondary under write load,
// `georep follow` on the other. The follower keeps its standby (no new base
// backup, though the old primary's PostgreSQL keeps running and writing
// WAL), downloads nothing it already held, and ends with every write the
// old primary acknowledged and every write the new one took.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/geo_auth.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/sha256.h"
#include "util/subprocess.h"

namespace georep {
namespace {
namespace fs = std::filesystem;

struct Written {
  std::string kind;
  int64_t id;
  std::string sha256;
};

nlohmann::json JsonOf(const std::string& output) {
  // Progress lines go to stderr, which RunGeorep merges: the JSON is last.
  size_t at = output.find("\n{");
  at = output.starts_with("{") ? 0 : (at == std::string::npos ? at : at + 1);
  if (at == std::string::npos) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(output.substr(at), nullptr, false);
}

const char* const kKinds[] = {"upload", "lfs_object", "package_file"};

// Posts a blob of the i-th kind to `site`; the write as acknowledged, or
// a test failure.
Written WriteBlob(const test::Topology& topo, const std::string& site, int i,
                  const std::string& label) {
  std::string kind = kKinds[i % 3];
  auto r = topo.Post(site, "/api/v1/sample/" + kind, absl::StrCat(label, " ", i));
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 201 || !j.is_object()) return {kind, 0, ""};
  return {kind, j["id"].get<int64_t>(), j["sha256"].get<std::string>()};
}

// Every blob in `writes` is under `storage`, byte for byte.
void ExpectHeld(const std::string& storage, const std::vector<Written>& writes) {
  for (const auto& w : writes) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(w.id % 256));
    auto sha = Sha256File(absl::StrCat(storage, "/", w.kind, "/", hex, "/", w.id));
    EXPECT_TRUE(sha.ok() && *sha == w.sha256) << w.kind << " " << w.id << " missing or wrong";
  }
}

int64_t BlobsSynced(const test::Topology& topo, const std::string& site) {
  int64_t n = 0;
  for (const char* kind : kKinds) n += topo.Count(site, kind, "synced");
  return n;
}

int64_t Served(const test::Topology& topo, const std::string& site) {
  return static_cast<int64_t>(
      topo.MetricSum(site, "georep_retrieve_blobs_total", "status=\"200\""));
}

std::string SystemId(db::Connection& c) {
  auto r = c.Exec("SELECT system_identifier::text FROM pg_control_system()");
  return r.ok() ? std::string(r->Get(0, 0)) : "";
}

// POST /geo/handover as a promotion sends it, and as nobody else may.
transport::HttpResult Handover(const test::Topology& topo, const std::string& from,
                               const std::string& to, const std::string& action,
                               const std::string& new_primary) {
  auto config = config::LoadConfig(topo.Config(from));
  EXPECT_TRUE(config.ok()) << config.status();
  std::string auth = transport::MakeGeoAuthorization(
      config->access_key, config->secret_access_key,
      transport::HandoverRequestData(action, new_primary), static_cast<int64_t>(WallSeconds()));
  nlohmann::json body = {{"action", action}, {"new_primary", new_primary}};
  return topo.Request(to, "POST", "/geo/handover", body.dump(), {"Authorization: " + auth});
}

// The site a promotion detached `site`'s standby for; "" when none.
std::string DetachedFor(const test::Topology& topo, const std::string& site) {
  auto st = topo.Status(site);
  return !st.is_null() && st["detached_for"].is_string() ? st["detached_for"].get<std::string>()
                                                         : "";
}

bool Streaming(const test::Topology& topo, const std::string& site) {
  auto st = topo.Status(site);
  return !st.is_null() && st["database"].value("streaming", false);
}

TEST(FailoverTest, APlannedFailoverLeavesTheOtherSecondaryFollowingWithNothingFetchedTwice) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  std::string follower_system = SystemId(*topo.MainDb("secondary-2"));
  ASSERT_FALSE(follower_system.empty());
  auto project = topo.Post("primary", "/api/v1/sample/projects", R"({"path": "dr/app"})");
  ASSERT_EQ(project.status, 201) << project.body;
  std::string work = test::MakeTempDir("failover-work");
  test::Git({"init", "-q", work});
  const std::string old_url = topo.Url("primary");

  // A writer on the primary; every acknowledged blob is kept.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Written> acked;
  std::vector<std::string> pushed;  // commits the old primary accepted
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string kind = kKinds[i % 3];
      auto r = topo.Post("primary", "/api/v1/sample/" + kind, absl::StrCat("before ", i));
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (r.status == 201 && j.is_object()) {
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back({kind, j["id"].get<int64_t>(), j["sha256"].get<std::string>()});
      }
      if (i % 10 != 0) continue;
      test::GitRun({"-C", work, "commit", "-q", "--allow-empty", "-m", absl::StrCat("c", i)});
      if (test::GitRun({"-C", work, "push", "-q", old_url + "/dr/app.git", "HEAD:main"})
              .exit_code == 0) {
        std::lock_guard<std::mutex> lock(mu);
        pushed.push_back(test::GitRun({"-C", work, "rev-parse", "HEAD"}).output.substr(0, 40));
      }
    }
  });
  ASSERT_TRUE(test::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= 40 && pushed.size() >= 2;
      },
      120));
  ASSERT_TRUE(test::WaitFor([&] { return BlobsSynced(topo, "secondary-2") >= 20; }, 120));

  auto promote = test::RunGeorep(
      {"promote", "--config", topo.Config("secondary-1"), "--timeout", "240", "--json"});
  stop = true;
  writer.join();
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  nlohmann::json outcome = JsonOf(promote.output);
  ASSERT_TRUE(outcome.is_object()) << promote.output;
  EXPECT_FALSE(outcome["would_lose_data"].get<bool>()) << promote.output;
  ASSERT_EQ(outcome["followers"].size(), 1u) << promote.output;
  EXPECT_EQ(outcome["followers"][0]["site"], "secondary-2");
  EXPECT_TRUE(outcome["followers"][0]["detached"].get<bool>()) << promote.output;

  // Its status says so until it follows.
  EXPECT_TRUE(test::WaitFor([&] { return DetachedFor(topo, "secondary-2") == "secondary-1"; }, 30))
      << topo.Status("secondary-2").dump();

  // The old primary's daemon goes away, as an operator retires it; its
  // PostgreSQL keeps running (and writing WAL the follower must not take).
  int old_pid = topo.Pid("primary");
  ASSERT_EQ(kill(old_pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(old_pid, 0) != 0; }, 30));
  // What the follower holds now it will not fetch again.
  int64_t held = BlobsSynced(topo, "secondary-2");
  int64_t served_before = Served(topo, "secondary-1");

  // The new primary takes writes.
  std::vector<Written> fresh;
  for (int i = 0; i < 9; ++i) fresh.push_back(WriteBlob(topo, "secondary-1", i, "after"));

  const auto& standby = topo.Site("secondary-1")["clusters"][0];
  auto follow = test::RunGeorep({"follow", "--config", topo.Config("secondary-2"), "--primary",
                                 topo.Url("secondary-1"), "--primary-port",
                                 absl::StrCat(standby["port"].get<int>()), "--json"});
  ASSERT_EQ(follow.exit_code, 0) << follow.output;
  nlohmann::json followed = JsonOf(follow.output);
  ASSERT_TRUE(followed.is_object()) << follow.output;
  EXPECT_EQ(followed["primary"], "secondary-1");
  // follow never takes a new copy (it says when one is needed): no field
  // claims one either way.
  EXPECT_FALSE(followed.contains("base_backup")) << follow.output;
  EXPECT_TRUE(followed["fork_point"].is_string()) << follow.output;
  // The same standby, not a new copy.
  auto follower_db = topo.MainDb("secondary-2");
  EXPECT_EQ(SystemId(*follower_db), follower_system);

  // It converges: every blob either primary acknowledged, byte for byte.
  std::vector<Written> all = acked;
  all.insert(all.end(), fresh.begin(), fresh.end());
  int64_t total = static_cast<int64_t>(all.size());
  EXPECT_TRUE(test::WaitFor([&] { return BlobsSynced(topo, "secondary-2") == total; }, 180))
      << BlobsSynced(topo, "secondary-2") << " of " << total << " synced";
  ExpectHeld(topo.Site("secondary-2")["storage_root"], all);
  // Every commit the old primary accepted, and one pushed to the new one.
  test::GitRun({"-C", work, "commit", "-q", "--allow-empty", "-m", "after"});
  auto push = test::GitRun(
      {"-C", work, "push", "-q", topo.Url("secondary-1") + "/dr/app.git", "HEAD:main"});
  ASSERT_EQ(push.exit_code, 0) << push.output;
  pushed.push_back(test::GitRun({"-C", work, "rev-parse", "HEAD"}).output.substr(0, 40));
  std::string repo = topo.Site("secondary-2")["repository_root"].get<std::string>() + "/dr/app.git";
  EXPECT_TRUE(test::WaitFor(
      [&] {
        for (const auto& commit : pushed) {
          if (test::GitRun({"-C", repo, "cat-file", "-e", commit + "^{commit}"}).exit_code != 0)
            return false;
        }
        return true;
      },
      120))
      << pushed.size() << " acknowledged commits, not all in " << repo;
  test::RemoveTree(work);
  // Its database has the new primary's rows, and names the new primary.
  auto rows = [&](const std::string& site) {
    auto r = topo.MainDb(site)->Exec(
        "SELECT (SELECT count(*) FROM sample.uploads) + (SELECT count(*) FROM "
        "sample.lfs_objects) + (SELECT count(*) FROM sample.package_files)");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };
  EXPECT_TRUE(test::WaitFor([&] { return rows("secondary-2") == rows("secondary-1"); }, 60));
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto st = topo.Status("secondary-2");
        return st.value("primary", "") == "secondary-1" && st["detached_for"].is_null();
      },
      30))
      << topo.Status("secondary-2").dump();

  // Nothing it held was fetched again: the new primary served at most what
  // it lacked, and at least the writes made after the promotion.
  int64_t served = Served(topo, "secondary-1") - served_before;
  std::printf("follower: held %lld of %lld blobs at the switch; the new primary served it %lld\n",
              static_cast<long long>(held), static_cast<long long>(total),
              static_cast<long long>(served));
  EXPECT_LE(served, total - held);
  EXPECT_GE(served, static_cast<int64_t>(fresh.size()));

  // Following again changes nothing.
  auto again = test::RunGeorep({"follow", "--config", topo.Config("secondary-2"), "--primary",
                                topo.Url("secondary-1"), "--primary-port",
                                absl::StrCat(standby["port"].get<int>())});
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST(FailoverTest, OnlyThePromotedSiteMayDetachAStandbyAndAnAbandonedHandoverReattachesIt) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  ASSERT_TRUE(test::WaitFor([&] { return Streaming(topo, "secondary-2"); }, 60));

  auto unsigned_request = topo.Request("secondary-2", "POST", "/geo/handover",
                                       R"({"action": "detach", "new_primary": "secondary-1"})");
  EXPECT_EQ(unsigned_request.status, 401) << unsigned_request.body;
  auto malformed = Handover(topo, "secondary-1", "secondary-2", "explode", "secondary-1");
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  // secondary-1 may hand over only to itself.
  auto for_another = Handover(topo, "secondary-1", "secondary-2", "detach", "secondary-2");
  EXPECT_EQ(for_another.status, 403) << for_another.body;
  // The primary has no standby to detach.
  auto on_primary = Handover(topo, "secondary-1", "primary", "detach", "secondary-1");
  EXPECT_EQ(on_primary.status, 404) << on_primary.body;
  EXPECT_TRUE(Streaming(topo, "secondary-2")) << "refused requests detached nothing";

  // The promoted site's own request detaches; its reattach undoes it.
  auto detach = Handover(topo, "secondary-1", "secondary-2", "detach", "secondary-1");
  ASSERT_EQ(detach.status, 200) << detach.body;
  EXPECT_TRUE(nlohmann::json::parse(detach.body)["received_lsn"].is_string()) << detach.body;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return !Streaming(topo, "secondary-2") && DetachedFor(topo, "secondary-2") == "secondary-1";
      },
      30))
      << topo.Status("secondary-2").dump();
  // Writes on the primary do not reach a detached standby …
  auto write = topo.Post("primary", "/api/v1/sample/upload", "while detached");
  ASSERT_EQ(write.status, 201) << write.body;
  int64_t id = nlohmann::json::parse(write.body)["id"].get<int64_t>();
  auto has_row = [&] {
    auto r = topo.MainDb("secondary-2")
                 ->Exec("SELECT count(*) FROM sample.uploads WHERE id = $1", {absl::StrCat(id)});
    return r.ok() && r->GetInt64(0, 0) == 1;
  };
  EXPECT_TRUE(
      test::WaitFor([&] { return topo.Count("secondary-1", "upload", "synced") >= 1; }, 60));
  EXPECT_FALSE(has_row());
  // … and do once it is reattached.
  auto reattach = Handover(topo, "secondary-1", "secondary-2", "reattach", "secondary-1");
  ASSERT_EQ(reattach.status, 200) << reattach.body;
  EXPECT_TRUE(test::WaitFor(has_row, 60));
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Streaming(topo, "secondary-2") &&
               topo.Status("secondary-2")["detached_for"].is_null();
      },
      30))
      << topo.Status("secondary-2").dump();
  EXPECT_TRUE(
      test::WaitFor([&] { return topo.Count("secondary-2", "upload", "synced") == 1; }, 60));
}

// The old primary after a planned failover: stopped, demoted by rewind onto
// the new primary's timeline, started as its secondary. It keeps its data
// folder and its files, and downloads none of the blobs it already holds.
TEST(FailoverTest, ADemotedOldPrimaryRejoinsByRewindAndDownloadsNothingItHolds) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  std::vector<Written> before;
  for (int i = 0; i < 30; ++i) before.push_back(WriteBlob(topo, "primary", i, "held"));
  ASSERT_TRUE(test::WaitFor([&] { return BlobsSynced(topo, "secondary-1") == 30; }, 120));
  auto promote = test::RunGeorep({"promote", "--config", topo.Config("secondary-1"), "--json"});
  ASSERT_EQ(promote.exit_code, 0) << promote.output;

  // The operator retires the old primary: daemon and PostgreSQL stopped.
  const auto& old_site = topo.Site("primary");
  ASSERT_EQ(kill(old_site["pid"].get<int>(), SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(old_site["pid"].get<int>(), 0) != 0; }, 30));
  const auto& c = old_site["clusters"][0];
  const std::string old_data = c["data_dir"];
  cluster::PgCluster old_pg({old_data, c["port"], c["log"]});
  ASSERT_TRUE(old_pg.Stop().ok());
  // The new primary takes writes meanwhile.
  std::vector<Written> after;
  for (int i = 0; i < 6; ++i) after.push_back(WriteBlob(topo, "secondary-1", i, "new"));

  // A secondary needs a tracking database: the demoted site gets one.
  const std::string site_dir = fs::path(old_data).parent_path().string();
  auto port = FreeTcpPort();
  ASSERT_TRUE(port.ok());
  cluster::PgCluster tracking_pg(
      {site_dir + "/pg-tracking-demoted", *port, site_dir + "/pg-tracking-demoted.log"});
  ASSERT_TRUE(tracking_pg.Init().ok());
  ASSERT_TRUE(tracking_pg.Start().ok());
  ASSERT_TRUE(tracking_pg.CreateDatabase("georep_tracking").ok());
  pid_t daemon = -1;
  struct Cleanup {
    cluster::PgCluster* pg;
    pid_t* pid;
    ~Cleanup() {
      if (*pid > 0) (void)TerminateProcess(*pid, std::chrono::seconds(10));
      (void)pg->Stop();
    }
  } cleanup{&tracking_pg, &daemon};
  auto config = config::LoadConfig(topo.Config("primary"));
  ASSERT_TRUE(config.ok()) << config.status();
  config->tracking_database = tracking_pg.Conninfo("georep_tracking");
  ASSERT_TRUE(WriteFileAtomic(topo.Config("primary"), config::RenderConfig(*config), 0600).ok());

  const auto& new_pg = topo.Site("secondary-1")["clusters"][0];
  auto demote = test::RunGeorep({"demote", "--config", topo.Config("primary"), "--primary",
                                 topo.Url("secondary-1"), "--primary-port",
                                 absl::StrCat(new_pg["port"].get<int>()), "--user", "postgres",
                                 "--data-dir", old_data, "--json"});
  ASSERT_EQ(demote.exit_code, 0) << demote.output;
  nlohmann::json outcome = JsonOf(demote.output);
  ASSERT_TRUE(outcome.is_object()) << demote.output;
  EXPECT_EQ(outcome["primary"], "secondary-1");
  EXPECT_TRUE(outcome["tracking_migrated"].get<bool>()) << demote.output;
  // Demoting a running cluster is refused before anything is touched.
  ASSERT_TRUE(old_pg.Start().ok());
  auto running = test::RunGeorep({"demote", "--config", topo.Config("primary"), "--primary",
                                  topo.Url("secondary-1"), "--primary-port",
                                  absl::StrCat(new_pg["port"].get<int>()), "--user", "postgres",
                                  "--data-dir", old_data});
  EXPECT_EQ(running.exit_code, 1) << running.output;
  EXPECT_NE(running.output.find("stop it first"), std::string::npos) << running.output;

  // A standby of the new primary, holding its writes.
  auto old_db = topo.MainDb("primary");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = old_db->Exec("SELECT pg_is_in_recovery()");
        return r.ok() && r->GetBool(0, 0);
      },
      60));
  auto enable =
      test::RunGeorep({"site", "enable", "primary", "--config", topo.Config("secondary-1")});
  ASSERT_EQ(enable.exit_code, 0) << enable.output;
  int64_t served_before = Served(topo, "secondary-1");
  auto spawned = SpawnDetached({test::GeorepBinary(), "serve", "--config", topo.Config("primary")},
                               site_dir + "/demoted.log");
  ASSERT_TRUE(spawned.ok()) << spawned.status();
  daemon = *spawned;

  int64_t total = static_cast<int64_t>(before.size() + after.size());
  EXPECT_TRUE(test::WaitFor([&] { return BlobsSynced(topo, "primary") == total; }, 180))
      << BlobsSynced(topo, "primary") << " of " << total
      << "; log: " << ReadFile(site_dir + "/demoted.log").value_or("");
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto st = topo.Status("primary");
        return !st.is_null() && st.value("role", "") == "secondary";
      },
      30));
  ExpectHeld(old_site["storage_root"], before);
  ExpectHeld(old_site["storage_root"], after);
  // Only the blobs written after the promotion crossed the network.
  int64_t served = Served(topo, "secondary-1") - served_before;
  std::printf("demoted old primary: %lld blobs held and adopted, %lld downloaded\n",
              static_cast<long long>(before.size()), static_cast<long long>(served));
  EXPECT_EQ(served, static_cast<int64_t>(after.size()));
}

// `georep demo failover` runs the whole sequence on a demo, and `demo up`
// afterwards restarts it as it now is.
TEST(FailoverTest, DemoFailoverLeavesEverySiteFollowingTheNewPrimary) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  for (int i = 0; i < 6; ++i) WriteBlob(topo, "primary", i, "before");
  ASSERT_TRUE(test::WaitFor([&] { return BlobsSynced(topo, "secondary-2") == 6; }, 120));
  auto bad = test::RunGeorep({"demo", "failover", "--dir", topo.dir(), "--to", "primary"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("is not a secondary"), std::string::npos) << bad.output;

  auto failover = test::RunGeorep({"demo", "failover", "--dir", topo.dir(), "--to", "secondary-1"});
  ASSERT_EQ(failover.exit_code, 0) << failover.output;
  for (const char* verb : {"$ georep promote", "$ georep follow", "$ georep demote"}) {
    EXPECT_NE(failover.output.find(verb), std::string::npos) << failover.output;
  }
  topo.Reload();
  auto write = topo.Post("secondary-1", "/api/v1/sample/upload", "after the failover");
  ASSERT_EQ(write.status, 201) << write.body;
  for (const char* site : {"primary", "secondary-2"}) {
    EXPECT_TRUE(test::WaitFor(
        [&] {
          auto st = topo.Status(site);
          return !st.is_null() && st.value("role", "") == "secondary" &&
                 st["primary"].is_string() && st["primary"] == "secondary-1" &&
                 BlobsSynced(topo, site) == 7;
        },
        120))
        << site << ": " << topo.Status(site).dump();
  }
  // Taken down and up again, it comes back as it now is.
  auto down = test::RunGeorep({"demo", "down", "--dir", topo.dir()});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  ASSERT_TRUE(topo.Up());
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "primary");
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto st = topo.Status("primary");
        return !st.is_null() && st.value("role", "") == "secondary";
      },
      60));
}

}  // namespace
}  // namespace georep
