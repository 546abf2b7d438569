#include "cli/cli.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/demo.h"
#include "cli/git_shell.h"
#include "cli/status_view.h"
#include "daemon/serve.h"
#include "db/connection.h"
#include "db/migrations.h"
#include "framework/primary_states.h"
#include "framework/registry_store.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "sample/sample.h"
#include "site/config.h"
#include "site/sites.h"
#include "transport/http_client.h"
#include "util/logging.h"
#include "util/net.h"
#include "util/random.h"

namespace georep::cli {
namespace {

int Fail(int code, absl::string_view verb, absl::string_view message) {
  std::fprintf(stderr, "georep %.*s: %.*s\n", static_cast<int>(verb.size()), verb.data(),
               static_cast<int>(message.size()), message.data());
  return code;
}

// Exit code for a status: bad input 2, everything else 1.
int CodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
      return 2;
    default:
      return 1;
  }
}

struct Common {
  std::string config_path = "./georep.toml";
};

absl::StatusOr<std::unique_ptr<db::Connection>> OpenMain(const site::Config& config) {
  auto conn = db::Connection::Open(config.main_database);
  if (!conn.ok()) {
    return absl::Status(conn.status().code(),
                        absl::StrCat("main database (setting \"database.main\" in ", config.path,
                                     "): ", conn.status().message()));
  }
  return conn;
}

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

int RunStatus(const std::string& config_path, std::string url, bool json) {
  if (url.empty()) {
    auto config = site::LoadConfig(config_path);
    if (!config.ok()) return Fail(2, "status", config.status().message());
    auto hp = ParseHostPort(config->http_listen);
    if (!hp.ok()) return Fail(2, "status", hp.status().message());
    std::string host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host;
    url = absl::StrCat("http://", host, ":", hp->port);
  }
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto res = transport::HttpRequest(url + "/api/v1/status");
  if (!res.ok())
    return Fail(1, "status", absl::StrCat(res.status().message(), " (is `georep serve` running?)"));
  if (res->status != 200) {
    return Fail(1, "status",
                absl::StrCat(url, "/api/v1/status answered HTTP ", res->status, ": ", res->body));
  }
  std::fputs(json ? res->body.c_str() : RenderStatus(res->body).c_str(), stdout);
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "Georep: multi-site replication and disaster recovery for a PostgreSQL database, "
      "Git repositories and files.\nOne primary site, any number of secondary sites.",
      "georep"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every verb");
  Common common;
  auto add_config = [&](CLI::App* sub) {
    sub->add_option("-c,--config", common.config_path, "Site configuration file (TOML)")
        ->capture_default_str();
  };

  // serve
  CLI::App* serve =
      app.add_subcommand("serve", "Run this site's daemon (HTTP API, metrics, workers)");
  add_config(serve);
  serve->footer(absl::StrCat("Settings (TOML key, environment override, meaning):\n",
                             site::DescribeSettings()));

  // db
  CLI::App* dbcmd = app.add_subcommand("db", "Database schema");
  dbcmd->require_subcommand(1);
  CLI::App* migrate = dbcmd->add_subcommand(
      "migrate",
      "Apply missing schema migrations (main DB on the primary, tracking DB on a secondary)");
  add_config(migrate);
  std::string migrate_target = "auto";
  migrate
      ->add_option("--database", migrate_target,
                   "main, tracking, or auto (tracking if database.tracking is set, else main)")
      ->check(CLI::IsMember({"auto", "main", "tracking"}))
      ->capture_default_str();

  // site
  CLI::App* sitecmd =
      app.add_subcommand("site", "Manage sites (run against the primary's main DB)");
  sitecmd->require_subcommand(1);
  site::NewSite new_site;
  CLI::App* site_add = sitecmd->add_subcommand(
      "add", "Register a site; prints its access key and secret once, for the site's config");
  site_add->add_option("name", new_site.name, "Site name (letters, digits, . _ -)")->required();
  site_add->add_option("--url", new_site.url, "Public URL of the site")->required();
  site_add->add_option("--internal-url", new_site.internal_url,
                       "URL other sites use to reach it (default: --url)");
  site_add->add_flag("--primary", new_site.primary, "This site is the primary (there is one)");
  add_config(site_add);
  CLI::App* site_list = sitecmd->add_subcommand("list", "List sites");
  bool list_json = false;
  site_list->add_flag("--json", list_json, "Print JSON");
  add_config(site_list);
  std::string site_name;
  CLI::App* site_remove = sitecmd->add_subcommand("remove", "Remove a site");
  CLI::App* site_enable = sitecmd->add_subcommand("enable", "Enable a site");
  CLI::App* site_disable = sitecmd->add_subcommand(
      "disable", "Disable a site (its requests to the primary are refused)");
  for (CLI::App* sub : {site_remove, site_enable, site_disable}) {
    sub->add_option("name", site_name, "Site name")->required();
    add_config(sub);
  }

  // status
  CLI::App* status = app.add_subcommand("status", "Show a site's replication status");
  add_config(status);
  std::string status_url;
  bool status_json = false;
  status->add_option("--url", status_url, "Ask this site URL instead of the one in --config");
  status->add_flag("--json", status_json, "Print the raw JSON of /api/v1/status");

  // demo
  CLI::App* demo =
      app.add_subcommand("demo", "A primary and secondaries on this machine, on loopback");
  demo->require_subcommand(1);
  DemoOptions demo_options;
  bool purge = false;
  CLI::App* demo_up = demo->add_subcommand(
      "up", "Create (or restart) the demo: PostgreSQL primary, standbys, tracking DBs, daemons");
  CLI::App* demo_status = demo->add_subcommand("status", "Show what the demo runs");
  CLI::App* demo_down = demo->add_subcommand("down", "Stop exactly what `demo up` started");
  for (CLI::App* sub : {demo_up, demo_status, demo_down}) {
    sub->add_option("--dir", demo_options.dir, "Folder of the demo")->capture_default_str();
  }
  demo_up
      ->add_option("--secondaries", demo_options.secondaries,
                   "Number of secondary sites (an existing demo keeps the ones it has)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  demo_down->add_flag("--purge", purge, "Also delete the folder and all its data");

  // sample
  CLI::App* samplecmd =
      app.add_subcommand("sample", "The sample application (a small forge) used by the demo");
  samplecmd->require_subcommand(1);
  CLI::App* sample_seed = samplecmd->add_subcommand(
      "seed", "Create sample blobs on the primary (rows and files), spread over every sample type");
  int64_t seed_count = 1000;
  int64_t seed_size = 4096;
  int64_t seed_projects = 0;
  sample_seed->add_option("--count", seed_count, "How many blobs")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}))
      ->capture_default_str();
  sample_seed->add_option("--size", seed_size, "Bytes per blob")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  sample_seed
      ->add_option("--projects", seed_projects,
                   "Also create this many empty projects (a repository, a wiki and a "
                   "design repository each), named seed-<random>/p<n>")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}))
      ->capture_default_str();
  add_config(sample_seed);
  demo_up->add_option("--seed", demo_options.seed, "Sample blobs to create on a fresh primary")
      ->check(CLI::Range(0, 10000000))
      ->capture_default_str();

  // resync / reverify
  std::string op_replicable;
  int64_t op_id = 0;
  bool op_failed = false, op_all = false;
  CLI::App* resync = app.add_subcommand(
      "resync",
      "Secondary: download items again (one id, every failed one, or all of a replicable)");
  CLI::App* reverify = app.add_subcommand(
      "reverify",
      "Check checksums again: on a secondary re-read its copies, on the primary re-checksum");
  for (CLI::App* sub : {resync, reverify}) {
    sub->add_option("replicable", op_replicable, "Replicable name, e.g. upload")->required();
    auto* id = sub->add_option("id", op_id, "One item's id");
    auto* failed = sub->add_flag("--failed", op_failed, "Every failed item");
    auto* all = sub->add_flag("--all", op_all, "Every item");
    id->excludes(failed)->excludes(all);
    failed->excludes(all);
    add_config(sub);
  }

  CLI::App* git_shell = app.add_subcommand(
      "git-shell",
      "Git over SSH: the forced command for authorized_keys (command=\"georep git-shell "
      "--config …\") or sshd's ForceCommand. Serves git-upload-pack from this site and, on a "
      "secondary, sends git-receive-pack on to the primary. Reads SSH_ORIGINAL_COMMAND.");
  add_config(git_shell);

  CLI::App* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (version->parsed()) {
    std::puts("georep 0.1.0");
    return 0;
  }
  if (demo->parsed()) {
    if (demo_up->parsed()) return DemoUp(demo_options);
    if (demo_status->parsed()) return DemoStatus(demo_options);
    return DemoDown(demo_options, purge);
  }
  if (status->parsed()) return RunStatus(common.config_path, status_url, status_json);

  // Everything below needs the configuration.
  auto config = site::LoadConfig(common.config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "georep: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (serve->parsed()) {
    daemon::ServeHooks hooks;
    if (config->sample_enabled) {
      hooks.add_routes = [&config, routes = std::make_shared<sample::RouteContext>()](
                             api::Router& router, bool primary, const std::string& primary_url) {
        *routes = {config->main_database, config->storage_root, config->repository_root, primary,
                   primary_url};
        sample::AddRoutes(router, *routes);
      };
    }
    return daemon::Serve(*config, hooks);
  }
  if (git_shell->parsed()) {
    log::SetLevel(log::Level::kWarn);
    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    return GitShell(*config, original == nullptr ? "" : original);
  }
  if (resync->parsed() || reverify->parsed()) {
    const char* verb = resync->parsed() ? "resync" : "reverify";
    if (op_id <= 0 && !op_failed && !op_all) return Fail(2, verb, "name an id, --failed or --all");
    auto specs = framework::ResolveSpecs(config->replicables);
    if (!specs.ok()) return Fail(2, verb, specs.status().message());
    const ReplicableSpec* spec = nullptr;
    for (const auto& s : *specs) {
      if (s.name == op_replicable) spec = &s;
    }
    if (spec == nullptr)
      return Fail(2, verb, absl::StrCat("no replicable named \"", op_replicable, "\""));
    framework::Selection sel{op_id, op_failed, op_all};
    bool secondary = !config->tracking_database.empty();
    if (!secondary && resync->parsed()) {
      return Fail(2, verb, "resync runs on a secondary (its config names database.tracking)");
    }
    auto conn = db::Connection::Open(secondary ? config->tracking_database : config->main_database);
    if (!conn.ok()) return Fail(1, verb, conn.status().message());
    auto changed = resync->parsed() ? framework::Resync(**conn, *spec, sel)
                   : secondary      ? framework::ReverifySecondary(**conn, *spec, sel)
                                    : framework::ReverifyPrimary(**conn, *spec, sel);
    if (!changed.ok()) return Fail(1, verb, changed.status().message());
    std::printf("%s: %lld %s item(s) queued\n", verb, static_cast<long long>(*changed),
                spec->name.c_str());
    return 0;
  }
  if (sample_seed->parsed()) {
    auto conn = OpenMain(*config);
    if (!conn.ok()) return Fail(1, "sample seed", conn.status().message());
    if (auto s = sample::InstallSchema(**conn); !s.ok()) return Fail(1, "sample seed", s.message());
    if (seed_count > 0) {
      auto n = sample::Seed(**conn, config->storage_root, seed_count, seed_size);
      if (!n.ok()) return Fail(1, "sample seed", n.status().message());
      std::printf("created %lld sample blobs of %lld bytes under %s\n", static_cast<long long>(*n),
                  static_cast<long long>(seed_size), config->storage_root.c_str());
    }
    std::string group = "seed-" + RandomHex(3);
    if (auto s = sample::SeedProjects(**conn, config->repository_root, group, seed_projects);
        !s.ok()) {
      return Fail(1, "sample seed", s.message());
    }
    if (seed_projects > 0) {
      std::printf("created %lld sample projects %s/p0… under %s\n",
                  static_cast<long long>(seed_projects), group.c_str(),
                  config->repository_root.c_str());
    }
    return 0;
  }
  if (migrate->parsed()) return RunMigrate(*config, migrate_target);

  // site verbs
  auto conn = OpenMain(*config);
  if (!conn.ok()) return Fail(1, "site", conn.status().message());
  if (site_add->parsed()) {
    auto added = site::AddSite(**conn, new_site);
    if (!added.ok()) return Fail(CodeFor(added.status()), "site add", added.status().message());
    std::printf(
        "site \"%s\" added (%s)\n"
        "Put these in the site's configuration; the secret is not shown again:\n"
        "[auth]\naccess_key = \"%s\"\nsecret_access_key = \"%s\"\n",
        added->name.c_str(), std::string(added->Role()).c_str(), added->access_key.c_str(),
        added->secret_access_key.c_str());
    return 0;
  }
  if (site_list->parsed()) {
    auto sites = site::ListSites(**conn);
    if (!sites.ok()) return Fail(1, "site list", sites.status().message());
    if (list_json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& s : *sites) {
        arr.push_back({{"id", s.id},
                       {"name", s.name},
                       {"url", s.url},
                       {"internal_url", s.InternalUrl()},
                       {"role", s.Role()},
                       {"enabled", s.enabled},
                       {"access_key", s.access_key}});
      }
      std::puts(arr.dump(2).c_str());
    } else {
      std::printf("%-4s %-20s %-10s %-8s %s\n", "ID", "NAME", "ROLE", "ENABLED", "URL");
      for (const auto& s : *sites) {
        std::printf("%-4lld %-20s %-10s %-8s %s\n", static_cast<long long>(s.id), s.name.c_str(),
                    std::string(s.Role()).c_str(), s.enabled ? "yes" : "no", s.url.c_str());
      }
    }
    return 0;
  }
  absl::Status s;
  const char* verb = "site";
  if (site_remove->parsed()) {
    s = site::RemoveSite(**conn, site_name);
    verb = "site remove";
  } else if (site_enable->parsed()) {
    s = site::SetSiteEnabled(**conn, site_name, true);
    verb = "site enable";
  } else if (site_disable->parsed()) {
    s = site::SetSiteEnabled(**conn, site_name, false);
    verb = "site disable";
  }
  if (!s.ok()) return Fail(CodeFor(s), verb, s.message());
  std::printf("%s: done\n", verb);
  return 0;
}

}  // namespace georep::cli
