// The primary's endpoints for secondaries:
//   GET /geo/retrieve/<replicable>/<id>   the bytes of one blob
//   GET /geo/retrieve-batch/<replicable>/<id>,<id>,…
//       up to kMaxBatchIds small blobs in one response: for each id in the
//       order asked, a line "<id> <code> <size>\n", then <size> bytes when
//       <code> is 200. Other codes (size 0): 404 no such row or file, 403 the
//       row's path leaves the storage root.
// (POST /geo/maintenance and /geo/handover, a planned promotion's, are in
// failover/routes.h; POST /geo/status, a secondary's status report, is the
// fleet's: fleet/routes.h. They share the context and the checks below.)
// On a site that is not the primary these routes answer 404.
// Every request must carry "Authorization: GL-Geo <access_key>:<JWT>" of an
// enabled secondary, valid for exactly this replicable and id (or id list);
// anything else is a 401 or 403 with a JSON error and nothing served.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "api/router.h"
#include "config/defaults.h"
#include "framework/storage/blob_store.h"
#include "georep/replicable.h"
#include "site/role.h"
#include "site/sites.h"
#include "util/metrics.h"
#include "util/mutex.h"

namespace georep::api {

// Sites by access key, read from geo_nodes and kept for a few seconds, so a
// site disabled on the primary is refused within that time; an unknown or
// disabled key is looked up again at once. Thread-safe.
class SiteDirectory {
 public:
  explicit SiteDirectory(std::string main_conninfo, double ttl_seconds = 3);
  // nullopt when no site has this key.
  absl::StatusOr<std::optional<site::Site>> ByAccessKey(const std::string& access_key);

 private:
  absl::Status Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static constexpr double kRecheckSeconds = 0.2;
  const std::string conninfo_;
  const double ttl_seconds_;
  Mutex mu_;
  std::map<std::string, site::Site> by_key_ ABSL_GUARDED_BY(mu_);
  double loaded_at_ ABSL_GUARDED_BY(mu_) = -1e9;
};

struct GeoRouteContext {
  std::string main_conninfo;
  std::string tracking_conninfo;                      // secondaries (/geo/handover)
  std::shared_ptr<const framework::BlobStore> blobs;  // where the blobs served are
  std::vector<ReplicableSpec> specs;
  SiteDirectory* sites = nullptr;
  MetricsRegistry* metrics = nullptr;  // geo_retrieve_requests_total, geo_retrieve_blobs_total
  site::LiveRole* role = nullptr;      // serves only while primary; maintenance is set here
};

inline constexpr size_t kMaxBatchIds = defaults::kMaxBatchItems;

void AddGeoRoutes(Router& router, const GeoRouteContext& ctx);

// Checks that `req` comes from an enabled secondary whose token is valid for
// exactly `data`. nullopt when it does; else the 401/403 to answer.
// `who`, when given, is set to the asking site.
std::optional<HttpResponse> RefuseGeoRequest(SiteDirectory& sites, const HttpRequest& req,
                                             const std::string& data, site::Site* who = nullptr);
HttpResponse GeoError(int status, absl::string_view code, absl::string_view message);

}  // namespace georep::api
