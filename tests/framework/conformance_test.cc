// The conformance suite every replicable passes: each built-in type, and one
// declared only in a site's TOML. For each: the spec is valid, its publish
// triggers install, a new item is published, the log cursor turns the event
// into a registry row, the primary checksums it, a secondary fetches it from
// the primary's real HTTP endpoints (retrieve, or Git smart HTTP with the
// real git), and the row ends synced and verified against the primary's
// checksum, with the copy's own checksum equal to it.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "api/geo_routes.h"
#include "api/git_routes.h"
#include "api/http_server.h"
#include "api/router.h"
#include "api/site_routes.h"
#include "config/config.h"
#include "events/log_cursor.h"
#include "events/publish.h"
#include "framework/registry/primary_states.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/sync/strategy.h"
#include "framework/sync/syncer.h"
#include "framework/verify/checksummer.h"
#include "gtest/gtest.h"
#include "sample/sample.h"
#include "site/sites.h"
#include "support/two_db.h"
#include "util/fs.h"
#include "util/metrics.h"
#include "util/subprocess.h"

namespace georep::framework {
namespace {

namespace fs = std::filesystem;

constexpr char kDeclaredName[] = "attachment";
// Declared as an application no one here wrote keeps its files (Redmine's
// attachments): an integer id, an optional directory, its own SHA-256.
constexpr char kAppDeclaredName[] = "app_attachment";

// The replicable under test: a built-in by name, or the one declared in TOML.
absl::StatusOr<ReplicableSpec> SpecNamed(const std::string& name, const std::string& dir) {
  std::string path = dir + "/site.toml";
  auto written = WriteFileAtomic(path, R"(site_name = "s"
[database]
main = "dbname=unused"
[[replicable]]
name = "attachment"
title = "Attachment"
table = "custom.attachments"
path_template = "attachments/{owner_id}/{file_name}"
[[replicable]]
name = "app_attachment"
table = "custom.app_attachments"
path_template = "[{disk_directory}/]{disk_filename}"
checksum_column = "digest"
)");
  if (!written.ok()) return written;
  auto config = config::LoadConfig(path);
  if (!config.ok()) return config.status();
  auto specs = ResolveSpecs(config->replicables);
  if (!specs.ok()) return specs.status();
  for (const auto& s : *specs) {
    if (s.name == name) return s;
  }
  return absl::NotFoundError(name);
}

std::vector<std::string> AllNames() {
  std::vector<std::string> names;
  for (const auto& s : BuiltinReplicables()) names.push_back(s.name);
  names.push_back(kDeclaredName);
  names.push_back(kAppDeclaredName);
  return names;
}

class ConformanceTest : public test::TwoDbTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    test::TwoDbTest::SetUp();
    dir_ = test::MakeTempDir("conformance");
    for (const char* d : {"/primary/storage", "/primary/repos", "/secondary/storage",
                          "/secondary/repos", "/secondary/storage/.georep-tmp", "/work"}) {
      ASSERT_TRUE(MakeDirs(dir_ + d).ok());
    }
    auto spec = SpecNamed(GetParam(), dir_);
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_under_test_ = *spec;
    ASSERT_TRUE(sample::InstallSchema(*main_).ok());
    ASSERT_TRUE(main_
                    ->ExecScript("CREATE SCHEMA custom; CREATE TABLE custom.attachments (id "
                                 "bigserial PRIMARY KEY, owner_id bigint NOT NULL, file_name text "
                                 "NOT NULL); CREATE TABLE custom.app_attachments (id serial "
                                 "PRIMARY KEY, disk_directory varchar, disk_filename varchar NOT "
                                 "NULL, digest varchar(64) NOT NULL DEFAULT '')")
                    .ok());
    auto primary = site::AddSite(*main_, {"primary", "http://127.0.0.1", "", true});
    ASSERT_TRUE(primary.ok()) << primary.status();
    role_ =
        std::make_unique<site::LiveRole>(site::RoleState{.self = *primary, .primary = *primary});
    auto secondary = site::AddSite(*main_, {"secondary", "http://127.0.0.1:1", "", false});
    ASSERT_TRUE(secondary.ok()) << secondary.status();
    secondary_ = *secondary;
    StartPrimaryHttp();
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    test::RemoveTree(dir_);
    test::TwoDbTest::TearDown();
  }

  // The primary's retrieve and Git endpoints, on loopback.
  void StartPrimaryHttp() {
    sites_ = std::make_unique<api::SiteDirectory>(conninfo_, 0);
    metrics_ = std::make_unique<MetricsRegistry>(api::SiteMetricDefs());
    geo_ = {.main_conninfo = conninfo_,
            .blobs = LocalFiles(dir_ + "/primary/storage"),
            .specs = {spec_under_test_},
            .sites = sites_.get(),
            .metrics = metrics_.get(),
            .role = role_.get()};
    api::AddGeoRoutes(router_, geo_);
    git_.role = role_.get();
    git_.main_conninfo = conninfo_;
    git_.repository_root = dir_ + "/primary/repos";
    git_.specs = {spec_under_test_};
    git_.sites = sites_.get();
    git_.metrics = metrics_.get();
    server_ = std::make_unique<api::HttpServer>(
        [this](const api::HttpRequest& r) {
          if (auto g = api::HandleGit(git_, r)) return std::move(*g);
          return router_.Handle(r);
        },
        2);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    primary_url_ = absl::StrCat("http://127.0.0.1:", *port);
    server_->Start();
  }

  // The secondary's worker, pulling from the primary's HTTP endpoints.
  SyncContext SecondaryContext() const {
    return {.standby_conninfo = conninfo_,
            .tracking_conninfo = tracking_conninfo_,
            .storage_root = dir_ + "/secondary/storage",
            .blobs = LocalFiles(dir_ + "/secondary/storage"),
            .primary_url = primary_url_,
            .access_key = secondary_.access_key,
            .secret_access_key = secondary_.secret_access_key,
            .worker_id = "worker",
            .site_name = "primary",
            .repository_root = dir_ + "/secondary/repos"};
  }

  // A new item of the type under test, on the primary.
  void CreateItem() {
    const ReplicableSpec& spec = spec_under_test_;
    std::string storage = dir_ + "/primary/storage";
    std::string repos = dir_ + "/primary/repos";
    if (spec.name == kDeclaredName) {
      ASSERT_TRUE(MakeDirs(storage + "/attachments/7").ok());
      ASSERT_TRUE(WriteFileAtomic(storage + "/attachments/7/report.pdf", "attached bytes").ok());
      ASSERT_TRUE(main_
                      ->Exec("INSERT INTO custom.attachments (owner_id, file_name) VALUES (7, "
                             "'report.pdf')")
                      .ok());
      return;
    }
    if (spec.name == kAppDeclaredName) {
      // A row without a directory, its file at the top of the storage root.
      ASSERT_TRUE(WriteFileAtomic(storage + "/120102_notes.txt", "application bytes").ok());
      ASSERT_TRUE(main_
                      ->Exec("INSERT INTO custom.app_attachments (disk_filename, digest) VALUES "
                             "('120102_notes.txt', encode(sha256('application bytes'), 'hex'))")
                      .ok());
      return;
    }
    if (DescriptorOf(spec).under_repository_root) {
      if (spec.model_table == "sample.snippets") {
        ASSERT_TRUE(sample::CreateSnippet(*main_, repos, "conformance").ok());
      } else {
        ASSERT_TRUE(sample::CreateProject(*main_, repos, "conf/app").ok());
      }
      return;
    }
    auto created =
        sample::CreateBlob(*main_, *LocalFiles(storage), spec.name, "bytes of " + spec.name);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // A commit pushed into every repository of the item, so a sync clones
  // real history (an empty one is made without git).
  void CommitToRepositories() {
    std::string work = dir_ + "/work";
    test::Git({"init", "-q", work});
    std::ofstream(work + "/README") << "conformance";
    test::Git({"-C", work, "add", "-A"});
    test::Git({"-C", work, "commit", "-q", "-m", "first"});
    for (const auto& entry : fs::recursive_directory_iterator(dir_ + "/primary/repos")) {
      if (entry.is_directory() && entry.path().extension() == ".git")
        test::Git({"-C", work, "push", "-q", entry.path().string(), "main"});
    }
  }

  std::string dir_;
  ReplicableSpec spec_under_test_;
  site::Site secondary_;
  std::unique_ptr<site::LiveRole> role_;
  std::unique_ptr<api::SiteDirectory> sites_;
  std::unique_ptr<MetricsRegistry> metrics_;
  api::GeoRouteContext geo_;
  api::GitRouteContext git_;
  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  std::string primary_url_;
};

TEST_P(ConformanceTest, PublishedItemIsSyncedAndVerified) {
  const ReplicableSpec& spec = spec_under_test_;
  ASSERT_TRUE(ValidateSpec(spec).ok());

  // Publishing: the triggers install on the model table.
  auto skipped = events::InstallPublishTriggers(*main_, {spec});
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_TRUE(skipped->empty()) << "no model table for " << spec.name;
  ASSERT_TRUE(EnsureRegistryTable(*tracking_, spec).ok());
  events::LogCursor cursor({.standby_conninfo = conninfo_,
                            .tracking_conninfo = tracking_conninfo_,
                            .holder = "cursor",
                            .blobs = LocalFiles(dir_ + "/secondary/storage"),
                            .repository_root = dir_ + "/secondary/repos"},
                           {spec});
  ASSERT_TRUE(cursor.Cycle().ok());  // starts at the newest event

  CreateItem();
  if (DescriptorOf(spec).under_repository_root) CommitToRepositories();

  // The event becomes a pending registry row.
  auto applied = cursor.Cycle();
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_GE(*applied, 1);
  auto rows = tracking_->Exec(
      SpecSql(spec, "SELECT model_id FROM $REG WHERE state = $S_PENDING ORDER BY model_id"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows(), 1) << "one pending row for the new " << spec.name;
  int64_t id = rows->GetInt64(0, 0);

  // The primary checksums it.
  Checksummer checksummer({.main_conninfo = conninfo_,
                           .blobs = LocalFiles(dir_ + "/primary/storage"),
                           .repository_root = dir_ + "/primary/repos",
                           .worker_id = "checksummer"},
                          {spec});
  ASSERT_TRUE(checksummer.Round().ok());
  auto primary_sums = PrimaryChecksums(*main_, spec, {id});
  ASSERT_TRUE(primary_sums.ok()) << primary_sums.status();
  ASSERT_TRUE(primary_sums->contains(id)) << "the primary has no checksum of " << spec.name;
  std::string primary_sum = primary_sums->at(id);

  // A secondary syncs it over HTTP.
  SyncContext ctx = SecondaryContext();
  auto claimed = ClaimBatch(*tracking_, spec, "worker", 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);
  ASSERT_TRUE(ResolvePaths(*main_, spec, *claimed).ok());
  auto syncer = MakeSyncer(spec.strategy, ctx);
  ASSERT_TRUE(syncer->Sync(spec, (*claimed)[0]).ok());

  auto row = tracking_->Exec(
      SpecSql(spec,
              "SELECT state, verification_state, checksum, coalesce(local_path, ''), "
              "coalesce(last_sync_failure, '') FROM $REG WHERE model_id = $1"),
      {absl::StrCat(id)});
  ASSERT_TRUE(row.ok() && row->rows() == 1);
  EXPECT_EQ(row->GetInt64(0, 0), static_cast<int>(SyncState::kSynced)) << row->Get(0, 4);
  EXPECT_EQ(row->GetInt64(0, 1), kVerificationSucceeded);
  EXPECT_EQ(row->Get(0, 2), primary_sum);
  auto local = DescriptorOf(spec).local_checksum(*LocalFiles(dir_ + "/secondary/storage"),
                                                 std::string(row->Get(0, 3)));
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(*local, primary_sum) << "the copy on disk is the primary's";
}

// The syncer's failures, decided by their status codes, for a blob type.
class SyncFailureTest : public ConformanceTest {
 protected:
  // A published, checksummed item, claimed by the secondary's worker.
  struct Claimed {
    int64_t id = 0;
    std::string primary_file;
    std::vector<ClaimedItem> items;
  };
  Claimed PublishAndClaim() {
    Claimed c;
    const ReplicableSpec& spec = spec_under_test_;
    auto skipped = events::InstallPublishTriggers(*main_, {spec});
    EXPECT_TRUE(skipped.ok());
    EXPECT_TRUE(EnsureRegistryTable(*tracking_, spec).ok());
    auto created =
        sample::CreateBlob(*main_, *LocalFiles(dir_ + "/primary/storage"), spec.name, "original");
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return c;
    c.id = created->id;
    EXPECT_TRUE(InsertMissing(*tracking_, spec, {c.id}).ok());
    Checksummer checksummer({.main_conninfo = conninfo_,
                             .blobs = LocalFiles(dir_ + "/primary/storage"),
                             .repository_root = dir_ + "/primary/repos",
                             .worker_id = "checksummer"},
                            {spec});
    EXPECT_TRUE(checksummer.Round().ok());
    auto path =
        main_->Exec(absl::StrCat("SELECT file_path FROM ", spec.model_table, " WHERE id = ", c.id));
    EXPECT_TRUE(path.ok() && path->rows() == 1);
    c.primary_file = dir_ + "/primary/storage/" + std::string(path->Get(0, 0));
    auto claimed = ClaimBatch(*tracking_, spec, "worker", 10);
    EXPECT_TRUE(claimed.ok() && claimed->size() == 1u);
    if (claimed.ok()) c.items = *claimed;
    EXPECT_TRUE(ResolvePaths(*main_, spec, c.items).ok());
    return c;
  }
  absl::Status Sync(const Claimed& c) {
    return MakeSyncer(spec_under_test_.strategy, SecondaryContext())
        ->Sync(spec_under_test_, c.items.at(0));
  }
  // state, verification_state, missing_on_primary, last_sync_failure
  std::vector<std::string> Row(int64_t id) {
    auto r = tracking_->Exec(
        SpecSql(spec_under_test_,
                "SELECT state::text, verification_state::text, missing_on_primary::text, "
                "coalesce(last_sync_failure, ''), coalesce(local_path, '') FROM $REG "
                "WHERE model_id = $1"),
        {absl::StrCat(id)});
    if (!r.ok() || r->rows() != 1) return {};
    return {std::string(r->Get(0, 0)), std::string(r->Get(0, 1)), std::string(r->Get(0, 2)),
            std::string(r->Get(0, 3)), std::string(r->Get(0, 4))};
  }
  int64_t FilesUnder(const std::string& dir) {
    int64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
    return n;
  }
};

TEST_P(SyncFailureTest, BytesThatDoNotMatchThePrimarysChecksumAreNeverInstalled) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  // Changed on the primary behind the application's back: what is served
  // no longer has the checksum the primary recorded.
  ASSERT_TRUE(WriteFileAtomic(c.primary_file, "tampered").ok());
  ASSERT_TRUE(Sync(c).ok());
  auto row = Row(c.id);
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(row[0], absl::StrCat(static_cast<int>(SyncState::kFailed)));
  EXPECT_EQ(row[1], absl::StrCat(static_cast<int>(kVerificationFailed)));
  EXPECT_EQ(row[2], "false");
  EXPECT_NE(row[3].find("does not match the primary's"), std::string::npos) << row[3];
  EXPECT_EQ(FilesUnder(dir_ + "/secondary/storage"), 0) << "nothing installed, no temp file left";
}

TEST_P(SyncFailureTest, AFileMissingOnThePrimaryIsFlaggedSo) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  ASSERT_TRUE(fs::remove(c.primary_file));
  ASSERT_TRUE(Sync(c).ok());
  auto row = Row(c.id);
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(row[0], absl::StrCat(static_cast<int>(SyncState::kFailed)));
  EXPECT_EQ(row[2], "true") << "missing on the primary: the longer backoff";
  EXPECT_NE(row[3].find("404"), std::string::npos) << row[3];
}

TEST_P(SyncFailureTest, ACopyThatCannotBePutInPlaceFailsAndLeavesNoFile) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  // A file stands where the copy's folder must go.
  std::string top = dir_ + "/secondary/storage/" + spec_under_test_.name;
  ASSERT_TRUE(WriteFileAtomic(top, "in the way").ok());
  ASSERT_TRUE(Sync(c).ok());
  auto row = Row(c.id);
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(row[0], absl::StrCat(static_cast<int>(SyncState::kFailed)));
  EXPECT_EQ(row[2], "false");
  EXPECT_NE(row[3].find(top), std::string::npos) << row[3];
  EXPECT_EQ(FilesUnder(dir_ + "/secondary/storage/.georep-tmp"), 0) << "no temp file left";
}

// Reaching no server says nothing of the item: it is not counted against
// it (no growing backoff), and the daemon's workers learn that the primary
// is unreachable, which holds claims until a probe finds it answering.
TEST_P(SyncFailureTest, APrimaryNotReachedCostsTheItemNoRetry) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  server_.reset();  // the primary's port now refuses connections
  SyncContext ctx = SecondaryContext();
  ctx.primary_unreachable = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(MakeSyncer(spec_under_test_.strategy, ctx)->Sync(spec_under_test_, c.items[0]).ok());
  EXPECT_TRUE(ctx.primary_unreachable->load());
  auto row =
      tracking_->Exec(SpecSql(spec_under_test_,
                              "SELECT state, retry_count, retry_at <= now() + interval '1 second', "
                              "last_sync_failure FROM $REG WHERE model_id = $1"),
                      {absl::StrCat(c.id)});
  ASSERT_TRUE(row.ok() && row->rows() == 1);
  EXPECT_EQ(row->GetInt64(0, 0), static_cast<int>(SyncState::kFailed));
  EXPECT_EQ(row->GetInt64(0, 1), 0) << "not counted as one of the item's failures";
  EXPECT_EQ(row->Get(0, 2), "t") << "due again as soon as the primary answers";
  EXPECT_NE(row->Get(0, 3).find("Couldn't connect"), absl::string_view::npos) << row->Get(0, 3);
}

// A former primary re-attached as a secondary already holds its files: an
// identical one is adopted, a different one replaced by the download.
TEST_P(SyncFailureTest, AnIdenticalFileAlreadyInPlaceIsAdoptedWithoutADownload) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  ASSERT_TRUE(c.items[0].path.has_value());
  std::string local = dir_ + "/secondary/storage/" + *c.items[0].path;
  ASSERT_TRUE(MakeDirs(fs::path(local).parent_path().string()).ok());
  fs::copy_file(c.primary_file, local);
  // Gone from the primary: only an adoption can succeed now.
  ASSERT_TRUE(fs::remove(c.primary_file));
  ASSERT_TRUE(Sync(c).ok());
  auto row = Row(c.id);
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(row[0], absl::StrCat(static_cast<int>(SyncState::kSynced))) << row[3];
  EXPECT_EQ(row[1], absl::StrCat(static_cast<int>(kVerificationSucceeded)));
  EXPECT_EQ(row[4], local);
  EXPECT_EQ(*ReadFile(local), "original");
}

TEST_P(SyncFailureTest, ADifferentFileInPlaceIsReplacedByTheDownload) {
  Claimed c = PublishAndClaim();
  ASSERT_FALSE(c.items.empty());
  ASSERT_TRUE(c.items[0].path.has_value());
  std::string local = dir_ + "/secondary/storage/" + *c.items[0].path;
  ASSERT_TRUE(MakeDirs(fs::path(local).parent_path().string()).ok());
  ASSERT_TRUE(WriteFileAtomic(local, "stale bytes").ok());
  ASSERT_TRUE(Sync(c).ok());
  auto row = Row(c.id);
  ASSERT_EQ(row.size(), 5u);
  EXPECT_EQ(row[0], absl::StrCat(static_cast<int>(SyncState::kSynced))) << row[3];
  EXPECT_EQ(row[1], absl::StrCat(static_cast<int>(kVerificationSucceeded)));
  EXPECT_EQ(*ReadFile(local), "original");
}

INSTANTIATE_TEST_SUITE_P(Blob, SyncFailureTest, ::testing::Values("upload"));

INSTANTIATE_TEST_SUITE_P(EveryReplicable, ConformanceTest, ::testing::ValuesIn(AllNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace georep::framework
