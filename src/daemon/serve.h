// `georep serve`: the site daemon. Finds its own site in geo_nodes, checks
// its databases, serves HTTP until SIGTERM or SIGINT.
#pragma once

#include <functional>
#include <string>

#include "api/router.h"
#include "site/config.h"

namespace georep::daemon {

// What the host application adds to a site daemon (the daemon itself knows
// no application).
struct ServeHooks {
  // Mounts the application's own routes; `primary_url` is the primary's URL
  // (this site's own on the primary).
  std::function<void(api::Router& router, bool primary, const std::string& primary_url)> add_routes;
};

// Runs until a termination signal; returns the process exit code. Start-up
// errors are printed as one line on stderr (exit 2 for bad settings, 1 for
// an unavailable dependency).
int Serve(const site::Config& config, const ServeHooks& hooks = {});

}  // namespace georep::daemon
