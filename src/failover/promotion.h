// A secondary becomes the primary (DESIGN §8, docs/design/disaster-recovery.md):
//
//   planned  the primary is put into maintenance mode with its database
//            fenced; this site waits until it has replayed the primary's
//            final WAL position, applied every event and holds every item
//            synced and verified; the other secondaries stop receiving the
//            old primary's WAL; then its standby is promoted, geo_nodes
//            switched and the fence lifted here, in one transaction, and
//            its daemon takes up the primary's duties. RPO 0.
//   forced   the primary is gone: the loss report first, a confirmation,
//            the old primary fenced if it still answers (its daemon, or its
//            database directly), then the same promotion as things stand.
//
// The procedure returns what happened; `georep promote` prints it. Progress
// lines go to PromotionOptions::progress.
//
// Thread safety: one call at a time per site (it changes the site's role).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/config.h"
#include "failover/loss_report.h"
#include "site/sites.h"

namespace georep::failover {

struct PromotionOptions {
  bool force = false;
  double timeout_seconds = 300;  // planned: how long to wait for this site to catch up
  // Forced: asked with the loss report before anything changes; false, and
  // nothing is promoted. Unset: promoted without asking.
  std::function<bool(const LossReport&)> confirm;
  // A line of progress (the CLI writes it to stderr); may be unset.
  std::function<void(const std::string&)> progress;
};

// Another secondary, asked to stop receiving the old primary's WAL before
// this site is promoted (POST /geo/handover), so it can follow by streaming.
struct FollowerOutcome {
  site::Site site;
  bool detached = false;
  uint64_t received = 0;  // how far its standby got
  std::string error;      // why it was not detached
};

// Whether the old primary's database was fenced, and how.
struct OldPrimaryFence {
  bool fenced = false;
  std::string how;                           // "by its daemon" or "directly, at its database"
  std::string error;                         // why not
  std::vector<std::string> superuser_roles;  // had sessions: not fenceable by SQL
};

struct PromotionOutcome {
  // Set when nothing was promoted, or the promotion could not be finished:
  // InvalidArgument for a site that cannot be promoted as asked (already
  // the primary, bad declarations), else a failure to act on.
  absl::Status error;
  bool promoted = false;  // the database is promoted and geo_nodes switched
  std::string site;
  std::string site_url;
  std::string old_primary;  // "" when geo_nodes named none
  // A promotion cut short earlier (database promoted, geo_nodes not) was
  // finished: what it lost is unknown.
  bool finished_earlier_one = false;
  bool serving = false;  // this site's daemon serves as the primary
  double rto_seconds = 0;
  double promote_database_seconds = 0;
  std::optional<LossReport> report;  // also when a planned one timed out
  // Forced: items whose bytes this site lacked, recorded lost in failover
  // on the new primary (framework/registry/lost_in_failover.h).
  int64_t recorded_lost = 0;
  std::vector<FollowerOutcome> followers;
  OldPrimaryFence old_fence;
};

PromotionOutcome Promote(const config::Config& config, const PromotionOptions& options);

}  // namespace georep::failover
