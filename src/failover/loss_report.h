// What a secondary would lack if promoted now, as `georep dataloss` prints
// it and `georep promote` waits on: the database leg (WAL the primary has
// and the standby has not replayed), events not applied, and per replicable
// every item not synced and verified (framework/registry/dataloss.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/registry/dataloss.h"
#include "framework/registry/lost_in_failover.h"
#include "georep/replicable.h"
#include "nlohmann/json.hpp"
#include "site/sites.h"

namespace georep::failover {

struct LossReport {
  std::string site;
  nlohmann::json database;  // replay_lsn, last_replayed_commit, primary_reachable, …
  framework::EventBacklog events;
  std::vector<framework::ReplicableLoss> replicables;
  int64_t missing_items = 0;
  // Items recorded lost in a forced failover (framework/registry/
  // lost_in_failover.h): not this site's loss, the fleet's; not in
  // missing_items. `failovers`: the records, as the primary keeps them.
  int64_t lost_items = 0;
  std::vector<framework::LostFailover> failovers;
  // This site's selective sync; what lies outside it is not "missing" (the
  // verdict is about what the site should hold) but counted apart.
  SelectiveSync selective_sync;
  int64_t not_held_items = 0;
  int64_t unreplayed_bytes = 0;  // when the primary's position is known
  bool primary_position_known = false;
  bool would_lose_data = true;

  nlohmann::json Json() const;
  // The human report, ending with the verdict line.
  void Print(FILE* out) const;
  // One line: "N bytes of WAL, E events, I items to go".
  std::string Summary() const;
};

// `primary_lsn`: the primary's WAL position when the caller has it fresh
// (promote, from the primary in maintenance mode); else it is asked of
// `primary`'s daemon (/api/v1/status), and when that fails the database
// leg is unknown, which counts as possible loss.
absl::StatusOr<LossReport> ComputeLoss(const std::string& site_name, db::Connection& standby,
                                       db::Connection& tracking,
                                       const std::vector<ReplicableSpec>& specs,
                                       const std::optional<site::Site>& primary,
                                       const std::optional<std::string>& primary_lsn);

}  // namespace georep::failover
