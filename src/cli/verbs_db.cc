// db migrate: the versioned schema of the main and tracking databases.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "db/migrations.h"

namespace georep::cli {
namespace {

int RunMigrate(const site::Config& config, const std::string& which) {
  std::string target = which;
  if (target == "auto") target = config.tracking_database.empty() ? "main" : "tracking";
  db::DatabaseKind kind = target == "main" ? db::DatabaseKind::kMain : db::DatabaseKind::kTracking;
  const std::string& conninfo = target == "main" ? config.main_database : config.tracking_database;
  if (conninfo.empty()) {
    return Fail(2, "db migrate",
                absl::StrCat("setting \"database.", target, "\" in ", config.path,
                             ": required for --database ", target));
  }
  auto conn = db::Connection::Open(conninfo);
  if (!conn.ok()) return Fail(1, "db migrate", conn.status().message());
  auto applied = db::Migrate(**conn, kind);
  if (!applied.ok()) return Fail(1, "db migrate", applied.status().message());
  std::printf("%s database (%s): %d migration(s) applied, schema version %d\n",
              std::string(db::KindName(kind)).c_str(), (*conn)->display_name().c_str(), *applied,
              db::LatestVersion(kind));
  return 0;
}

}  // namespace

void AddDbVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* dbcmd = app.add_subcommand("db", "Database schema");
  dbcmd->require_subcommand(1);
  CLI::App* migrate = dbcmd->add_subcommand(
      "migrate",
      "Apply missing schema migrations (main DB on the primary, tracking DB on a secondary)");
  AddConfig(migrate, ctx);
  auto target = std::make_shared<std::string>("auto");
  migrate
      ->add_option("--database", *target,
                   "main, tracking, or auto (tracking if database.tracking is set, else main)")
      ->check(CLI::IsMember({"auto", "main", "tracking"}))
      ->capture_default_str();
  migrate->callback([&ctx, target] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunMigrate(*config, *target);
  });
}

}  // namespace georep::cli
