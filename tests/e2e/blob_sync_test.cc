// Blob replication through real daemons: data created through the sample
// API on the primary arrives, byte for byte, on the secondary.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sample/sample.h"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/geo_auth.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace georep {
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string>& kKinds = sample::BlobKinds();

struct Item {
  std::string kind;
  int64_t id;
  std::string sha256;
};

class BlobSyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { topo_ = new test::Topology({"--seed", "0"}); }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }
  // The secondary's copy of an item, as the sample layout places it.
  static std::string SecondaryPath(const Item& item) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(item.id % 256));
    return absl::StrCat(topo_->Site("secondary-1")["storage_root"].get<std::string>(), "/",
                        item.kind, "/", hex, "/", item.id);
  }
  static Item Create(const std::string& kind, const std::string& bytes) {
    auto r = topo_->Post("primary", "/api/v1/sample/" + kind, bytes);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return {kind, 0, ""};
    return {kind, j["id"].get<int64_t>(), j["sha256"].get<std::string>()};
  }
  static bool SecondaryHas(const Item& item) {
    auto sha = Sha256File(SecondaryPath(item));
    return sha.ok() && *sha == item.sha256;
  }
  static std::string SecondaryAccessKey() { return ConfigValue("access_key"); }
  static std::string SecondarySecret() { return ConfigValue("secret_access_key"); }
  static std::string ConfigValue(const std::string& key) {
    std::string text = *ReadFile(topo_->Config("secondary-1"));
    size_t at = text.find("\n" + key + " = '");
    if (at == std::string::npos) return "";
    at += key.size() + 5;
    return text.substr(at, text.find('\'', at) - at);
  }
  static transport::HttpResult Retrieve(const std::string& path, const std::string& auth) {
    return topo_->Request("primary", "GET", path, "", {"Authorization: " + auth});
  }
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  static test::Topology* topo_;
};
test::Topology* BlobSyncTest::topo_ = nullptr;

TEST_F(BlobSyncTest, ThousandBlobsOfMixedTypesArriveByteForByteAndChangesFollow) {
  std::mt19937 rng(42);
  std::vector<Item> items;
  auto start = Clock::now();
  for (int i = 0; i < 1000; ++i) {
    std::string bytes(rng() % 65536, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    items.push_back(Create(kKinds[i % kKinds.size()], bytes));
  }
  double created_s = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(
      test::WaitFor([&] { return topo_->TotalCount("secondary-1", "synced") == 1000; }, 120))
      << topo_->Status("secondary-1").dump();
  double synced_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "[ figures  ] 1000 mixed blobs (0-64 KiB): created through the API in %.2f s, all synced "
      "%.2f s "
      "after the first was created\n",
      created_s, synced_s);
  for (const Item& item : items) EXPECT_TRUE(SecondaryHas(item)) << item.kind << " " << item.id;
  EXPECT_EQ(topo_->TotalCount("secondary-1", "failed"), 0);

  // Updates replace the bytes; deletes remove the file and the registry row.
  std::vector<Item> updated, deleted;
  for (int i = 0; i < 50; ++i) {
    Item item = items[i];
    auto r =
        topo_->Request("primary", "PUT", absl::StrCat("/api/v1/sample/", item.kind, "/", item.id),
                       absl::StrCat("new content ", i));
    ASSERT_EQ(r.status, 200) << r.body;
    item.sha256 = nlohmann::json::parse(r.body)["sha256"];
    updated.push_back(item);
  }
  for (int i = 50; i < 100; ++i) {
    auto r = topo_->Request("primary", "DELETE",
                            absl::StrCat("/api/v1/sample/", items[i].kind, "/", items[i].id));
    ASSERT_EQ(r.status, 200) << r.body;
    deleted.push_back(items[i]);
  }
  EXPECT_TRUE(test::WaitFor(
      [&] {
        for (const Item& item : updated) {
          if (!SecondaryHas(item)) return false;
        }
        for (const Item& item : deleted) {
          if (std::filesystem::exists(SecondaryPath(item))) return false;
        }
        return topo_->TotalCount("secondary-1", "registry") == 950 &&
               topo_->TotalCount("secondary-1", "synced") == 950;
      },
      60))
      << topo_->Status("secondary-1").dump();

  // The same counts in Prometheus form.
  auto metrics = topo_->Request("secondary-1", "GET", "/metrics");
  EXPECT_NE(metrics.body.find("\ngeorep_registry_items{replicable=\"upload\",state=\"synced\"} "),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("# TYPE georep_registry_items gauge"), std::string::npos);
}

// The secondary sends the application's writes on to the primary
// (api/primary_proxy.h); secondary_proxy_test covers the rest.
TEST_F(BlobSyncTest, WritesOnTheSecondaryGoToThePrimary) {
  auto r = topo_->Post("secondary-1", "/api/v1/sample/upload", "x");
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  auto row = topo_->MainDb("primary")->Exec("SELECT 1 FROM sample.uploads WHERE id = $1",
                                            {std::to_string(j["id"].get<int64_t>())});
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->rows(), 1);
}

TEST_F(BlobSyncTest, BatchRetrieveServesExactlyTheIdsItsTokenNames) {
  std::vector<std::string> bytes = {"first blob", std::string(70000, 'b'), ""};
  std::vector<int64_t> ids;
  for (const auto& b : bytes) ids.push_back(Create("upload", b).id);
  auto main = topo_->MainDb("primary");
  auto missing = main->Exec(
      "INSERT INTO sample.uploads (file_path, size, sha256) VALUES ('upload/ff/gone', 0, '') "
      "RETURNING id");
  ASSERT_TRUE(missing.ok());
  std::vector<int64_t> asked = {ids[0], missing->GetInt64(0, 0), ids[1], ids[2]};
  std::string path = absl::StrCat("/geo/retrieve-batch/upload/", absl::StrJoin(asked, ","));
  std::string key = SecondaryAccessKey(), secret = SecondarySecret();
  auto token = [&](const std::vector<int64_t>& for_ids) {
    return transport::MakeGeoAuthorization(
        key, secret, transport::BlobBatchRequestData("upload", for_ids), Now());
  };

  auto good = Retrieve(path, token(asked));
  ASSERT_EQ(good.status, 200) << good.body;
  std::string expected =
      absl::StrCat(ids[0], " 200 ", bytes[0].size(), "\n", bytes[0], asked[1], " 404 0\n", ids[1],
                   " 200 ", bytes[1].size(), "\n", bytes[1], ids[2], " 200 0\n");
  EXPECT_EQ(good.body, expected);

  std::vector<int64_t> reordered = {asked[2], asked[1], asked[0], asked[3]};
  std::vector<int64_t> fewer = {asked[0], asked[2], asked[3]};
  EXPECT_EQ(Retrieve(path, token(reordered)).status, 403) << "the token names another list";
  EXPECT_EQ(Retrieve(path, token(fewer)).status, 403);
  EXPECT_EQ(Retrieve(path, transport::MakeGeoAuthorization(
                               key, secret, transport::BlobRequestData("upload", ids[0]), Now()))
                .status,
            403)
      << "a single blob's token does not open a batch";
  auto none = topo_->Request("primary", "GET", path);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body.find(bytes[0]), std::string::npos);
  std::vector<int64_t> many(101, ids[0]);
  EXPECT_EQ(
      Retrieve(absl::StrCat("/geo/retrieve-batch/upload/", absl::StrJoin(many, ",")), token(many))
          .status,
      400);
  EXPECT_EQ(Retrieve("/geo/retrieve-batch/upload/1,x", token({1})).status, 404);
  // The row without a file goes, so that other tests count only their own failures.
  ASSERT_TRUE(
      main->Exec("DELETE FROM sample.uploads WHERE id = $1", {absl::StrCat(asked[1])}).ok());
}

TEST_F(BlobSyncTest, ForgedRequestsAreRefusedAndServeNothing) {
  const std::string secret_bytes = "top secret bytes of upload";
  Item item = Create("upload", secret_bytes);
  std::string path = absl::StrCat("/geo/retrieve/upload/", item.id);
  std::string key = SecondaryAccessKey();
  std::string secret = SecondarySecret();
  ASSERT_FALSE(key.empty());
  std::string data = transport::BlobRequestData("upload", item.id);

  auto good = Retrieve(path, transport::MakeGeoAuthorization(key, secret, data, Now()));
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ(good.body, secret_bytes);

  struct Case {
    std::string name;
    std::string auth;
    long status;
  } cases[] = {
      {"no header", "", 401},
      {"expired", transport::MakeGeoAuthorization(key, secret, data, Now() - 600), 401},
      {"wrong signature", transport::MakeGeoAuthorization(key, std::string(64, 'f'), data, Now()),
       401},
      {"another item's token",
       transport::MakeGeoAuthorization(key, secret,
                                       transport::BlobRequestData("upload", item.id + 1), Now()),
       403},
      {"another type's token",
       transport::MakeGeoAuthorization(key, secret,
                                       transport::BlobRequestData("lfs_object", item.id), Now()),
       403},
      {"unknown access key",
       transport::MakeGeoAuthorization("feedfacefeedface", secret, data, Now()), 401},
  };
  for (const auto& c : cases) {
    auto r = topo_->Request("primary", "GET", path, "",
                            c.auth.empty() ? std::vector<std::string>{}
                                           : std::vector<std::string>{"Authorization: " + c.auth});
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    EXPECT_EQ(r.body.find(secret_bytes), std::string::npos) << c.name;
    EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded())
        << c.name << ": " << r.body;
  }

  // The item must be synced before the site is disabled, or its own sync
  // fails during the disabled window and adds a failed row below.
  ASSERT_TRUE(test::WaitFor([&] { return SecondaryHas(item); }, 30));

  // A disabled site is refused (the primary re-reads sites every few seconds).
  ASSERT_EQ(
      test::RunGeorep({"site", "disable", "secondary-1", "--config", topo_->Config("primary")})
          .exit_code,
      0);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Retrieve(path, transport::MakeGeoAuthorization(key, secret, data, Now())).status ==
               403;
      },
      10));
  auto disabled = Retrieve(path, transport::MakeGeoAuthorization(key, secret, data, Now()));
  EXPECT_NE(disabled.body.find("SITE_DISABLED"), std::string::npos) << disabled.body;
  ASSERT_EQ(test::RunGeorep({"site", "enable", "secondary-1", "--config", topo_->Config("primary")})
                .exit_code,
            0);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Retrieve(path, transport::MakeGeoAuthorization(key, secret, data, Now())).status ==
               200;
      },
      10));

  // Rows that point outside the storage root, or at nothing.
  auto main = topo_->MainDb("primary");
  for (const char* evil : {"../../../../etc/passwd", "/etc/passwd", "upload/../../secret"}) {
    auto r = main->Exec(
        "INSERT INTO sample.uploads (file_path, size, sha256) VALUES ($1, 0, '') RETURNING id",
        {std::string(evil)});
    ASSERT_TRUE(r.ok()) << r.status();
    int64_t id = r->GetInt64(0, 0);
    auto res = Retrieve(absl::StrCat("/geo/retrieve/upload/", id),
                        transport::MakeGeoAuthorization(
                            key, secret, transport::BlobRequestData("upload", id), Now()));
    EXPECT_EQ(res.status, 403) << evil << ": " << res.body;
    EXPECT_NE(res.body.find("PATH_REFUSED"), std::string::npos) << res.body;
    EXPECT_EQ(res.body.find("root:"), std::string::npos) << "served /etc/passwd";
  }
  auto missing = main->Exec(
      "INSERT INTO sample.uploads (file_path, size, sha256) VALUES ('upload/ff/missing', 0, '') "
      "RETURNING id");
  int64_t missing_id = missing->GetInt64(0, 0);
  auto res = Retrieve(absl::StrCat("/geo/retrieve/upload/", missing_id),
                      transport::MakeGeoAuthorization(
                          key, secret, transport::BlobRequestData("upload", missing_id), Now()));
  EXPECT_EQ(res.status, 404);
  EXPECT_NE(res.body.find("\"geo_code\":\"FILE_NOT_FOUND\""), std::string::npos) << res.body;

  // The secondary records these rows as failed, says why, and writes nothing outside its root.
  auto tracking = topo_->TrackingDb("secondary-1");
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking->Exec("SELECT count(*) FROM georep.upload_registry WHERE state = 3");
        return r.ok() && r->GetInt64(0, 0) == 4;
      },
      30));
  auto reasons = tracking->Exec(
      "SELECT model_id, last_sync_failure, missing_on_primary FROM georep.upload_registry WHERE "
      "state = 3 "
      "ORDER BY model_id");
  ASSERT_EQ(reasons->rows(), 4);
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(reasons->Get(i, 1).find("refused"), std::string::npos) << reasons->Get(i, 1);
  EXPECT_NE(reasons->Get(3, 1).find("HTTP 404"), std::string::npos) << reasons->Get(3, 1);
  EXPECT_TRUE(reasons->GetBool(3, 2)) << "the primary said the file is missing";
}

TEST_F(BlobSyncTest, AWriterCommittingLateIsNotMissed) {
  // An application transaction takes an event id, then commits after many others.
  std::string root = topo_->Site("primary")["storage_root"];
  auto slow = topo_->MainDb("primary");
  ASSERT_TRUE(slow->Exec("BEGIN").ok());
  auto r = slow->Exec(
      "INSERT INTO sample.uploads (file_path, size, sha256) VALUES ('upload/late/1', 4, $1) "
      "RETURNING id",
      {Sha256Hex("late")});
  ASSERT_TRUE(r.ok()) << r.status();
  int64_t late_id = r->GetInt64(0, 0);
  ASSERT_TRUE(MakeDirs(root + "/upload/late").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/upload/late/1", "late").ok());
  std::vector<Item> quick;
  for (int i = 0; i < 20; ++i) quick.push_back(Create("upload", absl::StrCat("quick ", i)));
  ASSERT_TRUE(test::WaitFor([&] { return SecondaryHas(quick.back()); }, 30));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(slow->Exec("COMMIT").ok());
  std::string copy =
      topo_->Site("secondary-1")["storage_root"].get<std::string>() + "/upload/late/1";
  EXPECT_TRUE(test::WaitFor([&] { return ReadFile(copy).value_or("") == "late"; }, 10))
      << "event of upload " << late_id << " was missed";
}

TEST_F(BlobSyncTest, AReplicableDeclaredOnlyInTomlReplicates) {
  auto main = topo_->MainDb("primary");
  ASSERT_TRUE(
      main->ExecScript(
              "CREATE SCHEMA custom; CREATE TABLE custom.attachments (id bigserial PRIMARY KEY, "
              "owner_id integer NOT NULL, note text)")
          .ok());
  const std::string block =
      "\n[[replicable]]\nname = \"attachment\"\ntitle = \"Attachment\"\ntable = "
      "\"custom.attachments\"\n"
      "path_template = \"attachments/{owner_id}/{id}.bin\"\n";
  for (const char* site : {"primary", "secondary-1"}) {
    std::ofstream(topo_->Config(site), std::ios::app) << block;
    kill(topo_->Pid(site), SIGTERM);
    ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(topo_->Pid(site)); }, 15));
  }
  ASSERT_TRUE(topo_->Up());
  std::string root = topo_->Site("primary")["storage_root"];
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 5; ++i) {
    auto r = main->Exec("INSERT INTO custom.attachments (owner_id) VALUES ($1) RETURNING id",
                        {absl::StrCat(7 + i)});
    ASSERT_TRUE(r.ok()) << r.status();
    std::string rel = absl::StrCat("attachments/", 7 + i, "/", r->GetInt64(0, 0), ".bin");
    ASSERT_TRUE(MakeDirs(root + "/attachments/" + absl::StrCat(7 + i)).ok());
    ASSERT_TRUE(WriteFileAtomic(root + "/" + rel, absl::StrCat("attachment ", i)).ok());
    // The file is written after the row: touch the row so an update event follows.
    ASSERT_TRUE(main->Exec("UPDATE custom.attachments SET note = 'written' WHERE id = $1",
                           {absl::StrCat(r->GetInt64(0, 0))})
                    .ok());
    files.push_back({rel, absl::StrCat("attachment ", i)});
  }
  std::string copy_root = topo_->Site("secondary-1")["storage_root"];
  EXPECT_TRUE(test::WaitFor(
      [&] {
        for (const auto& [rel, bytes] : files) {
          if (ReadFile(copy_root + "/" + rel).value_or("") != bytes) return false;
        }
        return true;
      },
      60))
      << topo_->Status("secondary-1").dump();
  // The file is in place before its row says synced: wait for the rows too.
  EXPECT_TRUE(
      test::WaitFor([&] { return topo_->Count("secondary-1", "attachment", "synced") == 5; }, 30))
      << topo_->Count("secondary-1", "attachment", "synced") << " of 5 attachments synced";
}

}  // namespace
}  // namespace georep
