// The database fence, as an application that writes PostgreSQL itself
// sees it: writers under a role of their own commit straight into the
// primary's main database while `georep promote` runs. Every commit the
// old primary acknowledged is on the new primary and on the follower; the
// old primary refuses commits from the promotion on, also after its
// PostgreSQL restarts; `check` on it names the new primary.
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/geo_auth.h"
#include "util/clock.h"

namespace georep {
namespace {

nlohmann::json JsonOf(const std::string& output) {
  // Progress lines go to stderr, which RunGeorep merges: the JSON is last.
  size_t at = output.find("\n{");
  at = output.starts_with("{") ? 0 : (at == std::string::npos ? at : at + 1);
  if (at == std::string::npos) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(output.substr(at), nullptr, false);
}

constexpr const char* kRole = "shop_app";

// The application's own role and table on the primary (replicated).
void MakeApplication(const test::Topology& topo) {
  auto main = topo.MainDb("primary");
  ASSERT_TRUE(main);
  for (const char* sql : {"CREATE ROLE shop_app LOGIN",
                          "CREATE TABLE public.orders (id bigserial PRIMARY KEY, writer int NOT "
                          "NULL, seq int NOT NULL, UNIQUE (writer, seq))",
                          "GRANT ALL ON public.orders, public.orders_id_seq TO shop_app"}) {
    ASSERT_TRUE(main->Exec(sql).ok()) << sql;
  }
}

// A session as the application opens one: its role, its name, no opt-out
// of a read-only default.
absl::StatusOr<std::unique_ptr<db::Connection>> AppSession(const test::Topology& topo,
                                                           const std::string& site,
                                                           const std::string& name) {
  return db::Connection::Open(absl::StrCat(topo.Site(site)["main_db"].get<std::string>(), " user=",
                                           kRole, " application_name=", name, " connect_timeout=3"),
                              /*under_fence=*/true);
}

// A client that is not the application and not Georep (an operator's psql
// as the superuser): opens a session as any client gets one.
absl::StatusOr<std::unique_ptr<db::Connection>> OtherClient(const test::Topology& topo,
                                                            const std::string& site) {
  return db::Connection::Open(
      absl::StrCat(topo.Site(site)["main_db"].get<std::string>(), " application_name=psql"),
      /*under_fence=*/true);
}

// One commit into public.orders on the old primary, as `how` connects.
absl::Status CommitOne(absl::StatusOr<std::unique_ptr<db::Connection>> session) {
  if (!session.ok()) return session.status();
  return (*session)->Exec("INSERT INTO public.orders (writer, seq) VALUES (99, 1)").status();
}

// Writers that commit to the primary's database themselves, each holding
// its session open and reconnecting when it is ended. Writer 0 asks for a
// read-write transaction explicitly each time.
class Writers {
 public:
  Writers(const test::Topology& topo, int n) {
    for (int w = 0; w < n; ++w) threads_.emplace_back([this, &topo, w] { Run(topo, w); });
  }
  ~Writers() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Commits acknowledged: (writer, seq).
  std::set<std::pair<int, int>> Acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  int64_t AckedBy(int w) {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n = 0;
    for (const auto& [writer, seq] : acked_) n += writer == w ? 1 : 0;
    return n;
  }
  void MarkPromoted() {
    std::lock_guard<std::mutex> lock(mu_);
    promoted_ = true;
  }
  int64_t AttemptsAfterPromotion(int w) {
    std::lock_guard<std::mutex> lock(mu_);
    return attempts_after_[w];
  }
  int64_t AckedAfterPromotion() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_after_;
  }
  std::string LastError() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }

 private:
  void Run(const test::Topology& topo, int w) {
    std::unique_ptr<db::Connection> session;
    for (int seq = 1; !stop_; ++seq) {
      bool after = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        after = promoted_;
        if (after) ++attempts_after_[w];
      }
      absl::Status s;
      if (!session) {
        auto opened = AppSession(topo, "primary", absl::StrCat("shop-writer-", w));
        if (opened.ok()) session = std::move(*opened);
        s = opened.status();
      }
      if (session) {
        std::string insert =
            absl::StrCat("INSERT INTO public.orders (writer, seq) VALUES (", w, ", ", seq, ")");
        if (w == 0) {
          s = session->Exec("BEGIN READ WRITE").status();
          if (s.ok()) s = session->Exec(insert).status();
          if (s.ok()) s = session->Exec("COMMIT").status();
          if (!s.ok()) (void)session->Exec("ROLLBACK");
        } else {
          s = session->Exec(insert).status();
        }
        if (!s.ok()) session.reset();  // reconnect, as a pool would
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (s.ok()) {
          acked_.insert({w, seq});
          if (after) ++acked_after_;
        } else {
          last_error_ = std::string(s.message());
        }
      }
      if (!s.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::pair<int, int>> acked_;
  bool promoted_ = false;
  std::map<int, int64_t> attempts_after_;
  int64_t acked_after_ = 0;
  std::string last_error_;
  std::vector<std::thread> threads_;
};

// The (writer, seq) pairs in a site's public.orders.
std::set<std::pair<int, int>> Present(const test::Topology& topo, const std::string& site) {
  std::set<std::pair<int, int>> out;
  auto db = topo.MainDb(site);
  if (!db) return out;
  auto r = db->Exec("SELECT writer, seq FROM public.orders");
  if (!r.ok()) return out;
  for (int i = 0; i < r->rows(); ++i) {
    out.insert({static_cast<int>(r->GetInt64(i, 0)), static_cast<int>(r->GetInt64(i, 1))});
  }
  return out;
}

int64_t Missing(const std::set<std::pair<int, int>>& acked,
                const std::set<std::pair<int, int>>& present) {
  int64_t n = 0;
  for (const auto& a : acked) n += present.count(a) ? 0 : 1;
  return n;
}

cluster::PgCluster MainCluster(const test::Topology& topo, const std::string& site) {
  for (const auto& c : topo.Site(site)["clusters"]) {
    if (c["role"] == "main") {
      return cluster::PgCluster(
          {c["data_dir"].get<std::string>(), c["port"].get<int>(), c["log"].get<std::string>()});
    }
  }
  ADD_FAILURE() << "no main cluster for " << site;
  return cluster::PgCluster({});
}

// The check named `name` in `georep check --json` of `site`.
nlohmann::json CheckNamed(const test::Topology& topo, const std::string& site,
                          const std::string& name) {
  auto check = test::RunGeorep({"check", "--config", topo.Config(site), "--json"});
  auto j = JsonOf(check.output);
  if (j.is_object()) {
    for (const auto& c : j["checks"]) {
      if (c["check"] == name) return c;
    }
  }
  ADD_FAILURE() << "no check " << name << " in " << check.output;
  return nlohmann::json::object();
}

// The old primary refuses a commit both ways: the application cannot
// connect, and what can connect is read-only.
void ExpectFenced(const test::Topology& topo, const std::string& site) {
  auto app = CommitOne(AppSession(topo, site, "shop-late"));
  EXPECT_FALSE(app.ok());
  EXPECT_TRUE(absl::StrContains(app.message(), "too many connections for role \"shop_app\""))
      << app;
  auto other = CommitOne(OtherClient(topo, site));
  EXPECT_FALSE(other.ok());
  EXPECT_TRUE(
      absl::StrContains(other.message(), "cannot execute INSERT in a read-only transaction"))
      << other;
}

TEST(FenceTest, APlannedPromotionKeepsEveryCommitOfAnApplicationWritingPostgresItself) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  MakeApplication(topo);

  Writers writers(topo, 3);
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return writers.AckedBy(0) >= 100 && writers.AckedBy(1) >= 100 && writers.AckedBy(2) >= 100;
      },
      120))
      << writers.LastError();

  auto promote = test::RunGeorep(
      {"promote", "--config", topo.Config("secondary-1"), "--timeout", "240", "--json"});
  writers.MarkPromoted();
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  nlohmann::json outcome = JsonOf(promote.output);
  ASSERT_TRUE(outcome.is_object()) << promote.output;
  EXPECT_FALSE(outcome["would_lose_data"].get<bool>()) << promote.output;
  EXPECT_TRUE(outcome["old_primary_fence"]["fenced"].get<bool>()) << promote.output;
  // Each writer keeps trying after the promotion returned.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return writers.AttemptsAfterPromotion(0) >= 5 && writers.AttemptsAfterPromotion(1) >= 5 &&
               writers.AttemptsAfterPromotion(2) >= 5;
      },
      60));
  writers.Stop();
  auto acked = writers.Acked();
  auto on_new = Present(topo, "secondary-1");
  std::printf(
      "direct-SQL writers: %zu commits acknowledged by the old primary, %lld of them missing on "
      "the new primary, %lld acknowledged after promote returned; last refusal: %s\n",
      acked.size(), static_cast<long long>(Missing(acked, on_new)),
      static_cast<long long>(writers.AckedAfterPromotion()), writers.LastError().c_str());
  EXPECT_EQ(Missing(acked, on_new), 0) << "acknowledged commits lost by the promotion";
  EXPECT_EQ(writers.AckedAfterPromotion(), 0) << "the old primary still took commits";

  // The old primary's database refuses, shows the fence, and check names
  // the new primary.
  ExpectFenced(topo, "primary");
  auto fence = topo.Status("primary")["fence"];
  ASSERT_TRUE(fence.is_object()) << topo.Status("primary").dump();
  EXPECT_EQ(fence["raised_by"], "secondary-1");
  EXPECT_EQ(CheckNamed(topo, "primary", "database fence")["ok"], false);
  auto only = CheckNamed(topo, "primary", "only primary");
  EXPECT_EQ(only["ok"], false);
  EXPECT_TRUE(absl::StrContains(only.value("detail", ""), "secondary-1")) << only.dump();
  auto lift =
      test::RunGeorep({"maintenance", "off", "--database", "--config", topo.Config("primary")});
  EXPECT_EQ(lift.exit_code, 1) << lift.output;
  EXPECT_TRUE(absl::StrContains(lift.output, "secondary-1 at")) << lift.output;
  ExpectFenced(topo, "primary");

  // The new primary takes the application's commits.
  EXPECT_TRUE(CommitOne(AppSession(topo, "secondary-1", "shop-new")).ok());
  EXPECT_TRUE(topo.Status("secondary-1")["fence"].is_null());

  // The follower ends with every acknowledged commit.
  const auto& standby = topo.Site("secondary-1")["clusters"][0];
  auto follow = test::RunGeorep({"follow", "--config", topo.Config("secondary-2"), "--primary",
                                 topo.Url("secondary-1"), "--primary-port",
                                 absl::StrCat(standby["port"].get<int>())});
  ASSERT_EQ(follow.exit_code, 0) << follow.output;
  EXPECT_TRUE(test::WaitFor([&] { return Missing(acked, Present(topo, "secondary-2")) == 0; }, 60))
      << Missing(acked, Present(topo, "secondary-2")) << " acknowledged commits missing";

  // The fence holds across a restart of the old primary's PostgreSQL.
  cluster::PgCluster old = MainCluster(topo, "primary");
  ASSERT_TRUE(old.Stop().ok());
  ASSERT_TRUE(old.Start().ok());
  ExpectFenced(topo, "primary");
}

// A promotion that cannot finish lifts the fence it raised; an operator's
// fence comes and goes with `maintenance on|off --database`; a forced
// promotion fences an old primary whose daemon is dead but whose database
// is up.
TEST(FenceTest, TheFenceComesDownWhenNoPromotionHappenedAndGoesUpOnAForcedOne) {
  test::Topology topo({"--seed", "0", "--secondaries", "1"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  MakeApplication(topo);
  ASSERT_TRUE(CommitOne(AppSession(topo, "primary", "shop")).ok());

  auto on =
      test::RunGeorep({"maintenance", "on", "--database", "--config", topo.Config("primary")});
  ASSERT_EQ(on.exit_code, 0) << on.output;
  ExpectFenced(topo, "primary");
  // A secondary may not lift a fence it did not raise (it may be a fence
  // kept for another site's promotion).
  auto config = config::LoadConfig(topo.Config("secondary-1"));
  ASSERT_TRUE(config.ok()) << config.status();
  std::string auth = transport::MakeGeoAuthorization(config->access_key, config->secret_access_key,
                                                     transport::MaintenanceRequestData(false, ""),
                                                     static_cast<int64_t>(WallSeconds()));
  auto bystander = topo.Request("primary", "POST", "/geo/maintenance",
                                R"({"enabled": false, "reason": ""})", {"Authorization: " + auth});
  EXPECT_EQ(bystander.status, 403) << bystander.body;
  ExpectFenced(topo, "primary");
  auto plain_off = test::RunGeorep({"maintenance", "off", "--config", topo.Config("primary")});
  EXPECT_EQ(plain_off.exit_code, 1) << plain_off.output;
  EXPECT_TRUE(absl::StrContains(plain_off.output, "--database")) << plain_off.output;
  auto off =
      test::RunGeorep({"maintenance", "off", "--database", "--config", topo.Config("primary")});
  ASSERT_EQ(off.exit_code, 0) << off.output;
  auto app = AppSession(topo, "primary", "shop");
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_TRUE((*app)->Exec("INSERT INTO public.orders (writer, seq) VALUES (98, 1)").ok());
  // Its daemon reads the lifted fence at its next look at its role.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        nlohmann::json st = topo.Status("primary");
        return st.is_object() && st["fence"].is_null() && !st.value("maintenance", true);
      },
      30))
      << topo.Status("primary").dump();

  // A planned promotion that times out: the secondary's daemon is stopped,
  // so a new blob is never synced.
  int secondary_pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(secondary_pid, SIGSTOP), 0);
  auto blob = topo.Post("primary", "/api/v1/sample/upload", "unsynced");
  ASSERT_EQ(blob.status, 201) << blob.body;
  auto timed_out =
      test::RunGeorep({"promote", "--config", topo.Config("secondary-1"), "--timeout", "3"});
  kill(secondary_pid, SIGCONT);
  EXPECT_EQ(timed_out.exit_code, 1) << timed_out.output;
  EXPECT_TRUE(absl::StrContains(timed_out.output, "fence lifted")) << timed_out.output;
  auto again = AppSession(topo, "primary", "shop");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->Exec("INSERT INTO public.orders (writer, seq) VALUES (98, 2)").ok());
  EXPECT_TRUE(topo.Status("primary")["fence"].is_null());

  // Forced, with the old primary's daemon gone and its database up.
  ASSERT_TRUE(test::WaitFor([&] { return topo.Count("secondary-1", "upload", "synced") > 0; }, 60));
  int primary_pid = topo.Pid("primary");
  ASSERT_EQ(kill(primary_pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(primary_pid, 0) != 0; }, 30));
  auto forced = test::RunGeorep(
      {"promote", "--config", topo.Config("secondary-1"), "--force", "--yes", "--json"});
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  auto outcome = JsonOf(forced.output);
  ASSERT_TRUE(outcome.is_object()) << forced.output;
  EXPECT_TRUE(outcome["old_primary_fence"]["fenced"].get<bool>()) << forced.output;
  EXPECT_EQ(outcome["old_primary_fence"]["how"], "directly, at its database") << forced.output;
  ExpectFenced(topo, "primary");
  auto only = CheckNamed(topo, "primary", "only primary");
  EXPECT_EQ(only["ok"], false);
  EXPECT_TRUE(absl::StrContains(only.value("detail", ""), "secondary-1")) << only.dump();
}

}  // namespace
}  // namespace georep
