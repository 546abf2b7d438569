#include "db/migrations.h"

#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep::db {
namespace {

class MigrationsTest : public test::PgTest {};

TEST_F(MigrationsTest, MainMigrationsApplyOnceAndAreIdempotent) {
  auto conn = Connect();
  auto first = Migrate(*conn, DatabaseKind::kMain);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, LatestVersion(DatabaseKind::kMain));
  auto second = Migrate(*conn, DatabaseKind::kMain);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  EXPECT_TRUE(CheckSchema(*conn, DatabaseKind::kMain).ok());
  for (const char* table : {"georep.geo_nodes", "georep.geo_events", "georep.geo_event_log"}) {
    auto r = conn->Exec("SELECT to_regclass($1) IS NOT NULL", {std::string(table)});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->GetBool(0, 0)) << table;
  }
}

TEST_F(MigrationsTest, TrackingMigrationsCreateCursorGapsAndLeases) {
  auto conn = Connect();
  ASSERT_TRUE(Migrate(*conn, DatabaseKind::kTracking).ok());
  for (const char* table : {"georep.event_cursor", "georep.event_gaps", "georep.leases"}) {
    auto r = conn->Exec("SELECT to_regclass($1) IS NOT NULL", {std::string(table)});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->GetBool(0, 0)) << table;
  }
}

TEST_F(MigrationsTest, WrongKindOfDatabaseIsRefusedByName) {
  auto conn = Connect();
  ASSERT_TRUE(Migrate(*conn, DatabaseKind::kTracking).ok());
  auto wrong = Migrate(*conn, DatabaseKind::kMain);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("is a Georep tracking database, not a main database"),
            std::string::npos)
      << wrong.status();
  EXPECT_NE(wrong.status().message().find(dbname_), std::string::npos) << wrong.status();
  // Nothing of the main schema was created.
  auto r = conn->Exec("SELECT to_regclass('georep.geo_nodes') IS NULL");
  EXPECT_TRUE(r->GetBool(0, 0));
  EXPECT_FALSE(CheckSchema(*conn, DatabaseKind::kMain).ok());
}

TEST_F(MigrationsTest, UnmigratedDatabaseFailsTheSchemaCheck) {
  auto conn = Connect();
  absl::Status s = CheckSchema(*conn, DatabaseKind::kMain);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("georep db migrate"), std::string::npos) << s;
}

}  // namespace
}  // namespace georep::db
