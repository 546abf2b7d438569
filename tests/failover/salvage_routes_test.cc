// The new primary's salvage routes against a real PostgreSQL: bytes sent
// back for an item recorded lost are checked against the application's
// digest, installed whole, and the record replaced by an `updated` event;
// anything else (no token, an item not recorded lost, wrong bytes, a
// different blob already there) is refused and changes nothing.
#include "failover/salvage_routes.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "db/migrations.h"
#include "framework/registry/lost_in_failover.h"
#include "framework/registry/primary_states.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "util/sha256.h"

namespace georep::failover {
namespace {

const char kToken[] = "salvage-admin-token-0123456789";

class SalvageRoutesTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    main_ = Connect();
    ASSERT_TRUE(db::Migrate(*main_, db::DatabaseKind::kMain).ok());
    ASSERT_TRUE(main_
                    ->ExecScript("CREATE SCHEMA t; CREATE TABLE t.files (id bigserial PRIMARY KEY, "
                                 "path text NOT NULL, sha text)")
                    .ok());
    spec_ = {"file", "File", Strategy::kBlob, "t.files", "id", "{path}", "test"};
    spec_.checksum_column = "sha";
    spec_.checksum_algorithm = "sha256";
    ASSERT_TRUE(framework::EnsureStateTable(*main_, spec_).ok());
    // Row 1 keeps a digest of "lost bytes", row 2 none, row 3 is not lost.
    ASSERT_TRUE(main_
                    ->Exec("INSERT INTO t.files (path, sha) VALUES ('a/1', $1), ('a/2', NULL), "
                           "('a/3', NULL)",
                           {Sha256Hex("lost bytes")})
                    .ok());
    ASSERT_TRUE(
        framework::RecordLost(*main_, {{"file", 1, "pending"}, {"file", 2, "failed"}}, "old", "new")
            .ok());
    storage_ = test::MakeTempDir("salvage");
    role_ =
        std::make_unique<site::LiveRole>(site::RoleState{.self = {.name = "new", .primary = true}});
    ctx_ = {.main_conninfo = conninfo_,
            .blobs = framework::LocalFiles(storage_),
            .specs = {spec_},
            .role = role_.get(),
            .admin = {.token = kToken, .reads = "token"}};
    AddSalvageRoutes(router_, ctx_);
  }
  void TearDown() override {
    test::RemoveTree(storage_);
    main_.reset();
    test::PgTest::TearDown();
  }
  api::HttpResponse Send(const std::string& method, const std::string& path,
                         const std::string& body = "", bool token = true) {
    api::HttpRequest req;
    req.method = method;
    req.path = req.target = path;
    req.body = body;
    req.remote_address = "192.0.2.7";
    if (token) req.headers["authorization"] = absl::StrCat("Bearer ", kToken);
    return router_.Handle(req);
  }
  int64_t Recorded() {
    auto r = main_->Exec("SELECT count(*) FROM georep.lost_in_failover");
    return r.ok() ? r->GetInt64(0, 0) : -1;
  }
  bool Exists(const std::string& rel) { return std::ifstream(storage_ + "/" + rel).good(); }

  std::unique_ptr<db::Connection> main_;
  ReplicableSpec spec_;
  std::string storage_;
  std::unique_ptr<site::LiveRole> role_;
  SalvageRouteContext ctx_;
  api::Router router_;
};

TEST_F(SalvageRoutesTest, ListsTheRecordsWithWhereEachBlobGoesAndItsDigest) {
  EXPECT_EQ(Send("GET", "/api/v1/lost", "", /*token=*/false).status, 401);
  auto r = Send("GET", "/api/v1/lost");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["items"][0]["path"], "a/1");
  EXPECT_EQ(j["items"][0]["app_checksum"], Sha256Hex("lost bytes"));
  EXPECT_TRUE(j["items"][1]["app_checksum"].is_null());
  EXPECT_EQ(j["failovers"][0]["total"], 2);
}

TEST_F(SalvageRoutesTest, BytesMatchingTheDigestAreInstalledAndTheRecordBecomesAnEvent) {
  auto wrong = Send("PUT", "/api/v1/lost/file/1", "other bytes");
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_FALSE(Exists("a/1"));
  EXPECT_EQ(Send("PUT", "/api/v1/lost/file/1", "lost bytes", /*token=*/false).status, 401);
  EXPECT_EQ(Send("PUT", "/api/v1/lost/file/3", "x").status, 404);   // not recorded lost
  EXPECT_EQ(Send("PUT", "/api/v1/lost/nope/1", "x").status, 404);   // no such replicable
  EXPECT_EQ(Send("PUT", "/api/v1/lost/file/-1", "x").status, 404);  // no such id
  EXPECT_EQ(Recorded(), 2);

  auto ok = Send("PUT", "/api/v1/lost/file/1", "lost bytes");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(nlohmann::json::parse(ok.body)["checked_against"], "the application's digest");
  std::ifstream in(storage_ + "/a/1");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, "lost bytes");
  EXPECT_EQ(Recorded(), 1);
  auto event = main_->Exec(
      "SELECT count(*) FROM georep.geo_events WHERE replicable_name = 'file' AND model_id = 1 "
      "AND event_name = 'updated'");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->GetInt64(0, 0), 1);
  // Sent twice: the record is gone, nothing is changed.
  EXPECT_EQ(Send("PUT", "/api/v1/lost/file/1", "lost bytes").status, 404);
}

TEST_F(SalvageRoutesTest, ADifferentBlobAlreadyThereIsKeptAndTheRecordCanBeDropped) {
  ASSERT_TRUE(framework::PutBlob(*ctx_.blobs, *ctx_.blobs->Locate("a/2"), "written since").ok());
  auto r = Send("PUT", "/api/v1/lost/file/2", "old bytes");
  EXPECT_EQ(r.status, 409) << r.body;
  std::ifstream in(storage_ + "/a/2");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, "written since");
  EXPECT_EQ(Recorded(), 2);
  EXPECT_EQ(Send("DELETE", "/api/v1/lost/file/2", "", /*token=*/false).status, 401);
  EXPECT_EQ(Send("DELETE", "/api/v1/lost/file/2").status, 200);
  EXPECT_EQ(Recorded(), 1);
  // Not the primary: nothing is answered.
  role_->Set(site::RoleState{.self = {.name = "new", .primary = false}});
  EXPECT_EQ(Send("GET", "/api/v1/lost").status, 404);
}

}  // namespace
}  // namespace georep::failover
