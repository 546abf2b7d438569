// The database fence against a real PostgreSQL: an application role with
// an open session and an open transaction is stopped, cannot come back,
// and whatever can still connect starts read-only; lifting restores what
// the roles and databases had.
#include "site/fence.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "db/migrations.h"
#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep::site {
namespace {

class FenceTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(db::Migrate(*conn_, db::DatabaseKind::kMain).ok());
    // Roles are the cluster's: made afresh for each test.
    for (const char* sql : {"DROP ROLE IF EXISTS fence_app", "DROP ROLE IF EXISTS fence_limited",
                            "DROP ROLE IF EXISTS fence_replicator", "CREATE ROLE fence_app LOGIN",
                            "CREATE ROLE fence_limited LOGIN CONNECTION LIMIT 7",
                            "CREATE ROLE fence_replicator LOGIN REPLICATION",
                            "CREATE TABLE public.orders (id bigserial PRIMARY KEY, note text)",
                            "GRANT ALL ON public.orders, public.orders_id_seq TO fence_app"}) {
      ASSERT_TRUE(conn_->Exec(sql).ok()) << sql;
    }
  }
  void TearDown() override {
    if (conn_) {
      (void)LiftFence(*conn_);
      (void)conn_->Exec(
          "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
          "WHERE usename IN ('fence_app', 'fence_limited')");
      (void)conn_->Exec("DROP OWNED BY fence_app");
      (void)conn_->Exec("DROP ROLE IF EXISTS fence_app");
      (void)conn_->Exec("DROP ROLE IF EXISTS fence_limited");
      (void)conn_->Exec("DROP ROLE IF EXISTS fence_replicator");
    }
    conn_.reset();
    test::PgTest::TearDown();
  }
  // A session as the application has it: its own role, its own name, no
  // opt-out of the read-only default.
  absl::StatusOr<std::unique_ptr<db::Connection>> App(const std::string& role = "fence_app") {
    return db::Connection::Open(absl::StrCat(conninfo_, " user=", role, " application_name=shop"),
                                /*under_fence=*/true);
  }
  int64_t Limit(const std::string& role) {
    auto r = conn_->Exec("SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", {role});
    return r.ok() && r->rows() == 1 ? r->GetInt64(0, 0) : -99;
  }
  std::unique_ptr<db::Connection> conn_;
};

TEST_F(FenceTest, AnApplicationSessionMidTransactionIsEndedAndCannotComeBack) {
  auto app = App();
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_TRUE((*app)->Exec("BEGIN READ WRITE").ok());
  ASSERT_TRUE((*app)->Exec("INSERT INTO public.orders (note) VALUES ('in flight')").ok());

  auto fenced = RaiseFence(conninfo_, "planned promotion of site b", "b");
  ASSERT_TRUE(fenced.ok()) << fenced.status();
  EXPECT_FALSE(fenced->already_up);
  EXPECT_GE(fenced->sessions_ended, 1);
  EXPECT_NE(std::find(fenced->roles_fenced.begin(), fenced->roles_fenced.end(), "fence_app"),
            fenced->roles_fenced.end());

  // Its open transaction never commits.
  auto commit = (*app)->Exec("COMMIT");
  EXPECT_FALSE(commit.ok());
  auto rows = conn_->Exec("SELECT count(*) FROM public.orders");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->GetInt64(0, 0), 0);
  // It cannot come back, not even asking for a read-write transaction.
  auto again = App();
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::StrContains(again.status().message(), "too many connections for role"))
      << again.status();
  // What can still connect (a superuser) starts read-only.
  auto super = db::Connection::Open(conninfo_, /*under_fence=*/true);
  ASSERT_TRUE(super.ok());
  auto write = (*super)->Exec("INSERT INTO public.orders (note) VALUES ('superuser')");
  ASSERT_FALSE(write.ok());
  EXPECT_TRUE(absl::StrContains(write.status().message(), "read-only transaction"))
      << write.status();

  auto up = ReadFence(*conn_);
  ASSERT_TRUE(up.ok() && up->has_value());
  EXPECT_EQ((*up)->reason, "planned promotion of site b");
  EXPECT_EQ((*up)->raised_by, "b");
  // Raised again (a promotion asks every few hundred ms): still up, and the
  // originals recorded the first time are kept.
  auto twice = RaiseFence(conninfo_, "planned promotion of site b", "b");
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_TRUE(twice->already_up);
  EXPECT_EQ(Limit("fence_limited"), 0);
  // A replication role that no standby streams with now is an
  // application's like any other (it could connect and write).
  EXPECT_EQ(Limit("fence_replicator"), 0);
}

TEST_F(FenceTest, LiftingRestoresEachRoleAndDatabaseAsItWas) {
  ASSERT_TRUE(conn_
                  ->Exec(absl::StrCat("ALTER DATABASE ", db::QuoteIdent(dbname_),
                                      " SET default_transaction_read_only = no"))
                  .ok());
  ASSERT_TRUE(RaiseFence(conninfo_, "maintenance", "operator").ok());
  EXPECT_EQ(Limit("fence_app"), 0);
  EXPECT_EQ(Limit("fence_limited"), 0);
  auto lifted = LiftFence(*conn_);
  ASSERT_TRUE(lifted.ok()) << lifted.status();
  EXPECT_TRUE(*lifted);
  EXPECT_EQ(Limit("fence_app"), -1);
  EXPECT_EQ(Limit("fence_limited"), 7);
  auto setting = conn_->Exec(
      "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, "
      "unnest(s.setconfig) c WHERE d.datname = $1 AND s.setrole = 0",
      {dbname_});
  ASSERT_TRUE(setting.ok());
  ASSERT_EQ(setting->rows(), 1);
  EXPECT_EQ(setting->Get(0, 0), "default_transaction_read_only=no")
      << "the database's own setting, as it was written";
  // The application writes again.
  auto app = App();
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_TRUE((*app)->Exec("INSERT INTO public.orders (note) VALUES ('after')").ok());
  auto none = ReadFence(*conn_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto again = LiftFence(*conn_);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST_F(FenceTest, ARoleThatCannotFenceLeavesTheDatabaseAsItFoundIt) {
  ASSERT_TRUE(conn_->Exec("ALTER ROLE fence_limited CREATEROLE").ok());
  ASSERT_TRUE(conn_->Exec("GRANT ALL ON SCHEMA georep TO fence_limited").ok());
  ASSERT_TRUE(conn_->Exec("GRANT ALL ON ALL TABLES IN SCHEMA georep TO fence_limited").ok());
  auto fenced = RaiseFence(absl::StrCat(conninfo_, " user=fence_limited"), "promotion", "b");
  ASSERT_FALSE(fenced.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(fenced.status())) << fenced.status();
  auto up = ReadFence(*conn_);
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(up->has_value());
  EXPECT_EQ(Limit("fence_app"), -1);
  auto app = App();
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_TRUE((*app)->Exec("INSERT INTO public.orders (note) VALUES ('still open')").ok());
}

TEST_F(FenceTest, AStandbyOrAMissingDatabaseIsAClearError) {
  auto none = RaiseFence(absl::StrCat(conninfo_, " port=1"), "promotion", "b");
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::IsUnavailable(none.status())) << none.status();
}

}  // namespace
}  // namespace georep::site
