// The admin page in a real browser: Debian's chromium, driven by
// playwright-core (tests/browser/admin_page.mjs), against a secondary of a
// demo topology. What the page shows is compared with the JSON API; the
// screenshot is kept in the build folder (artifacts/admin-page.png).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/subprocess.h"

namespace georep {
namespace {

namespace fs = std::filesystem;

TEST(AdminPageTest, ShowsTheFleetAndTheRegistryAndItsButtonsNeedTheToken) {
  test::Topology topo({"--seed", "0"}, {"GEOREP_MONITOR_REPORT_INTERVAL_SECONDS=1"});
  ASSERT_TRUE(topo.ok()) << topo.up_output();
  // Twelve uploads, one of which the primary (and the secondary) lose.
  std::vector<int64_t> ids;
  for (int i = 0; i < 12; ++i) {
    auto r = topo.Post("primary", "/api/v1/sample/upload", absl::StrCat("page ", i));
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(nlohmann::json::parse(r.body)["id"].get<int64_t>());
  }
  ASSERT_TRUE(
      test::WaitFor([&] { return topo.Count("secondary-1", "upload", "synced") == 12; }, 60))
      << topo.Request("secondary-1", "GET", "/api/v1/replicables/upload/registry").body;
  // What the secondary holds, shown on the page: a selection and a type
  // left out (neither touches the uploads, which belong to no project).
  ASSERT_EQ(topo.Admin("primary", "PUT", "/api/v1/sites/secondary-1",
                       R"({"selective_sync_type": "namespaces", "selective_sync_namespaces": )"
                       R"(["acme"], "disabled_replicables": ["pages_deployment"]})")
                .status,
            200);
  const int64_t lost = ids.back();
  char hex[8];
  std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(lost % 256));
  for (const char* site : {"primary", "secondary-1"}) {
    fs::remove(absl::StrCat(topo.Site(site)["storage_root"].get<std::string>(), "/upload/", hex,
                            "/", lost));
  }
  ASSERT_EQ(topo.Admin("secondary-1", "POST",
                       absl::StrCat("/api/v1/replicables/upload/", lost, "/resync"))
                .status,
            202);
  // Settled: the failure recorded, and the primary's copy of the report
  // says what the secondary says.
  auto reported_disabled = [&]() {
    auto sites = nlohmann::json::parse(topo.Request("secondary-1", "GET", "/api/v1/sites").body,
                                       nullptr, false);
    for (const auto& s : sites) {
      if (s["name"] != "secondary-1" || !s["status"].is_object()) continue;
      for (const auto& r : s["status"]["replicables"]) {
        if (r["name"] == "pages_deployment") return r.value("disabled", false);
      }
    }
    return false;
  };
  auto reported = [&](const char* key) -> int64_t {
    auto sites = nlohmann::json::parse(topo.Request("secondary-1", "GET", "/api/v1/sites").body,
                                       nullptr, false);
    for (const auto& s : sites) {
      if (s["name"] != "secondary-1" || !s["status"].is_object()) continue;
      for (const auto& r : s["status"]["replicables"]) {
        if (r["name"] == "upload") return r[key].get<int64_t>();
      }
    }
    return -1;
  };
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return topo.Count("secondary-1", "upload", "failed") == 1 && reported("failed") == 1 &&
               reported("synced") == 11 && reported_disabled();
      },
      60))
      << topo.Status("secondary-1").dump();

  std::string artifacts = std::string(GEOREP_BUILD_DIR) + "/artifacts";
  fs::create_directories(artifacts);
  std::string screenshot = artifacts + "/admin-page.png";
  fs::remove(screenshot);
  auto run = georep::Run({"node", std::string(GEOREP_SOURCE_DIR) + "/tests/browser/admin_page.mjs",
                          topo.Url("secondary-1"), topo.AdminToken("secondary-1"), "upload",
                          absl::StrCat(lost), screenshot},
                         {});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->exit_code, 0) << run->output;
  size_t brace = run->output.rfind("\n{");
  auto seen = nlohmann::json::parse(run->output.substr(brace == std::string::npos ? 0 : brace + 1),
                                    nullptr, false);
  ASSERT_TRUE(seen.is_object()) << run->output;

  EXPECT_EQ(seen["title"], "secondary-1 (secondary)");
  ASSERT_EQ(seen["sites"].size(), 2u) << seen.dump();
  for (const auto& s : seen["sites"]) {
    if (s["name"] != "secondary-1") continue;
    // One failed row of twelve passes the default 5% limit: the page says
    // so, with the reason.
    EXPECT_NE(s["health"].get<std::string>().find("UNHEALTHY"), std::string::npos) << s.dump();
    EXPECT_NE(s["health"].get<std::string>().find("1 of its 12 registry rows failed"),
              std::string::npos)
        << s.dump();
    EXPECT_EQ(s["holds"], "namespaces: acme") << s.dump();
    EXPECT_EQ(s["disabled"], nlohmann::json::array({"pages_deployment"})) << s.dump();
    const auto& upload = s["replicables"]["upload"];
    EXPECT_EQ(upload["synced"], 11) << s.dump();
    EXPECT_EQ(upload["registry"], 12) << s.dump();
    EXPECT_EQ(upload["failed"], 1) << s.dump();
  }
  EXPECT_EQ(seen["failed_rows"], 1);
  EXPECT_NE(seen["failure"].get<std::string>().find("404"), std::string::npos) << seen.dump();
  EXPECT_NE(seen["without_token"].get<std::string>().find("HTTP 401"), std::string::npos)
      << seen.dump();
  EXPECT_NE(seen["with_token"].get<std::string>().find("queued"), std::string::npos) << seen.dump();
  EXPECT_TRUE(seen["page_errors"].empty()) << seen.dump();
  EXPECT_GT(fs::file_size(screenshot), 10000u);
}

}  // namespace
}  // namespace georep
