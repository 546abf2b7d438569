// Exclusive leases with a time to live: rows of georep.leases in a tracking
// database. One holder at a time; another takes over once the holder stops
// renewing and the lease expires. Every statement on georep.leases is here.
//
// Stateless; every call takes the connection to use.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "db/connection.h"

namespace georep::db {

// Takes the lease, or renews it if `holder` has it. Returns whether
// `holder` holds it now.
absl::StatusOr<bool> TakeLease(Connection& conn, const std::string& name, const std::string& holder,
                               double ttl_seconds);
// Renews a lease `holder` holds, inside the caller's transaction: the
// fence of work done under the lease. Returns false when it was lost.
absl::StatusOr<bool> RenewLease(Connection& conn, const std::string& name,
                                const std::string& holder, double ttl_seconds);
// Hands the lease over at once rather than after its time to live.
absl::Status ReleaseLease(Connection& conn, const std::string& name, const std::string& holder);

}  // namespace georep::db
