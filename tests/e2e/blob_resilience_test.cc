// Nothing is lost or stranded when daemons die: kill -9 during a sync,
// several daemons sharing one secondary, a backfill of a site's existing data.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "git/repository.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/subprocess.h"

namespace georep {
namespace {

using Clock = std::chrono::steady_clock;

// Short timeouts so a dead daemon's work is reclaimed within seconds.
const std::vector<std::string> kFastEnv = {"GEOREP_SYNC_DEAD_WORKER_SECONDS=3",
                                           "GEOREP_CURSOR_LEASE_SECONDS=2"};

int64_t StartedRows(db::Connection& tracking) {
  auto tables = tracking.Exec(
      "SELECT string_agg(format('SELECT count(*) FROM georep.%I WHERE state = 1', tablename), ' "
      "UNION ALL ') "
      "FROM pg_tables WHERE schemaname = 'georep' AND tablename LIKE '%\\_registry'");
  auto r = tracking.Exec(
      absl::StrCat("SELECT coalesce(sum(count), 0) FROM (", tables->Get(0, 0), ") x"));
  return r.ok() ? r->GetInt64(0, 0) : -1;
}

int64_t TempFiles(const test::Topology& topo) {
  std::string dir = topo.Site("secondary-1")["storage_root"].get<std::string>() + "/.georep-tmp";
  int64_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir, ec)) ++n;
  return n;
}

// Blobs the primary has served to secondaries, alone or in batches.
int64_t Served(const test::Topology& topo) {
  return static_cast<int64_t>(
      topo.MetricSum("primary", "georep_retrieve_blobs_total", "status=\"200\""));
}

TEST(BlobResilienceTest, KillNineDuringSyncLosesAndStrandsNothing) {
  test::Topology topo({"--seed", "0"}, kFastEnv);
  ASSERT_TRUE(topo.ok());
  auto seed = test::RunGeorep(
      {"sample", "seed", "--count", "5000", "--size", "32768", "--config", topo.Config("primary")});
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  auto start = Clock::now();
  for (int round = 0; round < 3; ++round) {
    // Let it get going, then kill it mid-flight and bring it back.
    ASSERT_TRUE(test::WaitFor(
        [&] { return topo.TotalCount("secondary-1", "synced") > 300 * (round + 1); }, 60));
    int pid = topo.Pid("secondary-1");
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
    ASSERT_TRUE(topo.Up());
    ASSERT_NE(topo.Pid("secondary-1"), pid);
  }
  ASSERT_TRUE(test::WaitFor([&] { return topo.TotalCount("secondary-1", "synced") == 5000; }, 180))
      << topo.Status("secondary-1").dump();
  std::printf(
      "[ figures  ] 5000 blobs of 32 KiB synced in %.1f s with 3 kill -9 of the secondary daemon\n",
      std::chrono::duration<double>(Clock::now() - start).count());
  auto tracking = topo.TrackingDb("secondary-1");
  EXPECT_EQ(StartedRows(*tracking), 0);
  EXPECT_EQ(topo.TotalCount("secondary-1", "failed"), 0);
  EXPECT_TRUE(test::WaitFor([&] { return TempFiles(topo) == 0; }, 10))
      << TempFiles(topo) << " temp files left";
  auto diff = georep::Run({"diff", "-rq", "--exclude=.georep-tmp",
                           topo.Site("primary")["storage_root"].get<std::string>(),
                           topo.Site("secondary-1")["storage_root"].get<std::string>()});
  EXPECT_EQ(diff->exit_code, 0) << diff->output.substr(0, 2000);
}

// The cursor's position on a secondary.
int64_t CursorPosition(db::Connection& tracking) {
  auto r = tracking.Exec("SELECT coalesce(max(last_event_id), 0) FROM georep.event_cursor");
  return r.ok() && r->rows() == 1 ? r->GetInt64(0, 0) : -1;
}

void KillAndRestart(test::Topology& topo, const std::string& site) {
  int pid = topo.Pid(site);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
  ASSERT_TRUE(topo.Up());
  ASSERT_NE(topo.Pid(site), pid);
}

// kill -9 of the secondary while Git repositories are being fetched, and
// while its cursor is in the middle of a burst of events: every repository
// and every blob ends synced and verified, no row stays started and no
// temporary copy is left.
TEST(BlobResilienceTest, KillNineMidRepositorySyncAndMidCursorBatchLosesNothing) {
  test::Topology topo({"--seed", "0"}, kFastEnv);
  ASSERT_TRUE(topo.ok());
  auto tracking = topo.TrackingDb("secondary-1");
  const std::string work = test::MakeTempDir("kill-repos");
  const std::string sroot = topo.Site("secondary-1")["repository_root"].get<std::string>();
  const std::string proot = topo.Site("primary")["repository_root"].get<std::string>();
  constexpr int kRepos = 12;

  // Repositories of 4 MiB that cannot be compressed, pushed while the
  // secondary is down, so it fetches them all at once when it is back.
  int pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
  std::mt19937_64 rng(7);
  // A new commit of 4 MiB in each repository.
  auto push_all = [&] {
    for (int i = 0; i < kRepos; ++i) {
      std::string path = absl::StrCat("kill/r", i);
      std::string w = absl::StrCat(work, "/r", i);
      std::string bytes(4 << 20, '\0');
      for (size_t k = 0; k + 8 <= bytes.size(); k += 8) {
        uint64_t v = rng();
        std::memcpy(&bytes[k], &v, 8);
      }
      ASSERT_TRUE(WriteFileAtomic(w + "/data.bin", bytes).ok());
      test::Git({"-C", w, "add", "data.bin"});
      test::Git({"-C", w, "commit", "-q", "-m", "data"});
      test::Git({"-C", w, "push", "-q", topo.Url("primary") + "/" + path + ".git", "HEAD:main"});
    }
  };
  for (int i = 0; i < kRepos; ++i) {
    std::string path = absl::StrCat("kill/r", i);
    auto r = topo.Post("primary", "/api/v1/sample/projects", nlohmann::json{{"path", path}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
    test::Git({"init", "-q", absl::StrCat(work, "/r", i)});
  }
  push_all();
  auto repos_started = [&] {
    auto r =
        tracking->Exec("SELECT count(*) FROM georep.project_repository_registry WHERE state = 1");
    return r.ok() ? r->GetInt64(0, 0) : 0;
  };
  auto replicated = [&] {
    for (int i = 0; i < kRepos; ++i) {
      std::string rel = absl::StrCat("kill/r", i, ".git");
      auto a = git::RefsChecksum(proot + "/" + rel);
      auto b = git::RefsChecksum(sroot + "/" + rel);
      if (!a.ok() || !b.ok() || *a != *b) return false;
    }
    return true;
  };
  // Each kill of a fetch lands a random moment after one is seen in flight
  // (from a seed printed here; KILL_SEED replays a run: not a GEOREP_ name, which the daemons would
  // refuse as no setting).
  const char* seed_env = std::getenv("KILL_SEED");
  const uint64_t seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : std::random_device()();
  std::printf("[ figures  ] kill moments from seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 when(seed);
  auto pause_ms = [&](int most) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, most)(when)));
  };
  ASSERT_TRUE(topo.Up());
  int kills = 0;
  for (int round = 0; round < 6 && kills < 3; ++round) {
    // A fetch in flight: its row says started.
    if (!test::WaitFor([&] { return repos_started() > 0 || replicated(); }, 60)) break;
    pause_ms(100);
    if (replicated()) {
      if (kills > 0) break;
      // Every fetch ended before a kill could land (a fast run): with the
      // secondary down, more to fetch, and again.
      int down = topo.Pid("secondary-1");
      ASSERT_EQ(kill(down, SIGKILL), 0);
      ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(down); }, 5));
      push_all();
      ASSERT_TRUE(topo.Up());
      continue;
    }
    KillAndRestart(topo, "secondary-1");
    ++kills;
  }
  std::printf("[ figures  ] %d kill -9 of the secondary with repository fetches in flight\n",
              kills);
  EXPECT_GE(kills, 1) << "no fetch was ever caught in flight";

  EXPECT_TRUE(test::WaitFor([&] { return replicated(); }, 120));
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking->Exec(
            "SELECT count(*) FROM georep.project_repository_registry WHERE state = 2 AND "
            "verification_state = 2 AND local_path LIKE '%/kill/r%'");
        return r.ok() && r->GetInt64(0, 0) == kRepos;
      },
      120))
      << "every repository synced and verified";

  // Bursts of 5000 events written while the secondary is down; it is killed
  // again once its cursor is part way through one.
  auto primary_db = topo.MainDb("primary");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return topo.TotalCount("secondary-1", "registry") ==
               topo.TotalCount("secondary-1", "synced");
      },
      60));
  const int64_t rows_before = topo.TotalCount("secondary-1", "registry");
  int cursor_kills = 0;
  for (int round = 0; round < 2; ++round) {
    int64_t before = CursorPosition(*tracking);
    pid = topo.Pid("secondary-1");
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
    auto seed = test::RunGeorep(
        {"sample", "seed", "--count", "5000", "--size", "64", "--config", topo.Config("primary")});
    ASSERT_EQ(seed.exit_code, 0) << seed.output;
    auto last = primary_db->Exec("SELECT max(id) FROM georep.geo_event_log");
    ASSERT_TRUE(last.ok());
    const int64_t end = last->GetInt64(0, 0);
    ASSERT_TRUE(topo.Up());
    bool mid = test::WaitFor(
        [&] {
          int64_t at = CursorPosition(*tracking);
          return (at > before && at < end) || at >= end;
        },
        60);
    int64_t at = CursorPosition(*tracking);
    if (mid && at < end) {
      KillAndRestart(topo, "secondary-1");
      ++cursor_kills;
    }
  }
  std::printf(
      "[ figures  ] %d kill -9 of the secondary with its cursor part way through 5000 "
      "events\n",
      cursor_kills);
  EXPECT_GE(cursor_kills, 1) << "the cursor was never caught part way through a burst";
  EXPECT_TRUE(test::WaitFor(
      [&] { return topo.TotalCount("secondary-1", "synced") == rows_before + 10000; }, 180))
      << topo.Status("secondary-1").dump();
  EXPECT_EQ(topo.TotalCount("secondary-1", "registry"), rows_before + 10000) << "no event was lost";
  EXPECT_EQ(StartedRows(*tracking), 0);
  EXPECT_EQ(topo.TotalCount("secondary-1", "failed"), 0);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        std::error_code ec;
        auto it = std::filesystem::directory_iterator(sroot + "/@geo-temporary", ec);
        return ec || it == std::filesystem::directory_iterator();
      },
      30))
      << "a temporary repository is left in " << sroot << "/@geo-temporary";
  EXPECT_TRUE(test::WaitFor([&] { return TempFiles(topo) == 0; }, 30));
  test::RemoveTree(work);
}

TEST(BlobResilienceTest, TwoDaemonsShareASecondaryAndTheCursorFailsOver) {
  test::Topology topo({"--seed", "0"}, kFastEnv);
  ASSERT_TRUE(topo.ok());
  // A second daemon for secondary-1, on another port, sharing its tracking DB.
  int port = *FreeTcpPort();
  std::vector<std::string> env = kFastEnv;
  env.push_back(absl::StrCat("GEOREP_HTTP_LISTEN=127.0.0.1:", port));
  auto second =
      SpawnDetached({test::GeorepBinary(), "serve", "--config", topo.Config("secondary-1")},
                    topo.dir() + "/second-daemon.log", env);
  ASSERT_TRUE(second.ok());
  auto tracking = topo.TrackingDb("secondary-1");
  auto holder = [&]() -> std::string {
    auto r = tracking->Exec(
        "SELECT holder FROM georep.leases WHERE name = 'log_cursor' AND expires_at > now()");
    return r.ok() && r->rows() == 1 ? std::string(r->Get(0, 0)) : "";
  };
  ASSERT_TRUE(test::WaitFor([&] { return !holder().empty(); }, 10));
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking->Exec(
            "SELECT count(*) FROM georep.workers WHERE heartbeat_at > now() - interval '5 s'");
        return r.ok() && r->GetInt64(0, 0) == 2;
      },
      10));

  // Counted in the tracking DB: either daemon may be the one that is killed.
  auto synced_uploads = [&]() -> int64_t {
    auto r = tracking->Exec("SELECT count(*) FROM georep.upload_registry WHERE state = 2");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  };

  // Both daemons sync; every item is downloaded exactly once.
  int64_t served_before = Served(topo);
  for (int i = 0; i < 300; ++i)
    ASSERT_EQ(topo.Post("primary", "/api/v1/sample/upload", absl::StrCat("item ", i)).status, 201);
  ASSERT_TRUE(test::WaitFor([&] { return synced_uploads() == 300; }, 60));
  EXPECT_EQ(Served(topo) - served_before, 300) << "an item was downloaded more than once";

  // Kill the lease holder; the other daemon takes over within twice the lease (2 s).
  std::string first_holder = holder();
  auto pid_row =
      tracking->Exec("SELECT pid FROM georep.workers WHERE worker_id = $1", {first_holder});
  ASSERT_TRUE(pid_row.ok() && pid_row->rows() == 1);
  int holder_pid = static_cast<int>(pid_row->GetInt64(0, 0));
  ASSERT_EQ(kill(holder_pid, SIGKILL), 0);
  auto killed_at = Clock::now();
  ASSERT_TRUE(test::WaitFor(
      [&] {
        std::string h = holder();
        return !h.empty() && h != first_holder;
      },
      10));
  double takeover = std::chrono::duration<double>(Clock::now() - killed_at).count();
  EXPECT_LE(takeover, 2 * 2.0 + 0.5) << "takeover took " << takeover << " s";
  std::printf("[ figures  ] cursor lease taken over %.2f s after kill -9 of its holder (TTL 2 s)\n",
              takeover);
  for (int i = 300; i < 400; ++i)
    ASSERT_EQ(topo.Post("primary", "/api/v1/sample/upload", absl::StrCat("item ", i)).status, 201);
  EXPECT_TRUE(test::WaitFor([&] { return synced_uploads() == 400; }, 60)) << synced_uploads();
  EXPECT_EQ(StartedRows(*tracking), 0);
  if (ProcessAlive(*second)) (void)TerminateProcess(*second, std::chrono::seconds(10));
}

TEST(BlobResilienceTest, ASecondaryAddedLaterBackfillsExistingRows) {
  test::Topology topo({"--secondaries", "0", "--seed", "0"}, kFastEnv);
  ASSERT_TRUE(topo.ok());
  auto seed = test::RunGeorep(
      {"sample", "seed", "--count", "100000", "--size", "64", "--config", topo.Config("primary")});
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  auto start = Clock::now();
  ASSERT_TRUE(topo.Up({"--secondaries", "1"}));
  ASSERT_TRUE(
      test::WaitFor([&] { return topo.TotalCount("secondary-1", "registry") == 100000; }, 120))
      << topo.Status("secondary-1").dump();
  double registered = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(
      test::WaitFor([&] { return topo.TotalCount("secondary-1", "synced") == 100000; }, 400))
      << topo.Status("secondary-1").dump();
  double synced = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "[ figures  ] 100000 existing rows: registry rows created %.1f s and all synced %.1f s after "
      "the "
      "secondary was added\n",
      registered, synced);
  EXPECT_EQ(topo.TotalCount("secondary-1", "failed"), 0);
}

// An outage of the primary is the site's condition, not each item's: the
// secondary stops claiming while its health is probed, and when it answers,
// what failed is retried at once rather than after each item's backoff.
TEST(BlobResilienceTest, SyncingResumesAtOnceWhenThePrimaryAnswersAgain) {
  test::Topology topo({"--seed", "0"}, kFastEnv);
  ASSERT_TRUE(topo.ok());
  int pid = topo.Pid("primary");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 5));
  // Written while the primary's daemon is down (its database is up).
  auto seed = test::RunGeorep(
      {"sample", "seed", "--count", "300", "--size", "4096", "--config", topo.Config("primary")});
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return topo.TotalCount("secondary-1", "registry") == 300 &&
               topo.TotalCount("secondary-1", "failed") > 0;
      },
      60))
      << topo.Status("secondary-1").dump();
  // Long enough for backoffs to grow, were each item on its own.
  const double failed_at = WallSeconds();
  ASSERT_TRUE(test::WaitFor([&] { return WallSeconds() - failed_at > 15; }, 30));
  int64_t failed = topo.TotalCount("secondary-1", "failed");
  int64_t pending = topo.TotalCount("secondary-1", "pending");
  std::printf("[ figures  ] during the outage: %lld of 300 failed, %lld left pending\n",
              static_cast<long long>(failed), static_cast<long long>(pending));
  EXPECT_GT(pending, 0) << "claims went on while the primary was down";

  ASSERT_TRUE(topo.Up());
  const double back_at = WallSeconds();
  ASSERT_TRUE(test::WaitFor([&] { return topo.TotalCount("secondary-1", "synced") == 300; }, 120))
      << topo.Status("secondary-1").dump();
  std::printf("[ figures  ] all 300 synced %.1f s after the primary's daemon was back\n",
              WallSeconds() - back_at);
  EXPECT_EQ(topo.TotalCount("secondary-1", "failed"), 0);
}

}  // namespace
}  // namespace georep
