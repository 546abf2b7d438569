// The routes every site serves: health, status and Prometheus metrics.
#pragma once

#include <memory>
#include <string>

#include "api/router.h"
#include "site/config.h"
#include "site/replication.h"
#include "site/sites.h"
#include "util/metrics.h"

namespace georep::api {

// What the routes read. Owned by the daemon; outlives the server.
struct SiteContext {
  site::Config config;
  site::Site self;  // this site's geo_nodes row (no secret)
  site::ReplicationMonitor* monitor = nullptr;
  MetricsRegistry* metrics = nullptr;
  double started_at = 0;  // unix seconds
};

// The metric list of a site (name, type, help), read by /metrics.
std::span<const MetricDef> SiteMetricDefs();

// The JSON document of GET /api/v1/status.
std::string StatusJson(const SiteContext& ctx);

void AddSiteRoutes(Router& router, const SiteContext& ctx);

}  // namespace georep::api
