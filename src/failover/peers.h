// What a failover procedure needs of this site and its peers: a
// secondary's two databases, and which other sites say they are the
// primary (a second primary after a promotion).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "db/connection.h"
#include "site/sites.h"

namespace georep::failover {

// A secondary's standby and tracking database.
struct SecondaryDatabases {
  std::unique_ptr<db::Connection> standby;
  std::unique_ptr<db::Connection> tracking;
};
// Opens both; InvalidArgument for the primary's configuration (no
// tracking database), Unavailable when one cannot be reached.
absl::StatusOr<SecondaryDatabases> OpenSecondaryDatabases(const config::Config& config);

// Which other sites of `sites` say they are the primary (GET
// /api/v1/status of each). Sites that do not answer are listed apart.
struct PrimaryClaims {
  std::vector<std::string> others;       // "NAME at URL"
  std::vector<std::string> unreachable;  // "NAME (why)"
  int asked = 0;
};
PrimaryClaims OtherPrimaries(const std::vector<site::Site>& sites, const std::string& self);

// The site name of the daemon at `url` (GET /api/v1/status), which must be
// the primary (FailedPrecondition) and not this site (InvalidArgument).
absl::StatusOr<std::string> NewPrimaryName(const config::Config& config, const std::string& url);

}  // namespace georep::failover
