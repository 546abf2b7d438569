// follow and demote refuse what they cannot do before they change
// anything, with an error that names it: a fake new primary (a daemon that
// answers /api/v1/status) and a real PostgreSQL stand in for the sites.
#include "failover/follow.h"

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/http_server.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"

namespace georep::failover {
namespace {

// A daemon that says it is site `name` with role `role`.
class FakePeer {
 public:
  FakePeer(std::string name, std::string role)
      : server_(
            [this](const api::HttpRequest& r) {
              ++calls_;
              if (r.path != "/api/v1/status") return api::HttpResponse::Error(404, "NOT_FOUND", "");
              return api::HttpResponse::Json(
                  200, nlohmann::json{{"site", name_}, {"role", role_}}.dump());
            },
            1),
        name_(std::move(name)),
        role_(std::move(role)) {
    auto port = server_.Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    url_ = absl::StrCat("http://127.0.0.1:", port.value_or(0), "/");
    server_.Start();
  }
  const std::string& url() const { return url_; }
  int calls() const { return calls_; }

 private:
  api::HttpServer server_;
  std::string name_, role_, url_;
  std::atomic<int> calls_{0};
};

class FollowTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    config_.path = "/etc/georep/site.toml";
    config_.site_name = "b";
    config_.main_database = conninfo_;
    config_.tracking_database = conninfo_;
    dir_ = test::MakeTempDir("demote");
  }
  void TearDown() override {
    test::RemoveTree(dir_);
    test::PgTest::TearDown();
  }
  config::Config config_;
  std::string dir_;
};

TEST_F(FollowTest, FollowRefusesADatabaseThatIsNotAStandby) {
  FakePeer peer("a", "primary");
  auto out = Follow(config_, {.primary_url = peer.url()});
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "is not a standby")) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "georep demote")) << out.status();
}

TEST_F(FollowTest, DemoteNeedsATrackingDatabaseAndAnAbsoluteDataFolder) {
  FakePeer peer("a", "primary");
  config::Config no_tracking = config_;
  no_tracking.tracking_database = "";
  auto out = Demote(no_tracking, {.primary_url = peer.url()}, dir_);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status()));
  EXPECT_TRUE(absl::StrContains(out.status().message(), "database.tracking")) << out.status();
  out = Demote(config_, {.primary_url = peer.url()}, "pgdata");
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status()));
  EXPECT_TRUE(absl::StrContains(out.status().message(), "\"pgdata\"")) << out.status();
  EXPECT_EQ(peer.calls(), 0);  // refused before asking anyone
}

TEST_F(FollowTest, DemoteAsksTheNewPrimaryWhoItIs) {
  FakePeer secondary("a", "secondary");
  auto out = Demote(config_, {.primary_url = secondary.url()}, dir_);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(out.status())) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "is not the primary")) << out.status();
  EXPECT_EQ(secondary.calls(), 1);

  FakePeer itself("b", "primary");
  out = Demote(config_, {.primary_url = itself.url()}, dir_);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "is this site")) << out.status();

  FakePeer primary("a", "primary");
  out = Demote(config_, {.primary_url = primary.url(), .slot = "Bad-Slot"}, dir_);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << out.status();
  EXPECT_TRUE(absl::StrContains(out.status().message(), "--slot \"Bad-Slot\"")) << out.status();
}

}  // namespace
}  // namespace georep::failover
