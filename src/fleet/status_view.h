// Renders a site's /api/v1/status JSON for people.
#pragma once

#include <string>

namespace georep::fleet {

// Text for a terminal; falls back to the raw document if it is not status JSON.
std::string RenderStatus(const std::string& status_json);

// Text for GET /api/v1/sites: one line per site (role, health, report age,
// lag, synced of registry, verified, failed), then the unhealthy sites'
// reasons. `*all_healthy` is false when any site's verdict is unhealthy.
std::string RenderSites(const std::string& sites_json, bool* all_healthy);

}  // namespace georep::fleet
