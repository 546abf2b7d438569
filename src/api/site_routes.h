// The routes every site serves: health, status, Prometheus metrics, and
// resync/reverify of one item (the fleet's are in fleet/routes.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/admin_auth.h"
#include "api/health.h"
#include "api/router.h"
#include "config/config.h"
#include "framework/registry/dataloss.h"
#include "framework/registry/registry_store.h"
#include "georep/replicable.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/replication.h"
#include "site/role.h"
#include "site/sites.h"
#include "util/metrics.h"

namespace georep::api {

// What the routes read. Owned by the daemon; outlives the server.
struct SiteContext {
  config::Config config;
  const site::LiveRole* role = nullptr;  // this site's geo_nodes row and role, now
  site::ReplicationMonitor* monitor = nullptr;
  MetricsRegistry* metrics = nullptr;
  double started_at = 0;  // unix seconds
  std::vector<ReplicableSpec> specs;
  // Secondary: the registry counts from its tracking DB; primary: the
  // checksum counts from its main DB.
  std::function<absl::StatusOr<framework::Counts>(bool primary)> registry_counts;
  // Secondary: whether an operator paused its replication.
  std::function<bool()> paused;
  // Secondary: the site being promoted that detached its standby from the
  // old primary (site/upstream.h); empty when none.
  std::function<std::string()> detached_for;
  // Secondary: seconds since the primary last accepted its status report;
  // nullopt when none has been yet.
  std::function<std::optional<double>()> seconds_since_report;
  // The engine the daemon runs now: "primary", "secondary" or "none"
  // (paused, disabled, or its role not settled).
  std::function<std::string()> engine;
  // Secondary: where its log cursor is in the replayed event log.
  std::function<absl::StatusOr<framework::EventBacklog>()> event_backlog;
  // Primary: the ids its event log holds.
  std::function<absl::StatusOr<framework::EventLogSpan>()> event_log_span;
  AdminAuth admin;  // who may call what (api/admin_auth.h)
};

// The metric list of a site (name, type, help), read by /metrics. One
// prefix, georep_; replicables and states are labels.
std::vector<MetricDef> SiteMetricDefs();

// The verdict of GET /api/v1/health, from the latest sample and the
// context's callbacks.
HealthVerdict Health(const SiteContext& ctx);

// The database fence as the status and sites API show it; null when none.
nlohmann::json FenceJson(const std::optional<site::Fence>& fence);

// The JSON document of GET /api/v1/status.
std::string StatusJson(const SiteContext& ctx);

void AddSiteRoutes(Router& router, const SiteContext& ctx);

}  // namespace georep::api
