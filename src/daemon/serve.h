// `georep serve`: the site daemon. Finds its own site in geo_nodes, checks
// its databases, serves HTTP until SIGTERM or SIGINT.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/git_routes.h"
#include "api/lfs_routes.h"
#include "api/router.h"
#include "config/config.h"
#include "framework/storage/blob_store.h"
#include "site/role.h"
#include "transport/s3_client.h"

namespace georep::daemon {

// What the host application adds to a site daemon (the daemon itself knows
// no application).
struct ServeHooks {
  // Mounts the application's own routes. Their writes pass `role`'s write
  // gate (site::LiveRole::BeginWrite: refused on a secondary and in
  // maintenance mode); the role changes at run time on a promotion.
  std::function<void(api::Router& router, const site::LiveRole* role,
                     std::shared_ptr<const framework::BlobStore> blobs)>
      add_routes;
  // Who may use Git over HTTP (api::GitRouteContext::access); unset, user
  // Git over HTTP is refused.
  api::GitAccess git_access;
  // Where the application keeps Git LFS objects (api/lfs_routes.h); unset
  // (no `find`), LFS is not served.
  api::LfsStore lfs;
};

// The store of the site's blobs (storage.kind: "file" under storage.root,
// or "s3", a bucket: a primary's blobs, a secondary's copies), checked: a
// bad setting, a missing bucket or refused keys are InvalidArgument, naming
// the setting; a bucket that does not answer yet is logged, not an error
// (what needs it is retried).
absl::StatusOr<std::shared_ptr<const framework::BlobStore>> OpenSiteBlobStore(
    const config::Config& config);

// Runs until a termination signal; returns the process exit code. Start-up
// errors are printed as one line on stderr (exit 2 for bad settings, 1 for
// an unavailable dependency).
int Serve(const config::Config& config, const ServeHooks& hooks = {});

}  // namespace georep::daemon
