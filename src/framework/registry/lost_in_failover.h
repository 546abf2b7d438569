// Items a forced failover lost, and every statement on
// georep.lost_in_failover (main migration 10).
//
// A forced promotion records, on the new primary and in the transaction
// that makes it the primary, every item whose row replicated but whose
// bytes the new primary does not hold (its loss report: pending, failed or
// never registered there). The table replicates: every secondary then marks
// those rows lost in its registry (SyncState::kLost, never claimed), so it
// stops fetching what the new primary cannot serve and its data-loss report
// names them apart, as the fleet's loss, not its own. Salvage from the old
// primary's storage brings them back and removes their records; a row whose
// record is gone goes back to pending and is fetched again.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "georep/replicable.h"

namespace georep::framework {

struct LostItem {
  std::string replicable;
  int64_t model_id = 0;
  std::string reason;  // why the new primary lacked it ("pending", "failed: …")
};

// Inserts `items` (an item already recorded keeps its first record). Run it
// in the caller's transaction on the new primary's main database.
absl::Status RecordLost(db::Connection& main, const std::vector<LostItem>& items,
                        const std::string& old_primary, const std::string& new_primary);

// The records of one failover, as a site shows them.
struct LostFailover {
  std::string old_primary;
  std::string new_primary;
  std::string failover_at;               // ISO 8601, UTC
  std::map<std::string, int64_t> items;  // by replicable
  int64_t total = 0;
};
// Every failover with items still recorded lost, oldest first.
absl::StatusOr<std::vector<LostFailover>> ReadLostFailovers(db::Connection& main);

// The ids recorded lost for `spec`, and each one's line for the registry.
struct LostIds {
  std::vector<int64_t> ids;
  std::vector<std::string> reasons;
};
absl::StatusOr<LostIds> ReadLostIds(db::Connection& main, const ReplicableSpec& spec);

// Removes the records of `ids` (they came back). Returns how many.
absl::StatusOr<int64_t> ForgetLost(db::Connection& main, const std::string& replicable,
                                   const std::vector<int64_t>& ids);

// On a secondary: its registry follows the records read from its standby
// (registry_store.h MarkLost). Returns rows changed.
absl::StatusOr<int64_t> FollowLostRecords(db::Connection& standby, db::Connection& tracking,
                                          const std::vector<ReplicableSpec>& specs);

}  // namespace georep::framework
