// The georep binary as an operator runs it: settings errors, database errors,
// site verbs, and the daemon's start-up checks and clean shutdown.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/subprocess.h"

namespace georep {
namespace {

using test::RunGeorep;

class CliTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    dir_ = test::MakeTempDir("cli");
  }
  void TearDown() override {
    test::RemoveTree(dir_);
    test::PgTest::TearDown();
  }
  // Writes a config whose main DB is this test's database.
  std::string WriteConfig(const std::string& extra = "", const std::string& site = "primary",
                          const std::string& main = "") {
    std::string path = dir_ + "/georep.toml";
    EXPECT_TRUE(WriteFileAtomic(path, absl::StrCat("site_name = \"", site, "\"\n", extra,
                                                   "\n[database]\nmain = \"",
                                                   main.empty() ? conninfo_ : main, "\"\n"))
                    .ok());
    return path;
  }
  std::string dir_;
};

TEST_F(CliTest, HelpExplainsEveryVerb) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"serve", "--help"},
                                        {"db", "migrate", "--help"},
                                        {"site", "add", "--help"},
                                        {"site", "list", "--help"},
                                        {"status", "--help"},
                                        {"demo", "up", "--help"},
                                        {"demo", "down", "--help"}}) {
    auto r = RunGeorep(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << r.output;
  }
  EXPECT_NE(RunGeorep({"serve", "--help"}).output.find("GEOREP_DATABASE_MAIN"), std::string::npos);
  EXPECT_NE(RunGeorep({"no-such-verb"}).exit_code, 0);
}

// The version, by flag and by verb; usage errors exit 2 and say what is wrong.
TEST_F(CliTest, VersionAndUsageErrorsHaveConventionalExitCodes) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--version"}, std::vector<std::string>{"version"}}) {
    auto r = RunGeorep(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.output;
    EXPECT_TRUE(r.output.starts_with("georep 0.")) << r.output;
    // Built from this checkout: the commit is named.
    EXPECT_NE(r.output.find("(commit "), std::string::npos) << r.output;
  }
  for (std::vector<std::string> args :
       {std::vector<std::string>{}, std::vector<std::string>{"no-such-verb"},
        std::vector<std::string>{"no-such-verb", "--help"},
        std::vector<std::string>{"serve", "--no-such-option"},
        std::vector<std::string>{"site", "add"},
        std::vector<std::string>{"demo", "up", "--seed", "x"}}) {
    auto r = RunGeorep(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "(no verb)" : args.back()) << ": " << r.output;
    EXPECT_FALSE(r.output.empty());
  }
  EXPECT_NE(RunGeorep({"--help"}).output.find("Exit status: 0"), std::string::npos);
}

// docs/configuration.md is what the parser's own table says, setting for
// setting: regenerate it with `georep config reference > docs/configuration.md`.
TEST_F(CliTest, TheConfigurationReferenceIsTheParsersTable) {
  auto r = RunGeorep({"config", "reference"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto doc = ReadFile(std::string(GEOREP_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(*doc == r.output)
      << "docs/configuration.md is stale: georep config reference > docs/configuration.md";
  for (const char* key :
       {"`storage.kind`", "`GEOREP_DATABASE_MAIN`", "`auth.secret_access_key_file`"})
    EXPECT_NE(r.output.find(key), std::string::npos) << key;
}

// A mistyped key, in the file or the environment, is refused with the
// nearest real one.
TEST_F(CliTest, AnUnknownSettingSuggestsTheNearestOne) {
  const std::string path = dir_ + "/typo.toml";
  ASSERT_TRUE(WriteFileAtomic(path,
                              "site_name = \"x\"\n[database]\nmain = \"dbname=x\"\n"
                              "[storage]\nroots = \"/tmp\"\n")
                  .ok());
  auto r = RunGeorep({"check", "--config", path});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown setting \"storage.roots\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean \"storage.root\"?"), std::string::npos) << r.output;
  ASSERT_TRUE(WriteFileAtomic(path, "site_name = \"x\"\n[database]\nmain = \"dbname=x\"\n").ok());
  auto env = RunGeorep({"check", "--config", path}, {"GEOREP_STORAGE_RUT=/tmp"});
  EXPECT_EQ(env.exit_code, 2) << env.output;
  EXPECT_NE(env.output.find("did you mean \"GEOREP_STORAGE_ROOT\"?"), std::string::npos)
      << env.output;
  // A secret in a file.
  const std::string secret = dir_ + "/secret";
  ASSERT_TRUE(WriteFileAtomic(secret, "s3cr3t\n", 0600).ok());
  auto loaded =
      config::LoadConfig(path, [&](const std::string& name) -> std::optional<std::string> {
        if (name == "GEOREP_AUTH_SECRET_ACCESS_KEY_FILE") return secret;
        return std::nullopt;
      });
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->secret_access_key, "s3cr3t");
  EXPECT_EQ(config::RenderConfig(*loaded).find("s3cr3t"), std::string::npos)
      << "a secret read from its file is not written out";
}

// Without --config: $GEOREP_CONFIG, else ./georep.toml where there is one,
// else the installed /etc/georep/georep.toml; the error names the file read.
TEST_F(CliTest, TheDefaultConfigurationIsNamedWhereItWasLookedFor) {
  auto in = [&](const std::string& cwd, const std::vector<std::string>& env) {
    std::vector<std::string> argv = {test::GeorepBinary(), "status"};
    auto r = georep::Run(argv, {.cwd = cwd, .extra_env = env});
    return r.ok() ? *r : CommandResult{127, std::string(r.status().message())};
  };
  auto installed = in(dir_, {});
  EXPECT_EQ(installed.exit_code, 2) << installed.output;
  EXPECT_NE(installed.output.find("/etc/georep/georep.toml"), std::string::npos)
      << installed.output;
  auto named = in(dir_, {"GEOREP_CONFIG=" + dir_ + "/elsewhere.toml"});
  EXPECT_EQ(named.exit_code, 2) << named.output;
  EXPECT_NE(named.output.find(dir_ + "/elsewhere.toml"), std::string::npos) << named.output;
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/georep.toml", "not = [toml").ok());
  auto here = in(dir_, {});
  EXPECT_EQ(here.exit_code, 2) << here.output;
  EXPECT_NE(here.output.find("georep.toml"), std::string::npos) << here.output;
  EXPECT_EQ(here.output.find("/etc/georep"), std::string::npos) << here.output;
}

TEST_F(CliTest, MissingConfigNamesTheFile) {
  auto r = RunGeorep({"serve", "--config", dir_ + "/missing.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output,
            "georep: config file " + dir_ + "/missing.toml: not found (pass --config PATH)\n");
}

TEST_F(CliTest, BadSettingValueStopsStartUpWithOneLine) {
  std::string path = WriteConfig("[log]\nlevel = \"loud\"\n");
  auto r = RunGeorep({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "georep: setting \"log.level\" in " + path +
                          ": \"loud\" is not one of debug, info, warn, error\n");
}

TEST_F(CliTest, UnreachableDatabaseIsNamed) {
  int port = *FreeTcpPort();
  std::string path =
      WriteConfig("", "primary",
                  absl::StrCat("host=127.0.0.1 port=", port, " dbname=x user=u password=hunter2"));
  auto r = RunGeorep({"serve", "--config", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("main database (setting \"database.main\" in " + path), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(absl::StrCat("port=", port)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Connection refused"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("hunter2"), std::string::npos) << "password leaked: " << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST_F(CliTest, UnmigratedDatabaseAndUnknownSiteStopStartUp) {
  std::string path = WriteConfig("", "nope");
  auto unmigrated = RunGeorep({"serve", "--config", path});
  EXPECT_EQ(unmigrated.exit_code, 1);
  EXPECT_NE(unmigrated.output.find("run `georep db migrate`"), std::string::npos)
      << unmigrated.output;

  auto migrated = RunGeorep({"db", "migrate", "--config", path});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  EXPECT_NE(migrated.output.find("main database"), std::string::npos) << migrated.output;

  auto unknown = RunGeorep({"serve", "--config", path});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.output, "georep serve: setting \"site_name\" in " + path +
                                ": no site named \"nope\" in geo_nodes of database (" +
                                db::RedactConninfo(conninfo_) + ")\n");
}

// `db migrate --status` lists what is applied and pending; a schema a newer
// georep migrated is refused by migrate and serve alike, naming why.
TEST_F(CliTest, MigrationStatusAndASchemaNewerThanTheBinary) {
  std::string path = WriteConfig("", "s");
  auto before = RunGeorep({"db", "migrate", "--status", "--config", path});
  EXPECT_EQ(before.exit_code, 1) << before.output;
  EXPECT_NE(before.output.find("pending: run `georep db migrate`"), std::string::npos)
      << before.output;
  EXPECT_NE(before.output.find("  1  sites and event log"), std::string::npos) << before.output;
  ASSERT_EQ(RunGeorep({"db", "migrate", "--config", path}).exit_code, 0);
  auto after = RunGeorep({"db", "migrate", "--status", "--config", path});
  EXPECT_EQ(after.exit_code, 0) << after.output;
  EXPECT_NE(after.output.find("up to date"), std::string::npos) << after.output;
  EXPECT_EQ(after.output.find("pending"), std::string::npos) << after.output;

  auto conn = db::Connection::Open(conninfo_);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)
                  ->Exec("INSERT INTO georep.schema_migrations (version, name) "
                         "VALUES (999, 'from the future')")
                  .ok());
  auto newer = RunGeorep({"db", "migrate", "--status", "--config", path});
  EXPECT_EQ(newer.exit_code, 1) << newer.output;
  EXPECT_NE(newer.output.find("999  from the future"), std::string::npos) << newer.output;
  EXPECT_NE(newer.output.find("applied by a newer georep"), std::string::npos) << newer.output;
  auto migrate = RunGeorep({"db", "migrate", "--config", path});
  EXPECT_EQ(migrate.exit_code, 1) << migrate.output;
  EXPECT_NE(migrate.output.find("newer than this georep knows"), std::string::npos)
      << migrate.output;
  auto serve = RunGeorep({"serve", "--config", path});
  EXPECT_NE(serve.exit_code, 0) << serve.output;
  EXPECT_NE(serve.output.find("is at schema version 999, newer than this georep knows"),
            std::string::npos)
      << serve.output;
}

TEST_F(CliTest, TrackingMigrationsAgainstAMainDatabaseAreRefused) {
  std::string path = WriteConfig(absl::StrCat(""), "s");
  ASSERT_EQ(RunGeorep({"db", "migrate", "--config", path}).exit_code, 0);
  // Point the tracking setting at the same (main) database.
  auto r = RunGeorep({"db", "migrate", "--config", path, "--database", "tracking"},
                     {"GEOREP_DATABASE_TRACKING=" + conninfo_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is a Georep main database, not a tracking database"), std::string::npos)
      << r.output;
}

TEST_F(CliTest, SiteVerbs) {
  std::string path = WriteConfig();
  ASSERT_EQ(RunGeorep({"db", "migrate", "--config", path}).exit_code, 0);
  auto add = RunGeorep(
      {"site", "add", "primary", "--primary", "--url", "http://127.0.0.1:1", "--config", path});
  ASSERT_EQ(add.exit_code, 0) << add.output;
  auto add2 =
      RunGeorep({"site", "add", "eu-west", "--url", "https://eu.example", "--config", path});
  ASSERT_EQ(add2.exit_code, 0) << add2.output;
  EXPECT_NE(add2.output.find("secret_access_key = \""), std::string::npos);
  std::string secret = add2.output.substr(add2.output.find("secret_access_key = \"") + 21, 64);

  auto dup = RunGeorep({"site", "add", "eu-west", "--url", "https://eu.example", "--config", path});
  EXPECT_EQ(dup.exit_code, 2);
  EXPECT_EQ(dup.output, "georep site add: site \"eu-west\" already exists\n");
  auto bad_url = RunGeorep({"site", "add", "x", "--url", "not a url", "--config", path});
  EXPECT_EQ(bad_url.exit_code, 2);

  ASSERT_EQ(RunGeorep({"site", "disable", "eu-west", "--config", path}).exit_code, 0);
  auto list = RunGeorep({"site", "list", "--json", "--config", path});
  ASSERT_EQ(list.exit_code, 0);
  auto j = nlohmann::json::parse(list.output);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["name"], "eu-west");
  EXPECT_EQ(j[1]["enabled"], false);
  EXPECT_EQ(j[0]["role"], "primary");
  EXPECT_EQ(list.output.find(secret), std::string::npos) << "secret shown again";

  EXPECT_EQ(RunGeorep({"site", "remove", "eu-west", "--config", path}).exit_code, 0);
  auto again = RunGeorep({"site", "remove", "eu-west", "--config", path});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.output.find("no site named \"eu-west\""), std::string::npos);
}

TEST_F(CliTest, PrimaryDaemonServesStatusAndStopsOnSigterm) {
  int port = *FreeTcpPort();
  std::string path = WriteConfig(absl::StrCat("[http]\nlisten = \"127.0.0.1:", port, "\"\n"));
  ASSERT_EQ(RunGeorep({"db", "migrate", "--config", path}).exit_code, 0);
  ASSERT_EQ(
      RunGeorep({"site", "add", "primary", "--primary", "--url", "http://x", "--config", path})
          .exit_code,
      0);
  auto pid = SpawnDetached({test::GeorepBinary(), "serve", "--config", path}, dir_ + "/serve.log");
  ASSERT_TRUE(pid.ok());
  std::string base = absl::StrCat("http://127.0.0.1:", port);
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = transport::HttpRequest(base + "/api/v1/health", {.timeout_seconds = 1});
        return r.ok() && r->status == 200;
      },
      10))
      << *ReadFile(dir_ + "/serve.log");
  auto status = transport::HttpRequest(base + "/api/v1/status");
  ASSERT_TRUE(status.ok());
  auto j = nlohmann::json::parse(status->body);
  EXPECT_EQ(j["site"], "primary");
  EXPECT_EQ(j["role"], "primary");
  EXPECT_EQ(j["database"]["reachable"], true);

  auto cli = RunGeorep({"status", "--config", path});
  EXPECT_EQ(cli.exit_code, 0);
  EXPECT_NE(cli.output.find("site      primary (primary)"), std::string::npos) << cli.output;

  kill(*pid, SIGTERM);
  EXPECT_TRUE(test::WaitFor([&] { return !ProcessAlive(*pid); }, 10));
  std::string log = *ReadFile(dir_ + "/serve.log");
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos) << log;
  // Every log line is a JSON object.
  size_t start = 0;
  while (start < log.size()) {
    size_t nl = log.find('\n', start);
    auto line = log.substr(start, nl - start);
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
    start = nl + 1;
  }
}

}  // namespace
}  // namespace georep
