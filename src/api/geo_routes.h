// The primary's endpoints for secondaries:
//   GET /geo/retrieve/<replicable>/<id>   the bytes of one blob
//   GET /geo/retrieve-batch/<replicable>/<id>,<id>,…
//       up to kMaxBatchIds small blobs in one response: for each id in the
//       order asked, a line "<id> <code> <size>\n", then <size> bytes when
//       <code> is 200. Other codes (size 0): 404 no such row or file, 403 the
//       row's path leaves the storage root.
//   POST /geo/maintenance   {"enabled": bool, "reason": text}: turns the
//       primary's maintenance mode on or off (a planned promotion of a
//       secondary; turning it on also runs a CHECKPOINT, so the old
//       primary can be rewound onto the new one's timeline); answers {"maintenance",
//       "writes_in_flight", "current_lsn"} once the write gate is closed (or open), read in that
//       order, so a caller that sees 0 writes in flight knows every write this daemon accepted is
//       at or before that WAL position.
//   POST /geo/handover   {"action": "detach"|"reattach", "new_primary":
//       name}, served by a secondary, asked by the secondary being promoted
//       (new_primary, and no other): "detach" stops this site's standby
//       receiving WAL from the old primary and answers {"received_lsn"},
//       how far it got, so the promotion happens at or after that point
//       and this site can follow the new primary by streaming alone;
//       "reattach" undoes it when the promotion is abandoned.
// (POST /geo/status, a secondary's status report, is the fleet's:
// fleet/routes.h.)
// On a site that is not the primary every route but /geo/handover answers
// 404; /geo/handover answers 404 on the primary.
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
