// Publishing events on the primary, in the same transaction as the change.
//
// Three routes write the same rows (georep.geo_events + geo_event_log):
// the SQL function georep.publish_event (any language), the triggers
// InstallPublishTriggers puts on each replicable's model table (no
// application change at all), and PublishEvent below (C++).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/spec/states.h"
#include "georep/replicable.h"

namespace georep::events {

// Publishes `event` for one model row, inside whatever transaction `conn`
// has open. Returns the event log id.
absl::StatusOr<int64_t> PublishEvent(db::Connection& conn, const std::string& replicable,
                                     int64_t model_id, framework::EventKind event,
                                     const std::string& payload_json = "{}");

// A repository's content changed (a push): publishes `updated` for it and
// sends its primary checksum back to pending, in one transaction.
absl::Status PublishRepositoryUpdated(db::Connection& main, const ReplicableSpec& spec,
                                      int64_t model_id);

// Installs (or refreshes) the row triggers that publish created, updated
// and deleted events for every spec whose model table exists; a `deleted`
// event carries {"path": …} so a secondary can remove the file after the row
// is gone, an `updated` one that moves the file carries {"old_path": …}.
// Returns the names of the specs whose table is missing (skipped).
absl::StatusOr<std::vector<std::string>> InstallPublishTriggers(
    db::Connection& main, const std::vector<ReplicableSpec>& specs);

}  // namespace georep::events
