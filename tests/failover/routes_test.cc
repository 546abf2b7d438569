// The routes a planned promotion calls, against a real PostgreSQL and signed
// as the sites of geo_nodes would sign them: the primary's
// /geo/maintenance raises the database fence for the site that asks, only
// that site may lift it, and requests that are not a site's change nothing.
#include "failover/routes.h"

#include "absl/strings/str_cat.h"
#include "db/migrations.h"
#include "fleet/routes.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/role.h"
#include "site/sites.h"
#include "support/test_support.h"
#include "transport/geo_auth.h"
#include "util/clock.h"
#include "util/sha256.h"

namespace georep::failover {
namespace {

class FailoverRoutesTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(db::Migrate(*conn_, db::DatabaseKind::kMain).ok());
    for (const char* sql : {"DROP ROLE IF EXISTS routes_app", "CREATE ROLE routes_app LOGIN",
                            "CREATE TABLE public.orders (id bigserial PRIMARY KEY, note text)",
                            "GRANT ALL ON public.orders, public.orders_id_seq TO routes_app"}) {
      ASSERT_TRUE(conn_->Exec(sql).ok()) << sql;
    }
    auto p = site::AddSite(*conn_, {"p", "http://p.example", "", true});
    auto a = site::AddSite(*conn_, {"a", "http://a.example", "", false});
    auto b = site::AddSite(*conn_, {"b", "http://b.example", "", false});
    ASSERT_TRUE(p.ok() && a.ok() && b.ok());
    primary_ = *p;
    a_ = *a;
    b_ = *b;
    directory_ = std::make_unique<api::SiteDirectory>(conninfo_);
    role_ =
        std::make_unique<site::LiveRole>(site::RoleState{.self = primary_, .primary = primary_});
    ctx_ = {.main_conninfo = conninfo_, .sites = directory_.get(), .role = role_.get()};
    AddFailoverRoutes(router_, ctx_);
    fleet::AddStatusIntake(router_, ctx_);
  }
  void TearDown() override {
    if (conn_) {
      (void)site::LiftFence(*conn_);
      (void)conn_->Exec("DROP OWNED BY routes_app");
      (void)conn_->Exec("DROP ROLE IF EXISTS routes_app");
    }
    conn_.reset();
    test::PgTest::TearDown();
  }

  // POST /geo/maintenance as `from` would send it (no site: unsigned).
  api::HttpResponse Maintenance(const site::Site* from, bool enabled, const std::string& reason) {
    api::HttpRequest req;
    req.method = "POST";
    req.path = req.target = "/geo/maintenance";
    req.body = nlohmann::json{{"enabled", enabled}, {"reason", reason}}.dump();
    if (from != nullptr) {
      req.headers["authorization"] = transport::MakeGeoAuthorization(
          from->access_key, from->secret_access_key,
          transport::MaintenanceRequestData(enabled, reason), static_cast<int64_t>(WallSeconds()));
    }
    return router_.Handle(req);
  }

  // Whether the application's role can commit a row now.
  bool AppCanWrite() {
    auto app =
        db::Connection::Open(absl::StrCat(conninfo_, " user=routes_app application_name=shop"),
                             /*under_fence=*/true);
    if (!app.ok()) return false;
    return (*app)->Exec("INSERT INTO public.orders (note) VALUES ('x')").ok();
  }

  std::unique_ptr<db::Connection> conn_;
  site::Site primary_, a_, b_;
  std::unique_ptr<api::SiteDirectory> directory_;
  std::unique_ptr<site::LiveRole> role_;
  api::GeoRouteContext ctx_;
  api::Router router_;
};

TEST_F(FailoverRoutesTest, MaintenanceFencesForTheAskingSiteAndOnlyItMayLiftIt) {
  ASSERT_TRUE(AppCanWrite());
  auto on = Maintenance(&a_, true, "promotion of a");
  ASSERT_EQ(on.status, 200) << on.body;
  auto j = nlohmann::json::parse(on.body);
  EXPECT_TRUE(j["maintenance"].get<bool>());
  EXPECT_FALSE(j["current_lsn"].get<std::string>().empty());
  EXPECT_EQ(j["fence"]["roles_fenced"], nlohmann::json::array({"routes_app"})) << on.body;
  EXPECT_TRUE(role_->Get().maintenance);
  EXPECT_FALSE(role_->BeginWrite().ok());
  EXPECT_FALSE(AppCanWrite());
  auto fence = site::ReadFence(*conn_);
  ASSERT_TRUE(fence.ok() && fence->has_value());
  EXPECT_EQ((*fence)->raised_by, "a");

  // Another secondary may not lift it: its promotion is not this one.
  auto off_b = Maintenance(&b_, false, "promotion of a");
  EXPECT_EQ(off_b.status, 403) << off_b.body;
  EXPECT_FALSE(AppCanWrite());
  EXPECT_TRUE(role_->Get().maintenance);

  // The site whose promotion is abandoned lifts it, and writes come back.
  auto off_a = Maintenance(&a_, false, "promotion of a");
  ASSERT_EQ(off_a.status, 200) << off_a.body;
  EXPECT_FALSE(role_->Get().maintenance);
  EXPECT_TRUE(AppCanWrite());
  fence = site::ReadFence(*conn_);
  ASSERT_TRUE(fence.ok());
  EXPECT_FALSE(fence->has_value());
}

TEST_F(FailoverRoutesTest, RequestsThatAreNotASitesChangeNothing) {
  // Disabled before the directory is first read (it keeps sites a few seconds).
  ASSERT_TRUE(site::SetSiteEnabled(*conn_, "b", false).ok());
  EXPECT_EQ(Maintenance(nullptr, true, "x").status, 401);
  site::Site forged = a_;
  forged.secret_access_key = std::string(forged.secret_access_key.size(), 'f');
  EXPECT_EQ(Maintenance(&forged, true, "x").status, 401);
  // A token for another body: a captured "off" cannot be replayed as "on".
  api::HttpRequest req;
  req.method = "POST";
  req.path = req.target = "/geo/maintenance";
  req.body = R"({"enabled": true, "reason": "x"})";
  req.headers["authorization"] = transport::MakeGeoAuthorization(
      a_.access_key, a_.secret_access_key, transport::MaintenanceRequestData(false, "x"),
      static_cast<int64_t>(WallSeconds()));
  EXPECT_EQ(router_.Handle(req).status, 403);
  req.body = "not json";
  EXPECT_EQ(router_.Handle(req).status, 400);
  // A disabled site is refused, and so is the primary's own key.
  EXPECT_EQ(Maintenance(&b_, true, "x").status, 403);
  EXPECT_EQ(Maintenance(&primary_, true, "x").status, 403);

  EXPECT_FALSE(role_->Get().maintenance);
  EXPECT_TRUE(AppCanWrite());
  auto fence = site::ReadFence(*conn_);
  ASSERT_TRUE(fence.ok());
  EXPECT_FALSE(fence->has_value());
}

TEST_F(FailoverRoutesTest, EachRouteAnswersOnlyOnItsRole) {
  api::HttpRequest handover;
  handover.method = "POST";
  handover.path = handover.target = "/geo/handover";
  handover.body = R"({"action": "detach", "new_primary": "a"})";
  EXPECT_EQ(router_.Handle(handover).status, 404);  // the primary has no upstream
  role_->Set(site::RoleState{.self = a_, .primary = primary_, .standby = true});
  EXPECT_EQ(Maintenance(&b_, true, "x").status, 404);
  EXPECT_TRUE(AppCanWrite());
}

// The primary's intake of status reports (fleet/routes.h), signed as a
// secondary would: what pruning reads is refused unless a whole number.
TEST_F(FailoverRoutesTest, AStatusReportIsCheckedAsStrictlyAsARequest) {
  auto send = [&](const std::string& body) {
    api::HttpRequest req;
    req.method = "POST";
    req.path = req.target = "/geo/status";
    req.body = body;
    req.headers["authorization"] = transport::MakeGeoAuthorization(
        a_.access_key, a_.secret_access_key, transport::StatusReportRequestData(Sha256Hex(body)),
        static_cast<int64_t>(WallSeconds()));
    return router_.Handle(req);
  };
  for (const char* bad : {R"({"cursor": {"oldest_needed_event_id": 1.5}})",
                          R"({"cursor": {"oldest_needed_event_id": -1}})",
                          R"({"cursor": {"oldest_needed_event_id": "7"}})", R"({"cursor": 7})"}) {
    auto r = send(bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
  }
  auto stored = conn_->Exec("SELECT count(*) FROM georep.site_reports");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->GetInt64(0, 0), 0);
  EXPECT_EQ(send(R"({"cursor": {"oldest_needed_event_id": 12}})").status, 200);
  EXPECT_EQ(send(R"({"cursor": {"oldest_needed_event_id": null}})").status, 200);
}

}  // namespace
}  // namespace georep::failover
