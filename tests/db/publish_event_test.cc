// georep.publish_event: the SQL entry point any application language can call.
#include "db/migrations.h"
#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep::db {
namespace {

class PublishEventTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(Migrate(*conn_, DatabaseKind::kMain).ok());
  }
  int64_t Count(const char* table) {
    auto r = conn_->Exec(std::string("SELECT count(*) FROM ") + table);
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  std::unique_ptr<Connection> conn_;
};

TEST_F(PublishEventTest, WritesEventAndLogRowInTheCallersTransaction) {
  auto r =
      conn_->Exec("SELECT georep.publish_event('upload', 42, 'created', '{\"path\":\"a/b\"}')");
  ASSERT_TRUE(r.ok()) << r.status();
  auto row = conn_->Exec(
      "SELECT e.replicable_name, e.event_name, e.model_id, e.payload->>'path' FROM "
      "georep.geo_event_log l "
      "JOIN georep.geo_events e ON e.id = l.geo_event_id WHERE l.id = $1",
      {std::string(r->Get(0, 0))});
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_EQ(row->rows(), 1);
  EXPECT_EQ(row->Get(0, 0), "upload");
  EXPECT_EQ(row->Get(0, 1), "created");
  EXPECT_EQ(row->GetInt64(0, 2), 42);
  EXPECT_EQ(row->Get(0, 3), "a/b");

  // A rolled-back change leaves no event behind.
  ASSERT_TRUE(conn_->Exec("BEGIN").ok());
  ASSERT_TRUE(conn_->Exec("SELECT georep.publish_event('upload', 43, 'deleted')").ok());
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
  EXPECT_EQ(Count("georep.geo_events"), 1);
  EXPECT_EQ(Count("georep.geo_event_log"), 1);
}

TEST_F(PublishEventTest, RejectsBadInputAndWritesNothing) {
  for (const char* sql : {"SELECT georep.publish_event('upload', 1, 'exploded')",
                          "SELECT georep.publish_event('Bad Name', 1, 'created')",
                          "SELECT georep.publish_event(NULL, 1, 'created')",
                          "SELECT georep.publish_event('upload', NULL, 'created')"}) {
    auto r = conn_->Exec(sql);
    ASSERT_FALSE(r.ok()) << sql;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_NE(r.status().message().find("publish_event"), std::string::npos) << r.status();
  }
  EXPECT_EQ(Count("georep.geo_events"), 0);
}

}  // namespace
}  // namespace georep::db
