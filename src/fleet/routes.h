// The fleet routes every site answers from the primary's data (geo_nodes and
// the status reports, replicated to every standby), shaped after GitLab's
// Geo Nodes API, and the registry browser of a secondary:
//
//   GET    /api/v1/sites            every site, its latest report and health
//   GET    /api/v1/sites/NAME       one site
//   PUT    /api/v1/sites/NAME       enabled, the three capacities,
//                                   reverify_interval_seconds (admin; primary)
//   POST   /api/v1/sites            a new secondary: name, url, internal_url;
//                                   answers its key and secret once (admin; primary)
//   DELETE /api/v1/sites/NAME       (admin; primary; never the primary itself)
//   GET    /api/v1/replicables/NAME/registry?state=&verification=&id=&after=&limit=
//
// A site's health in the fleet view is JudgeReport's (api/health.h) with
// this site's health.* thresholds; the primary's is its own verdict on the
// primary, and null elsewhere (ask its /api/v1/health).
#pragma once

#include "api/geo_routes.h"
#include "api/router.h"
#include "api/site_routes.h"

namespace georep::fleet {

void AddRoutes(api::Router& router, const api::SiteContext& ctx);

// POST /geo/status on the primary: a secondary's report, signed with its
// Geo key over the body's SHA-256 (JSON, at most 1 MiB), kept as its latest
// (fleet/reports.h).
void AddStatusIntake(api::Router& router, const api::GeoRouteContext& ctx);

}  // namespace georep::fleet
