#include "daemon/serve.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/admin_page.h"
#include "api/geo_routes.h"
#include "api/git_routes.h"
#include "api/http_server.h"
#include "api/lfs_routes.h"
#include "api/primary_proxy.h"
#include "api/router.h"
#include "api/site_routes.h"
#include "daemon/engines.h"
#include "db/connection.h"
#include "db/migrations.h"
#include "events/publish.h"
#include "failover/routes.h"
#include "failover/salvage_routes.h"
#include "fleet/reporter.h"
#include "fleet/routes.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/spec.h"
#include "framework/storage/blob_store.h"
#include "site/replication.h"
#include "site/sites.h"
#include "transport/http_client.h"
#include "transport/s3_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/metrics.h"
#include "util/net.h"
#include "util/random.h"

namespace georep::daemon {
namespace {

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "georep serve: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

// How often the daemon re-reads its role (a promotion is taken up within
// this) and, on a secondary, the operator's pause.
constexpr double kRolePollSeconds = 1.0;

}  // namespace

absl::StatusOr<std::shared_ptr<const framework::BlobStore>> OpenSiteBlobStore(
    const config::Config& config) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v == nullptr ? "" : v);
  };
  framework::BlobStoreSettings settings{.kind = config.storage_kind, .root = config.storage_root};
  const std::string in = absl::StrCat(" in ", config.path);
  if (config.storage_kind == "s3") {
    settings.s3 = {.endpoint = config.s3_endpoint,
                   .bucket = config.s3_bucket,
                   .region = config.s3_region,
                   .prefix = config.s3_prefix,
                   .path_style = !config.s3_virtual_host,
                   .access_key = config.s3_access_key.empty() ? env("AWS_ACCESS_KEY_ID")
                                                              : config.s3_access_key,
                   .secret_key = env("AWS_SECRET_ACCESS_KEY")};
    if (!config.s3_secret_key_file.empty()) {
      auto secret = ReadFile(config.s3_secret_key_file);
      if (!secret.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("setting \"storage.secret_key_file\"", in,
                                                       ": ", secret.status().message()));
      }
      settings.s3.secret_key = std::string(absl::StripAsciiWhitespace(*secret));
    }
    if (settings.s3.access_key.empty() || settings.s3.secret_key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("settings \"storage.access_key\" and \"storage.secret_key_file\"", in,
                       ": set both (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"));
    }
    settings.s3_options = {.part_size = int64_t{config.s3_part_size_mib} << 20};
  }
  auto store = framework::OpenBlobStore(settings);
  if (!store.ok() && absl::IsInvalidArgument(store.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage settings", in, ": ", store.status().message()));
  }
  return store;
}

namespace {

// What start-up checked and found, for the steps after it.
struct StartUp {
  HostPort listen;
  sigset_t signals;                         // blocked; the run waits for them
  std::unique_ptr<db::Connection> main_db;  // until the role is read
  site::Site self;
  bool acts_primary = false;
  std::vector<ReplicableSpec> specs;
  const ReplicableSpec* lfs_spec = nullptr;  // in `specs`; null without LFS
  std::shared_ptr<const framework::BlobStore> blobs;
  std::string spool_dir;
  site::RoleState initial_role;
};

// Each step returns 0 to go on, else the exit code (its error printed).

// The settings, this site in geo_nodes, its replicables against its main
// database.
int CheckStartUp(const config::Config& config, const ServeHooks& hooks, StartUp& start) {
  log::SetLevel(config.log_level);
  auto listen = ParseHostPort(config.http_listen);
  if (!listen.ok()) return Fail(2, listen.status().message());
  start.listen = *listen;
  if (!config.ca_file.empty() && access(config.ca_file.c_str(), R_OK) != 0) {
    return Fail(2, absl::StrCat("setting \"primary.ca_file\" in ", config.path, ": cannot read \"",
                                config.ca_file, "\": ", strerror(errno)));
  }
  transport::SetTrustedCaFile(config.ca_file);

  // Block termination signals before any thread starts, so sigwait gets them.
  sigemptyset(&start.signals);
  sigaddset(&start.signals, SIGTERM);
  sigaddset(&start.signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &start.signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto main_db = db::Connection::Open(config.main_database);
  if (!main_db.ok()) {
    return Fail(1, "main database (setting \"database.main\" in " + config.path +
                       "): " + std::string(main_db.status().message()));
  }
  start.main_db = std::move(*main_db);
  if (auto s = db::CheckSchema(*start.main_db, db::DatabaseKind::kMain); !s.ok())
    return Fail(1, s.message());
  auto self = site::FindSite(*start.main_db, config.site_name);
  if (!self.ok()) {
    return Fail(
        2, "setting \"site_name\" in " + config.path + ": " + std::string(self.status().message()));
  }
  start.self = *self;
  auto standby = start.main_db->InRecovery();
  if (!standby.ok()) return Fail(1, standby.status().message());
  // A demoted primary's standby names it the primary until it has replayed
  // the promotion: it serves as the secondary it is becoming.
  start.acts_primary = self->primary && !*standby;
  if (self->primary && *standby) {
    log::Warn(
        "geo_nodes replayed here still names this site the primary, but its main database "
        "is a standby: waiting for it to replay the promotion of another site",
        {{"site", self->name}, {"database", start.main_db->display_name()}});
  }
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, specs.status().message());
  start.specs = std::move(*specs);
  for (const auto& name : config.disabled_replicables) {
    if (std::none_of(start.specs.begin(), start.specs.end(),
                     [&](const ReplicableSpec& s) { return s.name == name; })) {
      return Fail(2, "setting \"replication.disabled\" in " + config.path + ": no replicable \"" +
                         name + "\"");
    }
  }
  // The replicable whose rows the application's Git LFS objects are.
  if (hooks.lfs.find) {
    for (const auto& spec : start.specs) {
      if (spec.name == hooks.lfs.replicable) start.lfs_spec = &spec;
    }
    if (start.lfs_spec == nullptr) {
      return Fail(2, absl::StrCat("Git LFS objects are kept as \"", hooks.lfs.replicable,
                                  "\", which is no replicable here"));
    }
  }
  // What each declaration says of its model table, against this database.
  for (const auto& spec : start.specs) {
    if (auto s = framework::CheckDeclaredSql(*start.main_db, spec); !s.ok())
      return Fail(2, s.message());
  }
  return 0;
}

// The blob store and the folders under the storage settings.
int OpenStores(const config::Config& config, StartUp& start) {
  auto blobs = OpenSiteBlobStore(config);
  if (!blobs.ok())
    return Fail(absl::IsUnavailable(blobs.status()) ? 1 : 2, blobs.status().message());
  start.blobs = *blobs;
  if (auto s = MakeDirs(config.storage_root, 0755); !s.ok()) {
    return Fail(2, "setting \"storage.root\" in " + config.path + ": " + std::string(s.message()));
  }
  // Large request bodies (uploads, pushes) are received in here, in
  // unlinked files: on the storage's disk, not in memory or a tmpfs.
  start.spool_dir = config.storage_root + "/.georep-tmp";
  if (auto s = MakeDirs(start.spool_dir, 0700); !s.ok()) {
    return Fail(2, "setting \"storage.root\" in " + config.path + ": " + std::string(s.message()));
  }
  if (auto s = MakeDirs(config.repository_root, 0755); !s.ok()) {
    return Fail(2, "setting \"storage.repository_root\" in " + config.path + ": " +
                       std::string(s.message()));
  }
  return 0;
}

// What the role needs (a primary's publish triggers; a secondary's tracking
// database and Geo key, which may fill `config`), then the role itself; the
// main database is closed after.
int PrepareRole(config::Config& config, StartUp& start) {
  if (start.acts_primary) {
    auto skipped = events::InstallPublishTriggers(*start.main_db, start.specs);
    if (!skipped.ok()) return Fail(1, skipped.status().message());
    for (const auto& name : *skipped)
      log::Info("replicable has no model table here; not published", {{"replicable", name}});
  } else {
    // A secondary's own checks; its registries are made by the runner.
    if (config.tracking_database.empty()) {
      return Fail(2,
                  "setting \"database.tracking\" in " + config.path + ": required on a secondary");
    }
    auto tracking = db::Connection::Open(config.tracking_database);
    if (!tracking.ok()) {
      return Fail(1, "tracking database (setting \"database.tracking\" in " + config.path +
                         "): " + std::string(tracking.status().message()));
    }
    if (auto s = db::CheckSchema(**tracking, db::DatabaseKind::kTracking); !s.ok()) {
      return Fail(1, s.message());
    }
    if (auto s = site::FillKeysFromRow(*start.main_db, config.site_name, &config.access_key,
                                       &config.secret_access_key);
        !s.ok()) {
      return Fail(1, s.message());
    }
    if (config.access_key.empty() || config.secret_access_key.empty()) {
      return Fail(2, "settings \"auth.access_key\" and \"auth.secret_access_key\" in " +
                         config.path +
                         ": set both (or neither, to use this site's "
                         "key in geo_nodes)");
    }
  }
  auto initial_role = site::ReadRole(*start.main_db, config.site_name);
  if (!initial_role.ok()) return Fail(1, initial_role.status().message());
  if (!start.self.primary && !initial_role->primary)
    return Fail(1, "no primary site in geo_nodes; add one with `georep site add NAME --primary`");
  start.initial_role = *initial_role;
  start.main_db.reset();
  return 0;
}

// The site context's reads of the databases, and who may call what.
int FillSiteContext(const config::Config& config, api::SiteContext& ctx) {
  // Secondary: registry counts in its tracking DB; primary: checksum counts in the main DB.
  ctx.registry_counts = [&config](bool primary) -> absl::StatusOr<framework::Counts> {
    db::Connection* conn =
        db::ThreadConnection(primary ? config.main_database : config.tracking_database);
    if (conn == nullptr) return absl::UnavailableError("database unreachable");
    return framework::ReadCounts(*conn);
  };
  auto admin = api::LoadAdminAuth(config.admin_token_file, config.admin_reads);
  if (!admin.ok()) return Fail(2, admin.status().message());
  ctx.admin = std::move(*admin);
  ctx.event_backlog = [&config]() -> absl::StatusOr<framework::EventBacklog> {
    db::Connection* standby = db::ThreadConnection(config.main_database);
    db::Connection* tracking = db::ThreadConnection(config.tracking_database);
    if (standby == nullptr || tracking == nullptr) {
      return absl::UnavailableError("database unreachable");
    }
    return framework::UnappliedEvents(*standby, *tracking);
  };
  ctx.event_log_span = [&config]() -> absl::StatusOr<framework::EventLogSpan> {
    db::Connection* main = db::ThreadConnection(config.main_database);
    if (main == nullptr) return absl::UnavailableError("main database unreachable");
    return framework::ReadEventLogSpan(*main);
  };
  return 0;
}

// The routes of the site API, the fleet view, the admin page, Geo and the
// application. The routes keep references to `ctx` and `geo`.
void BuildRoutes(const ServeHooks& hooks, const api::SiteContext& ctx,
                 const api::GeoRouteContext& geo, const failover::SalvageRouteContext& salvage,
                 site::LiveRole& role, const std::shared_ptr<const framework::BlobStore>& blobs,
                 api::Router& router) {
  api::AddSiteRoutes(router, ctx);
  fleet::AddRoutes(router, ctx);
  api::AddAdminPage(router);
  api::AddGeoRoutes(router, geo);
  failover::AddFailoverRoutes(router, geo);
  failover::AddSalvageRoutes(router, salvage);
  fleet::AddStatusIntake(router, geo);
  if (hooks.add_routes) {
    // The application's routes: on a secondary, its writes go to the primary.
    router.SetDefaultScope(api::RouteScope::kApplication);
    hooks.add_routes(router, &role, blobs);
    router.SetDefaultScope(api::RouteScope::kGeorep);
  }
}

// Where a request goes to the primary: its internal URL; nullopt when it is
// answered here.
using PrimaryFor = std::function<std::optional<std::string>(const api::HttpRequest&)>;

api::GitRouteContext GitContext(const config::Config& config, const ServeHooks& hooks,
                                const StartUp& start, const site::LiveRole& role,
                                api::SiteDirectory& site_directory, MetricsRegistry& metrics) {
  api::GitRouteContext git_ctx;
  git_ctx.role = &role;
  git_ctx.main_conninfo = config.main_database;
  git_ctx.tracking_conninfo = config.tracking_database;
  git_ctx.repository_root = config.repository_root;
  git_ctx.specs = start.specs;
  git_ctx.sites = &site_directory;
  git_ctx.metrics = &metrics;
  git_ctx.access = hooks.git_access;
  git_ctx.on_push = [conninfo = config.main_database](const ReplicableSpec& spec,
                                                      int64_t id) -> absl::Status {
    db::Connection* conn = db::ThreadConnection(conninfo);
    if (conn == nullptr) return absl::UnavailableError("main database unreachable");
    return events::PublishRepositoryUpdated(*conn, spec, id);
  };
  return git_ctx;
}

api::HttpServerOptions HttpOptions(const config::Config& config, const StartUp& start,
                                   const api::Router& router,
                                   const std::vector<AddressRange>& geo_allowed,
                                   const PrimaryFor& primary_for) {
  return api::HttpServerOptions{
      .threads = config.http_threads,
      .max_connections = config.http_max_connections,
      .max_connections_per_client = config.http_max_connections_per_client,
      // Routed on the header: an unknown route is refused before its body,
      // and each route reads at most its own body limit.
      .admit =
          [&router, &geo_allowed, &primary_for](const api::HttpRequest& head) {
            // Only listed peers reach the Geo routes, when there is a list.
            if (!geo_allowed.empty() && absl::StartsWith(head.path, "/geo/") &&
                !AddressInList(geo_allowed, head.remote_address)) {
              log::Warn("geo request from an address not allowed",
                        {{"address", head.remote_address}, {"path", head.path}});
              return api::Admission{0, api::GeoError(403, "ADDRESS_NOT_ALLOWED",
                                                     "this address may not use the Geo routes "
                                                     "(setting http.geo_allowed_addresses)")};
            }
            if (auto git = api::AdmitGit(head)) return std::move(*git);
            if (auto lfs = api::AdmitLfs(head)) return std::move(*lfs);
            if (primary_for(head)) {
              // Relayed from where it was received. A write to a route of
              // the application's: its upload limit, a large body on disk.
              // A path no route here knows (the primary's to answer): the
              // default limit, in memory, so a body nobody may serve is
              // refused on its header and never spooled.
              if (router.Admit(head).refuse) return api::Admission{api::kDefaultBodyLimit, {}};
              return api::Admission{api::kUploadBodyLimit, {}, true};
            }
            return router.Admit(head);
          },
      .spool_dir = start.spool_dir,
      .tls_cert = config.tls_cert,
      .tls_key = config.tls_key};
}

api::LfsRouteContext LfsContext(const config::Config& config, const ServeHooks& hooks,
                                const StartUp& start, const site::LiveRole& role,
                                MetricsRegistry& metrics) {
  return api::LfsRouteContext{.role = &role,
                              .main_conninfo = config.main_database,
                              .tracking_conninfo = config.tracking_database,
                              .blobs = start.blobs,
                              .repository_root = config.repository_root,
                              .spec = start.lfs_spec,
                              .store = hooks.lfs,
                              .access = hooks.git_access,
                              .tls = !config.tls_cert.empty(),
                              .metrics = &metrics};
}

// The exit code and line of a listener that did not start, naming the
// setting at fault.
int ListenFailure(const config::Config& config, const absl::Status& status) {
  const char* setting = status.code() == absl::StatusCode::kInvalidArgument &&
                                absl::StrContains(status.message(), "TLS")
                            ? "http.tls_cert/http.tls_key"
                            : "http.listen";
  return Fail(absl::IsInvalidArgument(status) ? 2 : 1,
              absl::StrCat("setting \"", setting, "\" in ", config.path, ": ", status.message()));
}

// Under systemd (Type=notify): ready once the listener and the databases
// are up. Nothing is sent elsewhere ($NOTIFY_SOCKET unset).
void AnnounceServing(const StartUp& start, int port) {
  const site::Site& self = start.self;
  sd_notifyf(0, "READY=1\nSTATUS=serving site %s (%s) on port %d\nMAINPID=%lu", self.name.c_str(),
             std::string(self.Role()).c_str(), port, static_cast<unsigned long>(getpid()));
  log::Info("serving", {{"site", self.name},
                        {"replicables", static_cast<int64_t>(start.specs.size())},
                        {"role", std::string(self.Role())},
                        {"address", start.listen.host},
                        {"port", port},
                        {"pid", static_cast<int64_t>(getpid())}});
}

// Builds the routes, starts the engine of this site's role and the HTTP
// server, and serves until a termination signal.
int Run(const config::Config& config, const ServeHooks& hooks, const StartUp& start) {
  site::LiveRole role(start.initial_role);

  site::ReplicationMonitor monitor(config.main_database, config.monitor_interval_seconds);
  monitor.SampleOnce();
  monitor.Start();

  MetricsRegistry metrics(api::SiteMetricDefs());
  api::SiteContext ctx{config, &role, &monitor, &metrics, WallSeconds(), start.specs};
  if (int code = FillSiteContext(config, ctx); code != 0) return code;
  api::Router router;
  api::SiteDirectory site_directory(config.main_database);
  // Mounted on every site; they serve while this site is the primary.
  api::GeoRouteContext geo{.main_conninfo = config.main_database,
                           .tracking_conninfo = config.tracking_database,
                           .blobs = start.blobs,
                           .specs = start.specs,
                           .sites = &site_directory,
                           .metrics = &metrics,
                           .role = &role};
  failover::SalvageRouteContext salvage{.main_conninfo = config.main_database,
                                        .blobs = start.blobs,
                                        .specs = start.specs,
                                        .role = &role,
                                        .admin = ctx.admin};
  BuildRoutes(hooks, ctx, geo, salvage, role, start.blobs, router);
  // On a secondary, what it does not serve goes to the primary, when it
  // knows one (api/primary_proxy.h): its internal URL, as of now.
  PrimaryFor primary_for = [&role,
                            &router](const api::HttpRequest& r) -> std::optional<std::string> {
    if (role.primary() || !router.ForPrimary(r)) return std::nullopt;
    site::RoleState now = role.Get();
    if (!now.primary || now.self.primary) return std::nullopt;
    std::string url = now.primary->InternalUrl();
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
  };

  // The engine of this site's role: its threads run until it is destroyed.
  char host[128] = {0};
  gethostname(host, sizeof host - 1);
  SiteContext site{&config, start.specs, absl::StrCat(host, ".", getpid(), ".", RandomHex(3)),
                   &metrics, start.blobs};
  auto runner = std::make_unique<SiteRunner>(site, &role, kRolePollSeconds);
  ctx.paused = [r = runner.get()] { return r->paused(); };
  ctx.detached_for = [r = runner.get()] { return r->detached_for(); };
  ctx.engine = [r = runner.get()] { return std::string(r->engine()); };
  std::atomic<double> report_accepted_at{0};
  ctx.seconds_since_report = [&report_accepted_at]() -> std::optional<double> {
    double at = report_accepted_at.load();
    if (at == 0) return std::nullopt;
    return MonotonicSeconds() - at;
  };
  auto reporter = std::make_unique<fleet::StatusReporter>(
      &config, &role, [&ctx] { return api::StatusJson(ctx); }, &report_accepted_at);
  api::GitRouteContext git_ctx = GitContext(config, hooks, start, role, site_directory, metrics);
  api::LfsRouteContext lfs_ctx = LfsContext(config, hooks, start, role, metrics);
  // Checked when the configuration was loaded.
  const std::vector<AddressRange> geo_allowed =
      ParseAddressList(config.geo_allowed_addresses).value_or(std::vector<AddressRange>{});
  api::HttpServer server(
      [&router, &git_ctx, &lfs_ctx, &primary_for,
       tls = !config.tls_cert.empty()](const api::HttpRequest& r) {
        if (auto git = api::HandleGit(git_ctx, r)) return std::move(*git);
        if (auto lfs = api::HandleLfs(lfs_ctx, r)) return std::move(*lfs);
        if (auto primary = primary_for(r)) return api::RelayToPrimary(r, *primary, tls);
        return router.Handle(r);
      },
      HttpOptions(config, start, router, geo_allowed, primary_for));
  auto port = server.Listen(start.listen.host, start.listen.port);
  if (!port.ok()) return ListenFailure(config, port.status());
  server.Start();
  AnnounceServing(start, *port);

  int sig = 0;
  sigwait(&start.signals, &sig);
  log::Info("shutting down", {{"signal", sig}});
  sd_notify(0, "STOPPING=1");
  server.Stop();
  reporter.reset();
  runner.reset();
  monitor.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace

int Serve(const config::Config& loaded, const ServeHooks& hooks) {
  config::Config config = loaded;  // the Geo key may come from geo_nodes
  StartUp start;
  if (int code = CheckStartUp(config, hooks, start); code != 0) return code;
  if (int code = OpenStores(config, start); code != 0) return code;
  if (int code = PrepareRole(config, start); code != 0) return code;
  return Run(config, hooks, start);
}

}  // namespace georep::daemon
