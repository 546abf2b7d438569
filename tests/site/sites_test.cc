#include "site/sites.h"

#include "absl/strings/match.h"
#include "db/migrations.h"
#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep::site {
namespace {

class SitesTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    conn_ = Connect();
    ASSERT_TRUE(db::Migrate(*conn_, db::DatabaseKind::kMain).ok());
  }
  std::unique_ptr<db::Connection> conn_;
};

TEST_F(SitesTest, AddGivesFreshKeysAndListHidesSecrets) {
  auto p = AddSite(*conn_, {"primary", "http://p.example:8080", "", true});
  ASSERT_TRUE(p.ok()) << p.status();
  auto s = AddSite(*conn_, {"secondary-1", "https://s.example", "http://10.0.0.2:8080", false});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->secret_access_key.size(), 64u);
  EXPECT_EQ(s->access_key.size(), 20u);
  EXPECT_NE(p->access_key, s->access_key);
  EXPECT_NE(p->secret_access_key, s->secret_access_key);
  EXPECT_EQ(s->InternalUrl(), "http://10.0.0.2:8080");

  auto list = ListSites(*conn_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "primary");
  EXPECT_TRUE((*list)[0].primary);
  EXPECT_TRUE((*list)[1].secret_access_key.empty());

  auto found = FindSite(*conn_, "secondary-1", /*with_secret=*/true);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->secret_access_key, s->secret_access_key);
}

TEST_F(SitesTest, RefusesDuplicatesSecondPrimaryAndBadInput) {
  ASSERT_TRUE(AddSite(*conn_, {"primary", "http://p", "", true}).ok());
  EXPECT_EQ(AddSite(*conn_, {"primary", "http://q", "", false}).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto second = AddSite(*conn_, {"other", "http://o", "", true});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find("\"primary\" is already the primary"),
            std::string::npos);
  EXPECT_EQ(AddSite(*conn_, {"bad name", "http://x", "", false}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddSite(*conn_, {"../etc", "http://x", "", false}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto url = AddSite(*conn_, {"s", "ftp://x", "", false});
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(url.status().message().find("ftp://x"), std::string::npos);
  EXPECT_EQ(ListSites(*conn_)->size(), 1u);
}

// Selective sync is set as a whole, read back as set, and refused (naming
// the bad entry) when it lists nothing, lists the wrong kind, names a path
// that is not one, or is asked of the primary.
TEST_F(SitesTest, SelectiveSyncIsStoredAsGivenAndBadSelectionsAreRefused) {
  ASSERT_TRUE(AddSite(*conn_, {"p", "http://p.example", "", true}).ok());
  ASSERT_TRUE(AddSite(*conn_, {"s1", "http://s1.example", "", false}).ok());
  auto fresh = FindSite(*conn_, "s1");
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->selective_sync.active());

  SelectiveSync ns{SelectiveSync::Kind::kNamespaces, {"group", "other/sub-group.x"}, {}};
  auto set = UpdateSite(*conn_, "s1", {.selective_sync = ns});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->selective_sync, ns);
  EXPECT_EQ(FindSite(*conn_, "s1")->selective_sync, ns);
  EXPECT_EQ(set->files_max_capacity, 10) << "other settings stay";

  SelectiveSync shards{SelectiveSync::Kind::kShards, {}, {"default", "ssd"}};
  ASSERT_TRUE(UpdateSite(*conn_, "s1", {.selective_sync = shards}).ok());
  EXPECT_EQ(FindSite(*conn_, "s1")->selective_sync, shards);

  for (const auto& [bad, names] : std::vector<std::pair<SelectiveSync, std::string>>{
           {{SelectiveSync::Kind::kNamespaces, {}, {}}, "at least one namespace"},
           {{SelectiveSync::Kind::kNamespaces, {"a", "/abs"}, {}}, "\"/abs\""},
           {{SelectiveSync::Kind::kNamespaces, {"a/../b"}, {}}, "\"a/../b\""},
           {{SelectiveSync::Kind::kNamespaces, {"a//b"}, {}}, "\"a//b\""},
           {{SelectiveSync::Kind::kNamespaces, {"it's"}, {}}, "\"it's\""},
           {{SelectiveSync::Kind::kShards, {"a"}, {"x"}}, "no namespaces"},
           {{SelectiveSync::Kind::kShards, {}, {"with space"}}, "\"with space\""},
           {{SelectiveSync::Kind::kNone, {"a"}, {}}, "selects everything"}}) {
    auto r = UpdateSite(*conn_, "s1", {.selective_sync = bad});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << names;
    EXPECT_TRUE(absl::StrContains(r.status().message(), names)) << r.status();
  }
  EXPECT_EQ(FindSite(*conn_, "s1")->selective_sync, shards) << "a refused change changes nothing";
  auto on_primary = UpdateSite(*conn_, "p", {.selective_sync = ns});
  EXPECT_EQ(on_primary.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(on_primary.status().message(), "primary")) << on_primary.status();

  ASSERT_TRUE(UpdateSite(*conn_, "s1", {.selective_sync = SelectiveSync{}}).ok());
  EXPECT_FALSE(FindSite(*conn_, "s1")->selective_sync.active());
}

TEST_F(SitesTest, EnableDisableRemove) {
  ASSERT_TRUE(AddSite(*conn_, {"s1", "http://s1", "", false}).ok());
  ASSERT_TRUE(SetSiteEnabled(*conn_, "s1", false).ok());
  EXPECT_FALSE(FindSite(*conn_, "s1")->enabled);
  ASSERT_TRUE(SetSiteEnabled(*conn_, "s1", true).ok());
  EXPECT_TRUE(FindSite(*conn_, "s1")->enabled);
  ASSERT_TRUE(RemoveSite(*conn_, "s1").ok());
  auto gone = FindSite(*conn_, "s1");
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(gone.status().message().find("no site named \"s1\""), std::string::npos);
  EXPECT_EQ(RemoveSite(*conn_, "s1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SetSiteEnabled(*conn_, "s1", true).code(), absl::StatusCode::kNotFound);
}

TEST_F(SitesTest, UpdateChangesOnlyWhatItNamesAndRefusesBadValues) {
  ASSERT_TRUE(AddSite(*conn_, {"s1", "http://s1", "", false}).ok());
  auto updated =
      UpdateSite(*conn_, "s1", {.files_max_capacity = 3, .reverify_interval_seconds = 60});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->files_max_capacity, 3);
  EXPECT_EQ(updated->repos_max_capacity, 10);
  EXPECT_EQ(updated->reverify_interval_seconds, 60);
  EXPECT_TRUE(updated->enabled);
  auto again = UpdateSite(*conn_, "s1", {.enabled = false, .repos_max_capacity = 2});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->files_max_capacity, 3);
  EXPECT_EQ(again->repos_max_capacity, 2);
  EXPECT_FALSE(again->enabled);
  EXPECT_EQ(again->reverify_interval_seconds, 60);
  auto cleared = UpdateSite(*conn_, "s1", {.clear_reverify_interval = true});
  ASSERT_TRUE(cleared.ok());
  EXPECT_FALSE(cleared->reverify_interval_seconds.has_value());

  auto zero = UpdateSite(*conn_, "s1", {.verification_max_capacity = 0});
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("verification_max_capacity 0"), std::string::npos);
  EXPECT_EQ(UpdateSite(*conn_, "s1", {.reverify_interval_seconds = 0.5}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FindSite(*conn_, "s1")->verification_max_capacity, 10)
      << "a refused change is not applied";
  EXPECT_EQ(UpdateSite(*conn_, "nobody", {.enabled = true}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace georep::site
