// A real application no one here wrote: Redmine 5 from Debian (`redmine`,
// `redmine-pgsql`, served by `thin`), replicated with nothing but the block
// in examples/redmine/georep.toml.
//
// Redmine on the primary runs against the `redmine` database of the demo's
// primary cluster, as its own role (which has no right on Georep's schema),
// migrated by its own `rake db:migrate`. An attachment is uploaded through
// its REST API and attached to an issue; a legacy row (NULL disk_directory,
// an MD5 digest, as Redmine before 2.3 and 3.4 wrote them) is added beside
// it. Georep replicates and verifies both; a second Redmine on the
// secondary, read-only against the standby and the secondary's storage
// root and run as www-data, serves both with identical bytes, and refuses a
// write leaving neither a row nor a file. Redmine's delete of an attachment
// removes the secondary's copy.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/random.h"
#include "util/sha256.h"
#include "util/subprocess.h"

namespace georep {
namespace {

namespace fs = std::filesystem;

constexpr char kRedmineRoot[] = "/usr/share/redmine";
constexpr char kReplicable[] = "redmine_attachment";

// "key=value" pairs of a libpq conninfo as the demo writes them.
std::map<std::string, std::string> ConninfoParts(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  for (absl::string_view kv : absl::StrSplit(conninfo, ' ', absl::SkipEmpty())) {
    auto eq = kv.find('=');
    if (eq != absl::string_view::npos)
      out[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  return out;
}

// One Redmine instance (Debian's multi-tenancy: REDMINE_INSTANCE names
// /var/lib/redmine/<name>, here a link to a folder of the test's own).
class Redmine {
 public:
  // A read-only instance runs as www-data, as the guide advises: it may read
  // the secondary's storage root (and write only its own folder), so a write
  // it attempts is refused before anything reaches the disk.
  Redmine(const std::string& dir, const std::string& conninfo, const std::string& storage,
          bool read_only)
      : dir_(dir),
        name_(absl::StrCat("georep-e2e-", getpid(), "-", fs::path(dir).filename().string())) {
    for (const char* d : {"/config", "/log", "/tmp", "/public/plugin_assets"})
      fs::create_directories(dir_ + d);
    auto db = ConninfoParts(conninfo);
    std::string yml = absl::StrCat("production:\n  adapter: postgresql\n  host: ", db["host"],
                                   "\n  port: ", db["port"], "\n  database: ", db["dbname"],
                                   "\n  username: redmine\n  encoding: utf8\n");
    // On a standby every transaction is read-only anyway; saying so makes
    // Redmine's own sessions read-only as well.
    if (read_only) yml += "  variables:\n    default_transaction_read_only: 'on'\n";
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/config/database.yml", yml).ok());
    EXPECT_TRUE(
        WriteFileAtomic(dir_ + "/config/configuration.yml",
                        absl::StrCat("production:\n  attachments_storage_path: ", storage, "\n"))
            .ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/config/secret_key.txt", RandomHex(32)).ok());
    std::error_code ec;
    fs::create_directory_symlink(dir_, Link(), ec);
    EXPECT_FALSE(ec) << Link() << ": " << ec.message();
    if (read_only) {
      user_ = "www-data";
      auto owned = Run({"chown", "-R", user_ + ":" + user_, dir_});
      EXPECT_TRUE(owned.ok() && owned->exit_code == 0);
    }
  }
  ~Redmine() {
    if (pid_ > 0) {
      kill(-pid_, SIGTERM);
      test::WaitFor([&] { return !ProcessAlive(pid_); }, 20);
      if (ProcessAlive(pid_)) kill(-pid_, SIGKILL);
    }
    std::error_code ec;
    fs::remove(Link(), ec);
  }

  std::string Link() const { return absl::StrCat(kRedmineRoot, "/instances/", name_); }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::string log() const { return dir_ + "/log/production.log"; }

  // Ruby in Redmine's folder, for this instance; its output.
  absl::StatusOr<std::string> Ruby(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"ruby"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunChecked(argv, {.cwd = kRedmineRoot, .extra_env = Env()});
  }

  // `rails server` (thin) on a free loopback port; true once it answers.
  bool Serve() {
    auto port = FreeTcpPort();
    if (!port.ok()) return false;
    port_ = *port;
    std::vector<std::string> argv = {
        "sh", "-c",
        absl::StrCat("cd ", kRedmineRoot, " && exec ruby bin/rails server -e production -b ",
                     "127.0.0.1 -p ", port_, " -P ", dir_, "/tmp/server.pid")};
    if (!user_.empty()) argv.insert(argv.begin(), {"runuser", "-u", user_, "--"});
    auto pid = SpawnDetached(argv, dir_ + "/log/server.log", Env());
    if (!pid.ok()) return false;
    pid_ = *pid;
    return test::WaitFor(
        [&] {
          auto r = transport::HttpRequest(url() + "/", {.timeout_seconds = 5});
          return r.ok() && r->status == 200;
        },
        180);
  }

  transport::HttpResult Request(const std::string& method, const std::string& path,
                                const std::string& body, std::vector<std::string> headers) const {
    headers.push_back("X-Redmine-API-Key: " + api_key);
    auto r = transport::HttpRequest(
        url() + path, {.method = method, .body = body, .headers = headers, .timeout_seconds = 60});
    if (!r.ok()) return {.status = 0, .body = std::string(r.status().message())};
    return *r;
  }

  std::string api_key;

 private:
  std::vector<std::string> Env() const {
    return {"REDMINE_INSTANCE=" + name_, "RAILS_ENV=production", "HOME=" + dir_ + "/tmp"};
  }
  std::string dir_;
  std::string name_;
  std::string user_;  // else this process's (root)
  int port_ = 0;
  pid_t pid_ = -1;
};

// Appends the example block to a site's configuration and restarts it.
void DeclareRedmineAttachments(test::Topology& topo) {
  auto block = ReadFile(std::string(GEOREP_SOURCE_DIR) + "/examples/redmine/georep.toml");
  ASSERT_TRUE(block.ok()) << block.status();
  for (const char* site : {"primary", "secondary-1"}) {
    std::ofstream(topo.Config(site), std::ios::app) << "\n" << *block;
    kill(topo.Pid(site), SIGTERM);
    ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(topo.Pid(site)); }, 30));
  }
  ASSERT_TRUE(topo.Up({"--seed", "0"}));
}

// Redmine on the primary as an administrator sets it up: its own role,
// owning its database (and so its public schema) with no right on Georep's
// schema, migrated, its default data, its REST API on, a public project
// "geo", the admin's API key; Georep told of its attachments by the example
// block alone, which `georep check` finds fits Redmine's table. Serving.
void StartPrimaryRedmine(test::Topology& topo, std::unique_ptr<Redmine>* out) {
  auto main = topo.MainDb("primary");
  ASSERT_TRUE(
      main->ExecScript("CREATE ROLE redmine LOGIN; ALTER DATABASE redmine OWNER TO redmine").ok());
  auto primary =
      std::make_unique<Redmine>(topo.dir() + "/redmine-primary", topo.Site("primary")["main_db"],
                                topo.Site("primary")["storage_root"],
                                /*read_only=*/false);
  auto migrated = primary->Ruby({"bin/rake", "db:migrate"});
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  auto setup = primary->Ruby(
      {"bin/rails", "runner",
       "Redmine::DefaultData::Loader.load('en') unless Tracker.exists?\n"
       "Setting.rest_api_enabled = '1'\n"
       "p = Project.find_by_identifier('geo') || Project.create!(name: 'Geo', identifier: "
       "'geo', is_public: true, tracker_ids: Tracker.pluck(:id), enabled_module_names: "
       "['issue_tracking'])\n"
       "puts \"API_KEY=#{User.find_by_login('admin').api_key}\"\n"});
  ASSERT_TRUE(setup.ok()) << setup.status();
  auto at = setup->find("API_KEY=");
  ASSERT_NE(at, std::string::npos) << *setup;
  primary->api_key = setup->substr(at + 8, 40);
  DeclareRedmineAttachments(topo);
  auto checked = test::RunGeorep({"check", "--config", topo.Config("primary")});
  EXPECT_NE(checked.output.find("public.attachments: id, path and checksum column accepted by "
                                "the database"),
            std::string::npos)
      << checked.output;
  ASSERT_TRUE(primary->Serve())
      << ReadFile(topo.dir() + "/redmine-primary/log/server.log").value_or("");
  *out = std::move(primary);
}

// An issue with one attachment through Redmine's REST API: the upload, then
// the issue that references it. The issue's id, or the HTTP status of the
// step that failed (negative).
int64_t CreateIssueWithAttachment(const Redmine& redmine, const std::string& bytes,
                                  const std::string& subject) {
  auto upload = redmine.Request("POST", "/uploads.json?filename=report.bin", bytes,
                                {"Content-Type: application/octet-stream"});
  if (upload.status != 201) return -upload.status - 1;
  auto token = nlohmann::json::parse(upload.body, nullptr, false);
  if (!token.is_object()) return -1;
  nlohmann::json issue = {{"issue",
                           {{"project_id", "geo"},
                            {"subject", subject},
                            {"uploads",
                             {{{"token", token["upload"]["token"]},
                               {"filename", "report.bin"},
                               {"content_type", "application/octet-stream"}}}}}}};
  auto created =
      redmine.Request("POST", "/issues.json", issue.dump(), {"Content-Type: application/json"});
  if (created.status != 201) return -created.status - 1;
  auto j = nlohmann::json::parse(created.body, nullptr, false);
  return j.is_object() ? j["issue"]["id"].get<int64_t>() : -1;
}

TEST(RedmineTest, AttachmentsReplicateWithOnlyTheExampleBlockAndAReadOnlyRedmineServesThem) {
  ASSERT_TRUE(fs::exists(std::string(kRedmineRoot) + "/bin/rails"))
      << "Redmine is not installed: scripts/install-deps installs Debian's redmine, "
         "redmine-pgsql and thin";
  test::Topology topo({"--secondaries", "1", "--seed", "0", "--main-database", "redmine"});
  ASSERT_TRUE(topo.ok()) << topo.up_output();

  std::unique_ptr<Redmine> started;
  StartPrimaryRedmine(topo, &started);
  ASSERT_TRUE(started);
  Redmine& primary = *started;
  auto main = topo.MainDb("primary");
  const std::string primary_storage = topo.Site("primary")["storage_root"];
  const std::string secondary_storage = topo.Site("secondary-1")["storage_root"];

  // An attachment through Redmine's REST API: the upload, then an issue
  // that references it.
  std::string bytes(300 * 1024, '\0');
  std::mt19937 random(7);
  for (char& c : bytes) c = static_cast<char>(random());
  bytes[0] = '\0';
  auto upload = primary.Request("POST", "/uploads.json?filename=report.bin", bytes,
                                {"Content-Type: application/octet-stream"});
  ASSERT_EQ(upload.status, 201) << upload.body;
  std::string token = nlohmann::json::parse(upload.body)["upload"]["token"];
  nlohmann::json issue = {{"issue",
                           {{"project_id", "geo"},
                            {"subject", "Replicated by Georep"},
                            {"uploads",
                             {{{"token", token},
                               {"filename", "report.bin"},
                               {"content_type", "application/octet-stream"}}}}}}};
  auto created =
      primary.Request("POST", "/issues.json", issue.dump(), {"Content-Type: application/json"});
  ASSERT_EQ(created.status, 201) << created.body;
  int64_t issue_id = nlohmann::json::parse(created.body)["issue"]["id"];
  auto shown = primary.Request(
      "GET", absl::StrCat("/issues/", issue_id, ".json?include=attachments"), "", {});
  ASSERT_EQ(shown.status, 200) << shown.body;
  auto attachments = nlohmann::json::parse(shown.body)["issue"]["attachments"];
  ASSERT_EQ(attachments.size(), 1u) << shown.body;
  int64_t uploaded_id = attachments[0]["id"];

  // A legacy attachment: no disk_directory, the file at the top of the
  // storage path, an MD5 digest.
  const std::string legacy_bytes = "a file attached before Redmine 2.3\n";
  ASSERT_TRUE(WriteFileAtomic(primary_storage + "/060102030405_legacy.txt", legacy_bytes).ok());
  auto legacy = main->Exec(
      "INSERT INTO public.attachments (container_id, container_type, filename, disk_filename, "
      "filesize, content_type, digest, author_id, created_on, disk_directory) VALUES ($1, "
      "'Issue', 'legacy.txt', '060102030405_legacy.txt', $2, 'text/plain', md5($3), 1, "
      "'2006-01-02', NULL) RETURNING id",
      {absl::StrCat(issue_id), absl::StrCat(legacy_bytes.size()), legacy_bytes});
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  int64_t legacy_id = legacy->GetInt64(0, 0);

  // Both replicate and verify on the secondary.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return topo.Count("secondary-1", kReplicable, "synced") == 2 &&
               topo.Count("secondary-1", kReplicable, "verified") == 2;
      },
      120))
      << topo.Status("secondary-1").dump();
  auto stored = main->Exec(
      "SELECT disk_directory, disk_filename, digest FROM public.attachments "
      "WHERE id = $1",
      {absl::StrCat(uploaded_id)});
  ASSERT_TRUE(stored.ok() && stored->rows() == 1);
  const std::string rel = absl::StrCat(stored->Get(0, 0), "/", stored->Get(0, 1));
  EXPECT_EQ(ReadFile(secondary_storage + "/" + rel).value_or(""), bytes);
  EXPECT_EQ(ReadFile(secondary_storage + "/060102030405_legacy.txt").value_or(""), legacy_bytes);
  // The primary's checksums: Redmine's own SHA-256 for the upload; the
  // legacy row's MD5 is no SHA-256, so its file was hashed.
  EXPECT_EQ(std::string(stored->Get(0, 2)), Sha256Hex(bytes));
  auto sums = main->Exec(
      "SELECT model_id, checksum FROM georep.redmine_attachment_states ORDER BY model_id");
  ASSERT_TRUE(sums.ok() && sums->rows() == 2);
  EXPECT_EQ(sums->GetInt64(0, 0), uploaded_id);
  EXPECT_EQ(std::string(sums->Get(0, 1)), Sha256Hex(bytes));
  EXPECT_EQ(sums->GetInt64(1, 0), legacy_id);
  EXPECT_EQ(std::string(sums->Get(1, 1)), Sha256Hex(legacy_bytes));

  // A second Redmine on the secondary: the standby's database (read-only),
  // the secondary's storage root.
  Redmine secondary(topo.dir() + "/redmine-secondary", topo.Site("secondary-1")["main_db"],
                    secondary_storage, /*read_only=*/true);
  secondary.api_key = primary.api_key;  // the same users: the same database
  ASSERT_TRUE(secondary.Serve())
      << ReadFile(topo.dir() + "/redmine-secondary/log/server.log").value_or("");
  for (auto [id, expect] :
       {std::pair<int64_t, std::string>{uploaded_id, bytes}, {legacy_id, legacy_bytes}}) {
    auto got = secondary.Request("GET", absl::StrCat("/attachments/download/", id), "", {});
    EXPECT_EQ(got.status, 200) << id << ": " << got.body.substr(0, 300);
    EXPECT_TRUE(got.body == expect) << "attachment " << id << " differs on the secondary";
  }
  // A read-only Redmine cannot write: an upload is an error, no row
  // appears, and, its user unable to write the storage root, no file either.
  auto files = [&] {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(secondary_storage))
      n += e.is_regular_file() && e.path().string().find("/.georep-tmp/") == std::string::npos;
    return n;
  };
  int files_before = files();
  auto refused = secondary.Request("POST", "/uploads.json?filename=x.bin", "x",
                                   {"Content-Type: application/octet-stream"});
  EXPECT_EQ(refused.status, 500) << refused.body;
  auto count = main->Exec("SELECT count(*) FROM public.attachments");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->GetInt64(0, 0), 2);
  EXPECT_EQ(files(), files_before) << "a refused upload left a file in the secondary's storage";
  auto log = ReadFile(secondary.log()).value_or("");
  EXPECT_NE(log.find("Permission denied"), std::string::npos) << log.substr(0, 2000);

  // Redmine deletes the legacy attachment (its row and its file): the
  // secondary's copy goes too, found at the path of the deleted row.
  auto deleted =
      primary.Request("DELETE", absl::StrCat("/attachments/", legacy_id, ".json"), "", {});
  EXPECT_EQ(deleted.status, 204) << deleted.body;
  EXPECT_TRUE(test::WaitFor(
      [&] { return !fs::exists(secondary_storage + "/060102030405_legacy.txt"); }, 60))
      << "the copy of a deleted attachment stayed";
  EXPECT_TRUE(
      test::WaitFor([&] { return topo.Count("secondary-1", kReplicable, "synced") == 1; }, 30));
}

// A planned failover with Redmine writing: issues with attachments created
// through its REST API in a loop while `georep promote` runs. Every issue
// Redmine acknowledged (HTTP 201) is on the new primary with its
// attachment's bytes; after the fence Redmine on the old primary answers
// errors, not successes.
TEST(RedmineTest, APlannedFailoverKeepsEveryIssueAndAttachmentRedmineAcknowledged) {
  ASSERT_TRUE(fs::exists(std::string(kRedmineRoot) + "/bin/rails"))
      << "Redmine is not installed: scripts/install-deps installs Debian's redmine, "
         "redmine-pgsql and thin";
  test::Topology topo({"--secondaries", "1", "--seed", "0", "--main-database", "redmine"});
  ASSERT_TRUE(topo.ok()) << topo.up_output();
  std::unique_ptr<Redmine> redmine;
  StartPrimaryRedmine(topo, &redmine);
  ASSERT_TRUE(redmine);

  struct Acked {
    int64_t issue;
    std::string sha256;
    double at;  // when Redmine answered
  };
  std::mutex mu;
  std::vector<Acked> acked;
  int refused = 0;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937 random(11);
    for (int i = 0; !stop.load(); ++i) {
      std::string bytes(4096 + random() % 65536, '\0');
      for (char& c : bytes) c = static_cast<char>(random());
      int64_t issue = CreateIssueWithAttachment(*redmine, bytes, absl::StrCat("load ", i));
      std::lock_guard<std::mutex> lock(mu);
      if (issue > 0) {
        acked.push_back({issue, Sha256Hex(bytes), MonotonicSeconds()});
      } else {
        ++refused;
      }
    }
  });
  ASSERT_TRUE(test::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= 5;
      },
      120));
  auto promote = test::RunGeorep({"promote", "--config", topo.Config("secondary-1"), "--json"});
  const double promoted_at = MonotonicSeconds();
  // Redmine on the old primary, asked again after the promotion returned.
  int refused_before = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    refused_before = refused;
  }
  size_t acked_before = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    acked_before = acked.size();
  }
  // Three more answers either way: refusals, or (without a fence) commits.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return refused >= refused_before + 3 || acked.size() >= acked_before + 3;
      },
      120));
  stop = true;
  writer.join();
  ASSERT_EQ(promote.exit_code, 0) << promote.output;

  // Every acknowledged issue is on the new primary, with its attachment's
  // bytes in its storage.
  auto promoted = topo.MainDb("secondary-1");
  const std::string storage = topo.Site("secondary-1")["storage_root"];
  int present = 0, after_promote = 0;
  for (const Acked& a : acked) {
    if (a.at > promoted_at) ++after_promote;
    auto r = promoted->Exec(
        "SELECT a.disk_directory, a.disk_filename, a.digest FROM public.issues i JOIN "
        "public.attachments a ON a.container_type = 'Issue' AND a.container_id = i.id "
        "WHERE i.id = $1",
        {absl::StrCat(a.issue)});
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->rows() != 1) {
      ADD_FAILURE() << "issue " << a.issue << " acknowledged by Redmine is not on the new primary";
      continue;
    }
    EXPECT_EQ(std::string(r->Get(0, 2)), a.sha256) << "issue " << a.issue;
    auto sha = Sha256File(absl::StrCat(storage, "/", r->Get(0, 0), "/", r->Get(0, 1)));
    EXPECT_TRUE(sha.ok() && *sha == a.sha256)
        << "the attachment of issue " << a.issue << " is not on the new primary's storage";
    present += sha.ok() && *sha == a.sha256;
  }
  EXPECT_EQ(after_promote, 0) << "Redmine on the old primary acknowledged issues after promote";
  EXPECT_EQ(present, static_cast<int>(acked.size()));
  // Redmine on the old primary: an error, not a success.
  EXPECT_LT(CreateIssueWithAttachment(*redmine, "after the fence", "after"), 0);
  std::printf(
      "Redmine under failover: %zu issues with attachments acknowledged, %d on the new primary "
      "with their bytes, %d acknowledged after promote returned, %d refused\n",
      acked.size(), present, after_promote, refused);
}

}  // namespace
}  // namespace georep
