// The status reports secondaries send the primary (POST /geo/status, every
// monitor.report_interval_seconds): the latest per site, kept in the main
// database (georep.site_reports, main migration 5), so every site, reading
// its replica, can show the whole fleet. Every statement on the table is
// here. Stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"

namespace georep::fleet {

// Keeps `report` (a JSON object, as the secondary's /api/v1/status) as the
// latest of site `site_id`. Needs the primary's database.
absl::Status StoreReport(db::Connection& main, int64_t site_id, const std::string& report);

struct SiteReport {
  std::string site;
  double age_seconds = 0;  // since the primary received it
  std::string report;      // JSON object
};
absl::StatusOr<std::vector<SiteReport>> ListReports(db::Connection& main);

}  // namespace georep::fleet
