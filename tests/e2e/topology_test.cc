// A real primary + secondary (`georep demo up`): PostgreSQL primary, streaming
// standby, tracking DB and two daemons on loopback, driven as a user would.
#include "support/topology.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"
#include "db/connection.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/subprocess.h"

namespace georep {
namespace {

using test::RunGeorep;

class TopologyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { topo_ = new test::Topology({"--seed", "20"}); }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }
  static const nlohmann::json& Site(const std::string& name) { return topo_->Site(name); }
  static nlohmann::json Status(const std::string& site) { return topo_->Status(site); }
  static std::unique_ptr<db::Connection> Connect(const std::string& conninfo) {
    auto c = db::Connection::Open(conninfo);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static cluster::PgCluster Cluster(const std::string& site, int index) {
    const auto& c = Site(site)["clusters"][index];
    return cluster::PgCluster({c["data_dir"], c["port"], c["log"]});
  }

  static test::Topology* topo_;
};
test::Topology* TopologyTest::topo_ = nullptr;

TEST_F(TopologyTest, TopologyDescribesEverySite) {
  const auto& p = Site("primary");
  const auto& s = Site("secondary-1");
  EXPECT_EQ(p["role"], "primary");
  EXPECT_TRUE(p["tracking_db"].is_null());
  EXPECT_EQ(s["role"], "secondary");
  EXPECT_TRUE(s["tracking_db"].is_string());
  for (const auto* site : {&p, &s}) {
    EXPECT_TRUE(ProcessAlive((*site)["pid"].get<int>()));
    EXPECT_TRUE(std::filesystem::is_directory((*site)["storage_root"].get<std::string>()));
    EXPECT_TRUE(std::filesystem::is_regular_file((*site)["config"].get<std::string>()));
  }
  auto status = RunGeorep({"demo", "status", "--dir", topo_->dir()});
  EXPECT_EQ(status.exit_code, 0) << status.output;
}

TEST_F(TopologyTest, RowCommittedOnPrimaryAppearsOnStandby) {
  auto primary = Connect(Site("primary")["main_db"]);
  auto standby = Connect(Site("secondary-1")["main_db"]);
  ASSERT_TRUE(primary && standby);
  ASSERT_TRUE(primary->Exec("CREATE TABLE e2e_notes (id bigint PRIMARY KEY, body text)").ok());
  ASSERT_TRUE(primary->Exec("INSERT INTO e2e_notes VALUES (1, 'hello from the primary')").ok());
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r = standby->Exec("SELECT body FROM e2e_notes WHERE id = 1");
        return r.ok() && r->rows() == 1 && r->Get(0, 0) == "hello from the primary";
      },
      10));
  // The standby is read-only.
  auto write = standby->Exec("INSERT INTO e2e_notes VALUES (2, 'x')");
  EXPECT_EQ(write.status().code(), absl::StatusCode::kFailedPrecondition) << write.status();
}

TEST_F(TopologyTest, SecondaryReportsTheDatabaseLegAtRest) {
  nlohmann::json st;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        st = Status("secondary-1");
        return !st.is_null() && st["database"]["streaming"] == true &&
               st["database"]["replay_lag_seconds"] == 0.0 &&
               st["database"]["receive_lsn"] == st["database"]["replay_lsn"];
      },
      10))
      << st.dump();
  EXPECT_EQ(st["site"], "secondary-1");
  EXPECT_EQ(st["role"], "secondary");
  EXPECT_EQ(st["database"]["receive_lsn"], st["database"]["replay_lsn"]);
  EXPECT_TRUE(st["database"]["last_replay_time"].is_number());

  auto primary = Status("primary");
  EXPECT_EQ(primary["role"], "primary");
  ASSERT_EQ(primary["database"]["standbys"].size(), 1u);
  EXPECT_EQ(primary["database"]["standbys"][0]["slot"], "georep_secondary_1");
  EXPECT_EQ(primary["database"]["standbys"][0]["active"], true);

  auto metrics = transport::HttpRequest(Site("secondary-1")["url"].get<std::string>() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("\ngeorep_db_replication_lag_seconds 0\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("# TYPE georep_db_replication_lag_seconds gauge"),
            std::string::npos);

  auto cli = RunGeorep({"status", "--config", Site("secondary-1")["config"]});
  EXPECT_EQ(cli.exit_code, 0);
  EXPECT_NE(cli.output.find("streaming, replay lag 0.0 s"), std::string::npos) << cli.output;
}

TEST_F(TopologyTest, MigrationsAgainstTheStandbyAreRefused) {
  std::string config = Site("secondary-1")["config"];
  auto main = RunGeorep({"db", "migrate", "--config", config, "--database", "main"});
  EXPECT_EQ(main.exit_code, 1);
  EXPECT_NE(main.output.find("is a read-only standby; main migrations need a writable database"),
            std::string::npos)
      << main.output;
  auto tracking =
      RunGeorep({"db", "migrate", "--config", config, "--database", "tracking"},
                {"GEOREP_DATABASE_TRACKING=" + Site("secondary-1")["main_db"].get<std::string>()});
  EXPECT_EQ(tracking.exit_code, 1);
  EXPECT_NE(
      tracking.output.find("is a read-only standby; tracking migrations need a writable database"),
      std::string::npos)
      << tracking.output;
  // The real tracking DB is already current.
  auto ok = RunGeorep({"db", "migrate", "--config", config});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("0 migration(s) applied"), std::string::npos) << ok.output;
}

// Last: stops the primary's PostgreSQL, then brings it back with `demo up`.
TEST_F(TopologyTest, LagRisesWhileThePrimaryIsDownAndRecovers) {
  ASSERT_TRUE(Cluster("primary", 0).Stop().ok());
  double first = -1, second = -1;
  nlohmann::json st;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        st = Status("secondary-1");
        if (st.is_null() || st["database"]["streaming"] != false) return false;
        first = st["database"]["replay_lag_seconds"];
        return first > 0;
      },
      15))
      << st.dump();
  ASSERT_TRUE(test::WaitFor(
      [&] {
        st = Status("secondary-1");
        if (st.is_null()) return false;
        second = st["database"]["replay_lag_seconds"];
        return second >= first + 1;
      },
      10))
      << "lag did not rise: first " << first << ", now " << st.dump();
  auto metrics = transport::HttpRequest(Site("secondary-1")["url"].get<std::string>() + "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("\ngeorep_db_replication_streaming 0\n"), std::string::npos)
      << metrics->body;
  // The primary's daemon keeps answering and says its database is unreachable.
  auto primary = Status("primary");
  EXPECT_EQ(primary["database"]["reachable"], false);
  // `georep status` says so, and in its exit status.
  auto cli = RunGeorep({"status", "--config", Site("primary")["config"]});
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_NE(cli.output.find("UNREACHABLE"), std::string::npos) << cli.output;
  // Both sites' health is 503, with the reason.
  auto health = [&](const std::string& site) {
    auto r = transport::HttpRequest(Site(site)["url"].get<std::string>() + "/api/v1/health");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : transport::HttpResult{};
  };
  auto primary_health = health("primary");
  EXPECT_EQ(primary_health.status, 503) << primary_health.body;
  EXPECT_NE(primary_health.body.find("main database is unreachable"), std::string::npos)
      << primary_health.body;
  auto secondary_health = health("secondary-1");
  EXPECT_EQ(secondary_health.status, 503) << secondary_health.body;
  EXPECT_NE(secondary_health.body.find("not streaming"), std::string::npos)
      << secondary_health.body;
  // `georep check` names the failed checks and exits 1.
  auto check = RunGeorep({"check", "--config", Site("secondary-1")["config"]});
  EXPECT_EQ(check.exit_code, 1) << check.output;
  EXPECT_NE(check.output.find("standby streaming    FAIL"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("daemon healthy       FAIL"), std::string::npos) << check.output;

  ASSERT_TRUE(topo_->Up());
  EXPECT_TRUE(test::WaitFor(
      [&] {
        st = Status("secondary-1");
        return !st.is_null() && st["database"]["streaming"] == true &&
               st["database"]["replay_lag_seconds"] == 0.0;
      },
      20))
      << st.dump();
  EXPECT_TRUE(test::WaitFor(
      [&] { return health("primary").status == 200 && health("secondary-1").status == 200; }, 30))
      << health("secondary-1").body;
  // The primary's daemon reconnects to its restarted database on each
  // thread's first request: the checks pass once it has.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        check = RunGeorep({"check", "--config", Site("secondary-1")["config"]});
        return check.exit_code == 0;
      },
      30))
      << check.output;
  EXPECT_NE(check.output.find("Geo key              OK   accepted by the primary"),
            std::string::npos)
      << check.output;
  EXPECT_NE(check.output.find("checks passed"), std::string::npos) << check.output;
}

TEST_F(TopologyTest, DbReplicateMakesAStandbyOfARemotePrimary) {
  std::string dir = test::MakeTempDir("replica");
  std::string data = dir + "/data";
  std::string port = absl::StrCat(Site("primary")["clusters"][0]["port"].get<int>());
  std::vector<std::string> args = {"db",
                                   "replicate",
                                   "--config",
                                   topo_->Config("secondary-1"),
                                   "--primary-host",
                                   "127.0.0.1",
                                   "--primary-port",
                                   port,
                                   "--user",
                                   "postgres",
                                   "--slot",
                                   "replicate_test",
                                   "--data-dir",
                                   data};
  auto made = RunGeorep(args);
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_NE(made.output.find("standby ready"), std::string::npos) << made.output;

  // Started by "the operator's service" (here pg_ctl), it streams.
  auto free = FreeTcpPort();
  ASSERT_TRUE(free.ok());
  cluster::PgCluster pg({data, *free, dir + "/log/pg.log"});
  ASSERT_TRUE(pg.AppendSettings(absl::StrCat("port = ", *free, "\n")).ok());
  ASSERT_TRUE(pg.Start().ok());
  auto standby = Connect(pg.Conninfo("postgres"));
  ASSERT_TRUE(standby);
  auto recovery = standby->Exec("SELECT pg_is_in_recovery()");
  ASSERT_TRUE(recovery.ok());
  EXPECT_TRUE(recovery->GetBool(0, 0));
  auto primary = Connect(Site("primary")["main_db"]);
  ASSERT_TRUE(primary);
  ASSERT_TRUE(primary->Exec("CREATE TABLE replicate_probe (id int)").ok());
  // The primary's main database, as copied.
  auto probe = Connect(pg.Conninfo(db::ConninfoValue(Site("primary")["main_db"], "dbname")));
  ASSERT_TRUE(probe);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r = probe->Exec("SELECT to_regclass('replicate_probe') IS NOT NULL");
        return r.ok() && r->GetBool(0, 0);
      },
      30));
  standby.reset();
  probe.reset();
  ASSERT_TRUE(pg.Stop().ok());
  (void)primary->Exec("SELECT pg_drop_replication_slot('replicate_test')");

  // The same folder again: refused, naming it; nothing touched.
  auto again = RunGeorep(args);
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("already holds a PostgreSQL cluster"), std::string::npos)
      << again.output;
  // A primary that does not answer: exit 1, the folder left empty.
  args[7] = "1";
  args[13] = dir + "/other";
  auto down = RunGeorep(args);
  EXPECT_EQ(down.exit_code, 1) << down.output;
  EXPECT_NE(down.output.find("pg_basebackup from 127.0.0.1:1 failed"), std::string::npos)
      << down.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir + "/other"));
  test::RemoveTree(dir);
}

TEST_F(TopologyTest, EverySiteShowsTheFleetWithTheSecondarysLatestReport) {
  for (const char* asked : {"primary", "secondary-1"}) {
    nlohmann::json sites;
    // A report reaches the primary within monitor.report_interval_seconds,
    // and its replica a moment later.
    ASSERT_TRUE(test::WaitFor(
        [&] {
          auto r = topo_->Request(asked, "GET", "/api/v1/sites");
          sites = nlohmann::json::parse(r.body, nullptr, false);
          if (r.status != 200 || !sites.is_array() || sites.size() != 2) return false;
          for (const auto& s : sites) {
            if (s["name"] == "secondary-1") return s["status"].is_object();
          }
          return false;
        },
        60))
        << asked << ": " << sites.dump();
    for (const auto& s : sites) {
      EXPECT_EQ(s["current"].get<bool>(), s["name"] == asked) << s.dump();
      EXPECT_EQ(s["primary"].get<bool>(), s["name"] == "primary") << s.dump();
      if (s["name"] != "secondary-1") continue;
      const auto& status = s["status"];
      EXPECT_EQ(status["site"], "secondary-1");
      EXPECT_EQ(status["role"], "secondary");
      EXPECT_TRUE(status["replicables"].is_array() && !status["replicables"].empty());
      // (Whether the standby streamed or its database answered at the time
      // of the report depends on what the tests before did.)
      EXPECT_TRUE(status["database"].contains("replay_lsn")) << status.dump();
      EXPECT_LT(s["report_age_seconds"].get<double>(), 60);
    }
  }
  // A report signed with a key the primary does not know is refused.
  // (A 503 is possible while the primary's daemon reconnects to a database
  // the test before restarted.)
  transport::HttpResult forged;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        forged = topo_->Request("primary", "POST", "/geo/status", "{}",
                                {"Authorization: GL-Geo nosuchkey:abc.def.ghi"});
        return forged.status != 503;
      },
      30));
  EXPECT_EQ(forged.status, 401) << forged.body;
}

// Under systemd (Type=notify) the daemon says it is ready once it serves,
// and that it stops: what it sends to $NOTIFY_SOCKET, received here.
TEST_F(TopologyTest, TheDaemonTellsItsServiceManagerWhenItIsReadyAndWhenItStops) {
  const std::string dir = test::MakeTempDir("notify");
  const std::string path = dir + "/notify";
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval wait{.tv_sec = 60, .tv_usec = 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  auto receive = [&]() {
    char buf[4096];
    ssize_t n = recv(sock, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };

  // The demo's daemon of the secondary makes way for one started as
  // systemd would.
  int demo_pid = Site("secondary-1")["pid"];
  ASSERT_EQ(kill(demo_pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(demo_pid); }, 30));
  auto pid = SpawnDetached({"env", "NOTIFY_SOCKET=" + path, test::GeorepBinary(), "serve",
                            "--config", Site("secondary-1")["config"].get<std::string>()},
                           dir + "/serve.log");
  ASSERT_TRUE(pid.ok()) << pid.status();
  const std::string ready = receive();
  EXPECT_NE(ready.find("READY=1"), std::string::npos) << ready;
  EXPECT_NE(ready.find(absl::StrCat("MAINPID=", *pid)), std::string::npos) << ready;
  EXPECT_NE(ready.find("STATUS=serving site secondary-1"), std::string::npos) << ready;
  // Ready means serving: its health answers at once.
  auto health =
      transport::HttpRequest(Site("secondary-1")["url"].get<std::string>() + "/api/v1/health");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(health->status == 200 || health->status == 503) << health->status;
  ASSERT_EQ(kill(*pid, SIGTERM), 0);
  EXPECT_NE(receive().find("STOPPING=1"), std::string::npos);
  EXPECT_TRUE(test::WaitFor([&] { return !ProcessAlive(*pid); }, 30));
  close(sock);
  test::RemoveTree(dir);
  ASSERT_TRUE(topo_->Up({"--seed", "0"})) << "the demo's daemon is back";
}

}  // namespace
}  // namespace georep
