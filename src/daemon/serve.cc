#include "daemon/serve.h"

#include <signal.h>

#include <chrono>
#include <cstdio>

#include "absl/strings/string_view.h"
#include "api/http_server.h"
#include "api/router.h"
#include "api/site_routes.h"
#include "db/connection.h"
#include "db/migrations.h"
#include "site/replication.h"
#include "site/sites.h"
#include "util/logging.h"
#include "util/metrics.h"
#include "util/net.h"

namespace georep::daemon {
namespace {

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "georep serve: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

}  // namespace

int Serve(const site::Config& config) {
  log::SetLevel(config.log_level);
  auto listen = ParseHostPort(config.http_listen);
  if (!listen.ok()) return Fail(2, listen.status().message());

  // Block termination signals before any thread starts, so sigwait gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto main_db = db::Connection::Open(config.main_database);
  if (!main_db.ok()) {
    return Fail(1, "main database (setting \"database.main\" in " + config.path +
                       "): " + std::string(main_db.status().message()));
  }
  if (auto s = db::CheckSchema(**main_db, db::DatabaseKind::kMain); !s.ok())
    return Fail(1, s.message());
  auto self = site::FindSite(**main_db, config.site_name);
  if (!self.ok()) {
    return Fail(
        2, "setting \"site_name\" in " + config.path + ": " + std::string(self.status().message()));
  }
  auto standby = (*main_db)->InRecovery();
  if (!standby.ok()) return Fail(1, standby.status().message());
  if (self->primary && *standby) {
    return Fail(2, "site \"" + self->name +
                       "\" is the primary in geo_nodes, but its main database (" +
                       (*main_db)->display_name() + ") is a read-only standby");
  }
  if (!self->primary) {
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
  }
  main_db->reset();

  site::ReplicationMonitor monitor(config.main_database, config.monitor_interval_seconds);
  monitor.SampleOnce();
  monitor.Start();

  MetricsRegistry metrics(api::SiteMetricDefs());
  api::SiteContext ctx{
      config, *self, &monitor, &metrics,
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()};
  api::Router router;
  api::AddSiteRoutes(router, ctx);
  api::HttpServer server([&router](const api::HttpRequest& r) { return router.Handle(r); },
                         config.http_threads);
  auto port = server.Listen(listen->host, listen->port);
  if (!port.ok()) {
    return Fail(1, "setting \"http.listen\" in " + config.path + ": " +
                       std::string(port.status().message()));
  }
  server.Start();
  log::Info("serving", {{"site", self->name},
                        {"role", std::string(self->Role())},
                        {"address", listen->host},
                        {"port", *port},
                        {"pid", static_cast<int64_t>(getpid())}});

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("shutting down", {{"signal", sig}});
  server.Stop();
  monitor.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace georep::daemon
