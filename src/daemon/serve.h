// `georep serve`: the site daemon. Finds its own site in geo_nodes, checks
// its databases, serves HTTP until SIGTERM or SIGINT.
#pragma once

#include "site/config.h"

namespace georep::daemon {

// Runs until a termination signal; returns the process exit code. Start-up
// errors are printed as one line on stderr (exit 2 for bad settings, 1 for
// an unavailable dependency).
int Serve(const site::Config& config);

}  // namespace georep::daemon
