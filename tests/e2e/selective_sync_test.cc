// Selective sync through real daemons: a primary and two secondaries, one
// holding a group (and its subgroups), the other a shard. Each holds and
// counts only its selection, across blobs attached to projects and every
// repository type; Git for a repository outside it is answered with the
// primary's data; a narrower selection removes rows and copies, a wider one
// brings them; the data-loss report counts what the site does not hold.
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"

namespace georep {
namespace {

namespace fs = std::filesystem;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int64_t IdOf(const transport::HttpResult& r) {
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

// The model ids of `replicable` synced on `site`, comma-separated, in order.
std::string Synced(const test::Topology& topo, const std::string& site,
                   const std::string& replicable) {
  auto tracking = topo.TrackingDb(site);
  if (!tracking) return "(no tracking db)";
  auto r = tracking->Exec(absl::StrCat(
      "SELECT coalesce(string_agg(model_id::text, ',' ORDER BY model_id), '') FROM georep.",
      replicable, "_registry WHERE state = 2"));
  return r.ok() ? std::string(r->Get(0, 0)) : r.status().ToString();
}
// Every registry row, whatever its state.
int64_t Rows(const test::Topology& topo, const std::string& site, const std::string& replicable) {
  auto tracking = topo.TrackingDb(site);
  if (!tracking) return -1;
  auto r = tracking->Exec(absl::StrCat("SELECT count(*) FROM georep.", replicable, "_registry"));
  return r.ok() ? r->GetInt64(0, 0) : -1;
}

std::string Ids(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return absl::StrJoin(ids, ",");
}

TEST(SelectiveSyncTest, TwoSecondariesHoldTheirSelectionsAndFollowChanges) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  const std::string primary_config = topo.Config("primary");

  // secondary-1 holds group g1 (and g1/sub) by the CLI; secondary-2 the
  // shard "ssd" by the API.
  auto cli = test::RunGeorep({"site", "update", "secondary-1", "--selective-sync", "namespaces",
                              "--namespaces", "g1", "--config", primary_config});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("holds namespaces g1"), std::string::npos) << cli.output;
  auto put = topo.Admin("primary", "PUT", "/api/v1/sites/secondary-2",
                        R"({"selective_sync_type": "shards", "selective_sync_shards": ["ssd"]})");
  ASSERT_EQ(put.status, 200) << put.body;
  auto shown = nlohmann::json::parse(put.body, nullptr, false);
  EXPECT_EQ(shown.value("selective_sync_type", ""), "shards") << put.body;
  // Bad input names itself and changes nothing.
  auto bad = test::RunGeorep({"site", "update", "secondary-1", "--selective-sync", "namespaces",
                              "--namespaces", "../etc", "--config", primary_config});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("\"../etc\""), std::string::npos) << bad.output;
  auto bad_put = topo.Admin("primary", "PUT", "/api/v1/sites/secondary-2",
                            R"({"selective_sync_shards": ["x"]})");
  EXPECT_EQ(bad_put.status, 400) << bad_put.body;

  // Projects in g1 (default shard), g1/sub (ssd) and g2 (ssd); a blob of
  // each, one of no project, and a snippet (which belongs to no namespace).
  int64_t app = IdOf(
      topo.Post("primary", "/api/v1/sample/projects", R"({"path": "g1/app", "public": true})"));
  int64_t lib = IdOf(topo.Post("primary", "/api/v1/sample/projects",
                               R"({"path": "g1/sub/lib", "public": true, "storage": "ssd"})"));
  int64_t tool = IdOf(topo.Post("primary", "/api/v1/sample/projects",
                                R"({"path": "g2/tool", "public": true, "storage": "ssd"})"));
  ASSERT_TRUE(app && lib && tool);
  auto bad_storage =
      topo.Post("primary", "/api/v1/sample/projects", R"({"path": "g3/x", "storage": "no/slash"})");
  EXPECT_EQ(bad_storage.status, 400) << bad_storage.body;
  std::map<int64_t, int64_t> upload_of;  // project → upload
  for (int64_t p : {app, lib, tool}) {
    upload_of[p] = IdOf(topo.Post("primary", absl::StrCat("/api/v1/sample/upload?project_id=", p),
                                  absl::StrCat("bytes of project ", p)));
  }
  int64_t loose = IdOf(topo.Post("primary", "/api/v1/sample/upload", "no project"));
  EXPECT_EQ(topo.Post("primary", "/api/v1/sample/upload?project_id=999999", "x").status, 400);
  int64_t snippet = IdOf(topo.Post("primary", "/api/v1/sample/snippets", "s"));
  auto main = topo.MainDb("primary");
  auto ns = main->Exec("SELECT path, id FROM sample.namespaces");
  ASSERT_TRUE(ns.ok());
  std::map<std::string, int64_t> ns_id;
  for (int i = 0; i < ns->rows(); ++i) ns_id[std::string(ns->Get(i, 0))] = ns->GetInt64(i, 1);
  ASSERT_EQ(ns_id.size(), 3u) << "g1, g1/sub (its parent g1) and g2";
  auto parent = main->Exec("SELECT parent_id FROM sample.namespaces WHERE path = 'g1/sub'");
  EXPECT_EQ(parent->GetInt64(0, 0), ns_id["g1"]);

  // A commit in the project outside secondary-1's selection.
  std::string work = test::MakeTempDir("selective-work");
  test::Git({"init", "-q", "-b", "main", work});
  test::Git({"-C", work, "commit", "-q", "--allow-empty", "-m", "tool"});
  test::Git({"-C", work, "push", "-q", topo.Url("primary") + "/g2/tool.git", "main"});
  const std::string head = Trim(test::GitOutput({"-C", work, "rev-parse", "HEAD"}));

  struct Expect {
    std::string site, replicable, ids;
  };
  const std::vector<Expect> expected = {
      {"secondary-1", "project_repository", Ids({app, lib})},
      {"secondary-1", "project_wiki_repository", Ids({app, lib})},
      {"secondary-1", "design_management_repository", Ids({app, lib})},
      {"secondary-1", "group_wiki_repository", Ids({ns_id["g1"], ns_id["g1/sub"]})},
      {"secondary-1", "snippet_repository", Ids({snippet})},
      {"secondary-1", "upload", Ids({upload_of[app], upload_of[lib], loose})},
      {"secondary-2", "project_repository", Ids({lib, tool})},
      {"secondary-2", "project_wiki_repository", Ids({lib, tool})},
      {"secondary-2", "group_wiki_repository",
       Ids({ns_id["g1"], ns_id["g1/sub"], ns_id["g2"]})},  // no shard mapping: all
      {"secondary-2", "snippet_repository", Ids({snippet})},
      {"secondary-2", "upload", Ids({upload_of[lib], upload_of[tool], loose})},
  };
  for (const auto& e : expected) {
    SCOPED_TRACE(e.site + " " + e.replicable);
    EXPECT_TRUE(test::WaitFor(
        [&] {
          return Synced(topo, e.site, e.replicable) == e.ids &&
                 Rows(topo, e.site, e.replicable) ==
                     static_cast<int64_t>(std::count(e.ids.begin(), e.ids.end(), ',')) + 1;
        },
        120))
        << "synced: " << Synced(topo, e.site, e.replicable)
        << " rows: " << Rows(topo, e.site, e.replicable) << " want: " << e.ids;
  }
  const std::string repos1 = topo.Site("secondary-1")["repository_root"].get<std::string>();
  EXPECT_TRUE(fs::exists(repos1 + "/g1/app.git"));
  EXPECT_FALSE(fs::exists(repos1 + "/g2/tool.git")) << "nothing outside the selection on disk";
  // Status counts only what the site holds.
  EXPECT_EQ(topo.Count("secondary-1", "project_repository", "synced"), 2);

  // Git for a repository outside the selection: the primary's data.
  std::string clone = test::MakeTempDir("selective-clone") + "/tool";
  test::Git({"clone", "-q", topo.Url("secondary-1") + "/g2/tool.git", clone});
  EXPECT_EQ(Trim(test::GitOutput({"-C", clone, "rev-parse", "HEAD"})), head);
  EXPECT_FALSE(fs::exists(repos1 + "/g2/tool.git"));

  // The loss report: what is outside the selection is not held, not missing.
  auto loss = test::RunGeorep({"dataloss", "--json", "--config", topo.Config("secondary-1")});
  auto lj = nlohmann::json::parse(
      loss.output.substr(std::min(loss.output.find('{'), loss.output.size())), nullptr, false);
  ASSERT_TRUE(lj.is_object()) << loss.output;
  EXPECT_EQ(lj["selective_sync"]["type"], "namespaces") << loss.output;
  // Outside g1: tool's three repositories, g2's wiki, tool's upload.
  EXPECT_EQ(lj["not_held_items"].get<int64_t>(), 5) << loss.output;

  // Narrower: g1/sub only. app's rows and copies go, lib's stay.
  auto narrower =
      test::RunGeorep({"site", "update", "secondary-1", "--selective-sync", "namespaces",
                       "--namespaces", "g1/sub", "--config", primary_config});
  ASSERT_EQ(narrower.exit_code, 0) << narrower.output;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Synced(topo, "secondary-1", "project_repository") == Ids({lib}) &&
               Rows(topo, "secondary-1", "project_repository") == 1 &&
               Synced(topo, "secondary-1", "upload") == Ids({upload_of[lib], loose}) &&
               Rows(topo, "secondary-1", "upload") == 2 &&
               Synced(topo, "secondary-1", "group_wiki_repository") == Ids({ns_id["g1/sub"]});
      },
      120))
      << Synced(topo, "secondary-1", "project_repository") << " / "
      << Synced(topo, "secondary-1", "upload");
  EXPECT_FALSE(fs::exists(repos1 + "/g1/app.git")) << "the copy left with the selection";
  EXPECT_FALSE(fs::exists(repos1 + "/g1/app.wiki.git"));
  EXPECT_TRUE(fs::exists(repos1 + "/g1/sub/lib.git"));

  // Everything again: what was outside comes.
  auto all = test::RunGeorep(
      {"site", "update", "secondary-1", "--selective-sync", "none", "--config", primary_config});
  ASSERT_EQ(all.exit_code, 0) << all.output;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Synced(topo, "secondary-1", "project_repository") == Ids({app, lib, tool}) &&
               Synced(topo, "secondary-1", "upload") ==
                   Ids({upload_of[app], upload_of[lib], upload_of[tool], loose});
      },
      120))
      << Synced(topo, "secondary-1", "project_repository");
  EXPECT_TRUE(fs::exists(repos1 + "/g2/tool.git"));
}

// A type disabled for one site through the sites API: its rows and copies
// go, nothing of it is downloaded, status says it is disabled; enabled
// again, it is backfilled.
TEST(SelectiveSyncTest, ADisabledTypeKeepsNoRowsAndEnablingItBackfills) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  std::vector<int64_t> pages;
  for (int i = 0; i < 3; ++i) {
    pages.push_back(
        IdOf(topo.Post("primary", "/api/v1/sample/pages_deployment", absl::StrCat("page ", i))));
  }
  int64_t upload = IdOf(topo.Post("primary", "/api/v1/sample/upload", "an upload"));
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return Synced(topo, "secondary-1", "pages_deployment") == Ids(pages) &&
               Synced(topo, "secondary-1", "upload") == Ids({upload});
      },
      120));
  const std::string storage = topo.Site("secondary-1")["storage_root"].get<std::string>();
  auto files_of = [&](const std::string& kind) {
    int n = 0;
    std::error_code ec;
    if (!fs::exists(storage + "/" + kind)) return 0;
    for (auto it = fs::recursive_directory_iterator(storage + "/" + kind, ec);
         it != fs::recursive_directory_iterator(); ++it) {
      n += it->is_regular_file() ? 1 : 0;
    }
    return n;
  };
  ASSERT_EQ(files_of("pages_deployment"), 3);

  EXPECT_EQ(topo.Admin("primary", "PUT", "/api/v1/sites/secondary-1",
                       R"({"disabled_replicables": ["no_such_type"]})")
                .status,
            400);
  auto off = topo.Admin("primary", "PUT", "/api/v1/sites/secondary-1",
                        R"({"disabled_replicables": ["pages_deployment"]})");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_TRUE(
      test::WaitFor([&] { return Rows(topo, "secondary-1", "pages_deployment") == 0; }, 60));
  EXPECT_EQ(files_of("pages_deployment"), 0) << "its copies went with its rows";
  auto status_of = [&](const std::string& name) {
    auto st = topo.Status("secondary-1");
    for (const auto& r : st.value("replicables", nlohmann::json::array())) {
      if (r.value("name", "") == name) return r;
    }
    return nlohmann::json();
  };
  EXPECT_TRUE(status_of("pages_deployment").value("disabled", false))
      << status_of("pages_deployment").dump();
  EXPECT_FALSE(status_of("pages_deployment").contains("registry"))
      << "a disabled type is not counted";
  const std::string label = "replicable=\"pages_deployment\"";
  double downloads = topo.MetricSum("secondary-1", "georep_sync_duration_seconds_count", label);

  // New items: the upload comes, the pages do not.
  for (int i = 3; i < 5; ++i) {
    pages.push_back(
        IdOf(topo.Post("primary", "/api/v1/sample/pages_deployment", absl::StrCat("page ", i))));
  }
  int64_t upload2 = IdOf(topo.Post("primary", "/api/v1/sample/upload", "after"));
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return Synced(topo, "secondary-1", "upload") == Ids({upload, upload2});
      },
      120));
  EXPECT_EQ(Rows(topo, "secondary-1", "pages_deployment"), 0);
  EXPECT_EQ(topo.MetricSum("secondary-1", "georep_sync_duration_seconds_count", label), downloads);
  EXPECT_EQ(files_of("pages_deployment"), 0);

  // Enabled again: everything of it, old and new.
  auto cli = test::RunGeorep({"site", "update", "secondary-1", "--disabled-replicables", "none",
                              "--config", topo.Config("primary")});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_TRUE(test::WaitFor(
      [&] { return Synced(topo, "secondary-1", "pages_deployment") == Ids(pages); }, 120))
      << Synced(topo, "secondary-1", "pages_deployment");
  EXPECT_EQ(files_of("pages_deployment"), 5);
  EXPECT_FALSE(status_of("pages_deployment").value("disabled", false));
}

}  // namespace
}  // namespace georep
