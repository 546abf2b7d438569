// db migrate: the versioned schema of the main and tracking databases;
// db replicate: a standby of a remote primary, for a secondary on another
// machine.
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "cluster/pg_cluster.h"
#include "db/migrations.h"
#include "framework/registry/registry_store.h"
#include "util/fs.h"

namespace georep::cli {
namespace {

int RunMigrate(const config::Config& config, const std::string& which, bool status_only) {
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
  if (status_only) {
    auto states = db::MigrationStates(**conn, kind);
    if (!states.ok()) return Fail(1, "db migrate", states.status().message());
    int pending = 0, unknown = 0;
    std::printf("%s database (%s):\n", std::string(db::KindName(kind)).c_str(),
                (*conn)->display_name().c_str());
    for (const auto& m : *states) {
      const char* state = !m.known               ? "applied by a newer georep"
                          : m.applied_at.empty() ? "pending"
                                                 : "applied";
      std::printf("  %3d  %-52s %-26s %s\n", m.version, m.name.c_str(), state,
                  m.applied_at.c_str());
      pending += m.applied_at.empty() ? 1 : 0;
      unknown += m.known ? 0 : 1;
    }
    if (kind == db::DatabaseKind::kTracking && pending == 0 && unknown == 0) {
      // Each replicable's registry table, at its own version (made and
      // brought up to date by the daemon at start-up).
      auto tables = (*conn)->Exec(
          "SELECT replicable, max(version) FROM georep.registry_migrations GROUP BY 1 ORDER BY 1");
      if (!tables.ok()) return Fail(1, "db migrate", tables.status().message());
      for (int i = 0; i < tables->rows(); ++i) {
        const int64_t v = tables->GetInt64(i, 1);
        const int latest = framework::LatestRegistryVersion();
        std::printf("  registry %-36s version %lld%s\n", std::string(tables->Get(i, 0)).c_str(),
                    static_cast<long long>(v),
                    v < latest   ? " (brought up to date when the daemon starts)"
                    : v > latest ? " (newer than this georep)"
                                 : "");
        unknown += v > latest ? 1 : 0;
      }
    }
    if (unknown > 0) {
      std::printf("newer than this georep (schema version %d): run the georep that migrated it\n",
                  db::LatestVersion(kind));
      return 1;
    }
    if (pending > 0) {
      std::printf("%d pending: run `georep db migrate`\n", pending);
      return 1;
    }
    std::printf("up to date (schema version %d)\n", db::LatestVersion(kind));
    return 0;
  }
  auto applied = db::Migrate(**conn, kind);
  if (!applied.ok()) return Fail(1, "db migrate", applied.status().message());
  std::printf("%s database (%s): %d migration(s) applied, schema version %d\n",
              std::string(db::KindName(kind)).c_str(), (*conn)->display_name().c_str(), *applied,
              db::LatestVersion(kind));
  return 0;
}

struct ReplicateOptions {
  std::string host;
  int port = 5432;
  std::string user = "replicator";
  std::string slot;
  std::string data_dir;
  std::string password_file;
};

int RunReplicate(const config::Config& config, const ReplicateOptions& o) {
  const char* verb = "db replicate";
  if (config.tracking_database.empty()) {
    return Fail(
        2, verb,
        absl::StrCat("makes a secondary's standby; ", config.path,
                     " sets no \"database.tracking\", so it is the primary's configuration"));
  }
  if (o.data_dir.empty() || o.data_dir.front() != '/') {
    return Fail(2, verb,
                absl::StrCat("--data-dir must be an absolute path, not \"", o.data_dir, "\""));
  }
  cluster::ReplicaSource source{.host = o.host,
                                .port = o.port,
                                .user = o.user,
                                .slot = o.slot.empty() ? config.site_name : o.slot,
                                // As the site's own connections do.
                                .sslmode = db::ConninfoValue(config.main_database, "sslmode"),
                                .application_name = config.site_name};
  for (char& c : source.slot) {
    if (c == '-' || c == '.') c = '_';  // slot names: lower case, digits and _
  }
  if (!o.password_file.empty()) {
    auto text = ReadFile(o.password_file);
    if (!text.ok()) {
      return Fail(2, verb,
                  absl::StrCat("--password-file ", o.password_file, ": ", text.status().message()));
    }
    source.password = text->substr(0, text->find('\n'));
  }
  std::printf("copying %s:%d into %s (pg_basebackup, slot %s) …\n", source.host.c_str(),
              source.port, o.data_dir.c_str(), source.slot.c_str());
  std::fflush(stdout);
  if (auto s = cluster::ReplicateFrom(source, o.data_dir); !s.ok())
    return Fail(CodeFor(s), verb, s.message());
  std::printf(
      "standby ready in %s: it streams from %s:%d through slot %s (standby.signal and "
      "primary_conninfo written).\n"
      "Next: start it with your PostgreSQL service (its postgresql.conf is the primary's: check "
      "port and paths), point \"database.main\" in %s at it, then `georep db migrate --config %s` "
      "(tracking DB) and `georep serve --config %s`.\n",
      o.data_dir.c_str(), source.host.c_str(), source.port, source.slot.c_str(),
      config.path.c_str(), config.path.c_str(), config.path.c_str());
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
  auto status_only = std::make_shared<bool>(false);
  migrate->add_flag("--status", *status_only,
                    "List the migrations, applied (when) or pending, and any a newer georep "
                    "applied; apply nothing. Exit 0 when up to date, 1 otherwise");
  migrate->callback([&ctx, target, status_only] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunMigrate(*config, *target, *status_only);
  });

  CLI::App* replicate = dbcmd->add_subcommand(
      "replicate",
      "Secondary: make its standby, on this machine, of the primary's PostgreSQL on another one "
      "(pg_basebackup, configured to stream through a replication slot; sslmode as in "
      "\"database.main\"). The operator's PostgreSQL service then runs it.");
  AddConfig(replicate, ctx);
  auto ro = std::make_shared<ReplicateOptions>();
  replicate->add_option("--primary-host", ro->host, "The primary's PostgreSQL host")->required();
  replicate->add_option("--primary-port", ro->port, "Its port")->capture_default_str();
  replicate->add_option("--user", ro->user, "A role with REPLICATION")->capture_default_str();
  replicate->add_option("--slot", ro->slot,
                        "Physical replication slot (created if missing; default: the site name)");
  replicate->add_option("--data-dir", ro->data_dir, "Absent or empty folder for the standby")
      ->required();
  replicate->add_option("--password-file", ro->password_file,
                        "File whose first line is the password (else PGPASSFILE or ~/.pgpass)");
  replicate->callback([&ctx, ro] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunReplicate(*config, *ro);
  });
}

}  // namespace georep::cli
