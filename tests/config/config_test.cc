#include "config/config.h"

#include <map>

#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"

namespace georep::config {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::MakeTempDir("config"); }
  void TearDown() override { test::RemoveTree(dir_); }

  std::string Write(const std::string& text) {
    std::string path = dir_ + "/georep.toml";
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }
  EnvLookup Env(std::map<std::string, std::string> vars = {}) {
    return [vars](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }

  static constexpr char kMinimal[] =
      "site_name = \"primary\"\n[database]\nmain = \"host=127.0.0.1 dbname=georep\"\n";
  std::string dir_;
};

TEST_F(ConfigTest, LoadsMinimalFileWithDefaults) {
  auto c = LoadConfig(Write(kMinimal), Env());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->site_name, "primary");
  EXPECT_EQ(c->main_database, "host=127.0.0.1 dbname=georep");
  EXPECT_EQ(c->http_listen, "127.0.0.1:8080");
  EXPECT_EQ(c->http_threads, 4);
  EXPECT_EQ(c->log_level, log::Level::kInfo);
}

TEST_F(ConfigTest, TheSampleApplicationIsOffUnlessEnabled) {
  auto off = LoadConfig(Write(kMinimal), Env());
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->sample_enabled);
  auto on = LoadConfig(Write(std::string(kMinimal) + "[sample]\nenabled = true\n"), Env());
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->sample_enabled);
  // Rendered (as the demo writes it) and read back.
  auto again = LoadConfig(Write(RenderConfig(*on)), Env());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->sample_enabled);
  auto env_off = LoadConfig(Write(RenderConfig(*on)), Env({{"GEOREP_SAMPLE_ENABLED", "false"}}));
  ASSERT_TRUE(env_off.ok()) << env_off.status();
  EXPECT_FALSE(env_off->sample_enabled);
  auto bad = LoadConfig(Write(std::string(kMinimal) + "[sample]\nenabled = \"yes\"\n"), Env());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"sample.enabled\""), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("true or false"), std::string::npos) << bad.status();
}

TEST_F(ConfigTest, MissingFileNamesThePath) {
  auto c = LoadConfig(dir_ + "/nope.toml", Env());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find(dir_ + "/nope.toml"), std::string::npos);
}

TEST_F(ConfigTest, SyntaxErrorNamesFileAndLine) {
  std::string path = Write("site_name = \"a\"\n[database\n");
  auto c = LoadConfig(path, Env());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("line 2"), std::string::npos) << c.status();
}

TEST_F(ConfigTest, UnknownSettingIsNamed) {
  std::string path = Write(std::string(kMinimal) + "[http]\nlisten_port = 80\n");
  auto c = LoadConfig(path, Env());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "unknown setting \"http.listen_port\" in " + path);
}

TEST_F(ConfigTest, BadValuesNameSettingAndFile) {
  struct Case {
    std::string toml;
    std::string expect;
  } cases[] = {
      {"[log]\nlevel = \"loud\"\n",
       "setting \"log.level\" in " + dir_ +
           "/georep.toml: \"loud\" is not one of debug, info, warn, error"},
      {"[http]\nthreads = \"four\"\n",
       "setting \"http.threads\" in " + dir_ + "/georep.toml: expected an integer"},
      {"[http]\nthreads = 0\n",
       "setting \"http.threads\" in " + dir_ + "/georep.toml: 0 is not 1 to 256"},
      // Checked before it is narrowed to an int (where it would be 1).
      {"[http]\nthreads = 4294967297\n",
       "setting \"http.threads\" in " + dir_ + "/georep.toml: 4294967297 is not 1 to 256"},
      {"[events]\nprune_batch = -4294967196\n",
       "setting \"events.prune_batch\" in " + dir_ +
           "/georep.toml: -4294967196 is not 100 to 1000000"},
      {"[http]\nlisten = \"localhost\"\n",
       "setting \"http.listen\" in " + dir_ + "/georep.toml: \"localhost\" is not host:port"},
      {"[http]\ngeo_allowed_addresses = \"10.0.0.0/8, eu.example\"\n",
       "setting \"http.geo_allowed_addresses\" in " + dir_ +
           "/georep.toml: \"eu.example\" is not an IPv4 or IPv6 address or range"},
      {"[http]\ngeo_allowed_addresses = \"10.0.0.0/33\"\n",
       "setting \"http.geo_allowed_addresses\" in " + dir_ +
           "/georep.toml: \"10.0.0.0/33\": a prefix length is at most 32"},
  };
  for (const auto& c : cases) {
    auto loaded = LoadConfig(Write(std::string(kMinimal) + c.toml), Env());
    ASSERT_FALSE(loaded.ok()) << c.toml;
    EXPECT_EQ(loaded.status().message(), c.expect);
  }
}

TEST_F(ConfigTest, RequiredSettings) {
  std::string path = Write("[database]\nmain = \"x\"\n");
  EXPECT_EQ(LoadConfig(path, Env()).status().message(),
            "setting \"site_name\" in " + path + ": required");
  path = Write("site_name = \"a\"\n");
  EXPECT_EQ(LoadConfig(path, Env()).status().message(),
            "setting \"database.main\" in " + path + ": required");
}

TEST_F(ConfigTest, EnvironmentOverridesAndIsValidated) {
  std::string path = Write(kMinimal);
  auto c = LoadConfig(path,
                      Env({{"GEOREP_HTTP_LISTEN", "0.0.0.0:9000"}, {"GEOREP_LOG_LEVEL", "debug"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http_listen, "0.0.0.0:9000");
  EXPECT_EQ(c->log_level, log::Level::kDebug);
  auto bad = LoadConfig(path, Env({{"GEOREP_HTTP_THREADS", "many"}}));
  EXPECT_EQ(bad.status().message(),
            "setting \"http.threads\" in GEOREP_HTTP_THREADS: \"many\" is not an integer");
}

TEST_F(ConfigTest, AMistypedOverrideIsAnErrorNamingIt) {
  std::string path = Write(kMinimal);
  auto bad =
      LoadConfig(path, Env({{"GEOREP_HTTP_THREDS", "8"}}), {"PATH", "GEOREP_HTTP_THREDS", "HOME"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("environment variable GEOREP_HTTP_THREDS is not a "
                                        "Georep setting"),
            std::string::npos)
      << bad.status();
  auto good = LoadConfig(path, Env({{"GEOREP_HTTP_THREADS", "8"}}),
                         {"GEOREP_HTTP_THREADS", "GEOREP_PG_BIN", "GEOREPX"});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->http_threads, 8);
}

TEST_F(ConfigTest, RenderedConfigLoadsBackTheSame) {
  Config c;
  c.site_name = "secondary-1";
  c.main_database = "host=127.0.0.1 port=5 dbname=georep user=postgres";
  c.tracking_database = "host=127.0.0.1 port=6 dbname=t user=postgres";
  c.http_listen = "127.0.0.1:1234";
  c.access_key = "ak";
  c.secret_access_key = "it's \"quoted\"";
  c.log_level = log::Level::kWarn;
  c.geo_allowed_addresses = "10.1.0.0/16, ::1";
  auto back = LoadConfig(Write(RenderConfig(c)), Env());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->site_name, c.site_name);
  EXPECT_EQ(back->main_database, c.main_database);
  EXPECT_EQ(back->tracking_database, c.tracking_database);
  EXPECT_EQ(back->http_listen, c.http_listen);
  EXPECT_EQ(back->secret_access_key, c.secret_access_key);
  EXPECT_EQ(back->log_level, log::Level::kWarn);
  EXPECT_EQ(back->geo_allowed_addresses, c.geo_allowed_addresses);
}

}  // namespace
}  // namespace georep::config

namespace georep::config {
namespace {

class ReplicableConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::MakeTempDir("config"); }
  void TearDown() override { test::RemoveTree(dir_); }
  absl::StatusOr<Config> Load(const std::string& extra) {
    std::string path = dir_ + "/georep.toml";
    EXPECT_TRUE(
        WriteFileAtomic(path, "site_name = \"s\"\n[database]\nmain = \"x\"\n" + extra).ok());
    return LoadConfig(path, [](const std::string&) { return std::optional<std::string>(); });
  }
  std::string dir_;
};

TEST_F(ReplicableConfigTest, ParsesBlocksInOrderAndRendersThemBack) {
  auto c = Load(
      "[[replicable]]\nname = \"attachment\"\ntable = \"custom.attachments\"\n"
      "path_template = \"attachments/{owner_id}/{id}.bin\"\n"
      "[[replicable]]\nname = \"avatar\"\ntitle = \"Avatar\"\ntable = \"avatars\"\nid_column = "
      "\"avatar_id\"\n"
      "path_template = \"{avatar_id}\"\n"
      "namespace_sql = \"SELECT path FROM groups WHERE id = {group_id}\"\n"
      "shard_sql = \"{storage}\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->replicables.size(), 2u);
  EXPECT_EQ(c->replicables[0].name, "attachment");
  EXPECT_EQ(c->replicables[0].model_table, "custom.attachments");
  EXPECT_EQ(c->replicables[0].origin, dir_ + "/georep.toml");
  EXPECT_EQ(c->replicables[1].id_column, "avatar_id");
  EXPECT_EQ(c->replicables[1].title, "Avatar");
  EXPECT_EQ(c->replicables[1].namespace_sql, "SELECT path FROM groups WHERE id = {group_id}");
  EXPECT_EQ(c->replicables[1].shard_sql, "{storage}");
  EXPECT_EQ(c->replicables[0].namespace_sql, "");
  std::string rendered = RenderConfig(*c);
  EXPECT_NE(rendered.find("[[replicable]]"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("shard_sql"), std::string::npos) << rendered;
}

// The example an operator appends for Redmine, as shipped; and a path in
// SQL, rendered back and read again unchanged.
TEST_F(ReplicableConfigTest, TheRedmineExampleAndAPathInSqlParse) {
  auto example = ReadFile(std::string(GEOREP_SOURCE_DIR) + "/examples/redmine/georep.toml");
  ASSERT_TRUE(example.ok()) << example.status();
  auto c = Load(*example +
                "[[replicable]]\nname = \"hashed\"\ntable = \"t\"\npath_sql = \"'@hashed/' || "
                "{id}\"\nchecksum_column = \"sum\"\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->replicables.size(), 2u);
  const ReplicableSpec& redmine = c->replicables[0];
  EXPECT_EQ(redmine.name, "redmine_attachment");
  EXPECT_EQ(redmine.model_table, "public.attachments");
  EXPECT_EQ(redmine.path_template, "[{disk_directory}/]{disk_filename}");
  EXPECT_EQ(redmine.checksum_column, "digest");
  EXPECT_EQ(redmine.checksum_algorithm, "sha256");
  EXPECT_EQ(c->replicables[1].path_sql, "'@hashed/' || {id}");
  EXPECT_EQ(c->replicables[1].checksum_algorithm, "sha256") << "the default";
  std::string rendered = RenderConfig(*c);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/georep.toml", rendered).ok());
  auto again = LoadConfig(dir_ + "/georep.toml",
                          [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_TRUE(again.ok()) << again.status() << rendered;
  ASSERT_EQ(again->replicables.size(), 2u);
  EXPECT_EQ(again->replicables[0].path_template, redmine.path_template);
  EXPECT_EQ(again->replicables[0].checksum_column, "digest");
  EXPECT_EQ(again->replicables[1].path_sql, c->replicables[1].path_sql);
}

// [replication] disabled: an array in the file, comma-separated in the
// environment, rendered back; anything else names the setting.
TEST_F(ReplicableConfigTest, DisabledReplicablesAreAListInTheFileAndTheEnvironment) {
  const std::string base = "site_name = \"s\"\n[database]\nmain = \"dbname=x\"\n";
  std::string path = dir_ + "/georep.toml";
  ASSERT_TRUE(WriteFileAtomic(path, base + "[replication]\ndisabled = [\"pages_deployment\", "
                                           "\"upload\"]\n")
                  .ok());
  auto c = LoadConfig(path, [](const std::string&) { return std::optional<std::string>(); }, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->disabled_replicables, (std::vector<std::string>{"pages_deployment", "upload"}));
  EXPECT_EQ(DisabledReplicables(*c, {"upload", "lfs_object"}),
            (std::vector<std::string>{"lfs_object", "pages_deployment", "upload"}));
  std::string rendered = RenderConfig(*c);
  ASSERT_TRUE(WriteFileAtomic(path, rendered).ok());
  auto again =
      LoadConfig(path, [](const std::string&) { return std::optional<std::string>(); }, {});
  ASSERT_TRUE(again.ok()) << again.status() << rendered;
  EXPECT_EQ(again->disabled_replicables, c->disabled_replicables) << rendered;

  auto env = LoadConfig(path,
                        [](const std::string& name) -> std::optional<std::string> {
                          if (name == "GEOREP_REPLICATION_DISABLED")
                            return " job_artifact , lfs_object";
                          return std::nullopt;
                        },
                        {"GEOREP_REPLICATION_DISABLED"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->disabled_replicables, (std::vector<std::string>{"job_artifact", "lfs_object"}));

  ASSERT_TRUE(WriteFileAtomic(path, base + "[replication]\ndisabled = \"upload\"\n").ok());
  auto scalar =
      LoadConfig(path, [](const std::string&) { return std::optional<std::string>(); }, {});
  EXPECT_EQ(scalar.status().message(),
            "setting \"replication.disabled\" in " + path + ": expected an array of strings");
  ASSERT_TRUE(WriteFileAtomic(path, base + "[replication]\ndisabled = [\"Up-load\"]\n").ok());
  auto bad = LoadConfig(path, [](const std::string&) { return std::optional<std::string>(); }, {});
  EXPECT_NE(bad.status().message().find("\"Up-load\" is not a replicable name"), std::string::npos)
      << bad.status();
}

TEST_F(ReplicableConfigTest, BadBlocksNameTheKey) {
  EXPECT_EQ(Load("[[replicable]]\nname = \"a\"\ntable = \"t\"\n").status().message(),
            "setting \"replicable[0].path_template\" in " + dir_ +
                "/georep.toml: required (or path_sql, an SQL expression)");
  EXPECT_EQ(Load("[[replicable]]\nname = \"a\"\ntable = \"t\"\npath_template = \"{id}\"\n"
                 "path_sql = \"{id}\"\n")
                .status()
                .message(),
            "setting \"replicable[0].path_sql\" in " + dir_ +
                "/georep.toml: give the path by path_template or by path_sql, not both");
  EXPECT_EQ(Load("[[replicable]]\nname = \"a\"\ntable = \"t\"\npath_template = \"{id}\"\ncolour = "
                 "\"red\"\n")
                .status()
                .message(),
            "unknown setting \"replicable[0].colour\" in " + dir_ + "/georep.toml");
  EXPECT_EQ(Load("[[replicable]]\nname = \"a\"\ntable = \"t\"\npath_template = \"{id}\"\nstrategy "
                 "= \"tape\"\n")
                .status()
                .message(),
            "setting \"replicable[0].strategy\" in " + dir_ +
                "/georep.toml: \"tape\" is not a strategy (blob, repository)");
  EXPECT_EQ(Load("[[replicable]]\nname = 5\n").status().message(),
            "setting \"replicable[0].name\" in " + dir_ + "/georep.toml: expected a string");
}

}  // namespace
}  // namespace georep::config
