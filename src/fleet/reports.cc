#include "fleet/reports.h"

#include "absl/strings/str_cat.h"

namespace georep::fleet {

absl::Status StoreReport(db::Connection& main, int64_t site_id, const std::string& report) {
  return main
      .Exec(
          "INSERT INTO georep.site_reports (site_id, report) VALUES ($1, $2::jsonb) "
          "ON CONFLICT (site_id) DO UPDATE SET report = EXCLUDED.report, reported_at = now()",
          {absl::StrCat(site_id), report})
      .status();
}

absl::StatusOr<std::vector<SiteReport>> ListReports(db::Connection& main) {
  auto r = main.Exec(
      "SELECT n.name, extract(epoch FROM now() - r.reported_at)::float8, r.report::text "
      "FROM georep.site_reports r JOIN georep.geo_nodes n ON n.id = r.site_id ORDER BY n.name");
  if (!r.ok()) return r.status();
  std::vector<SiteReport> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({std::string(r->Get(i, 0)), r->GetDouble(i, 1), std::string(r->Get(i, 2))});
  }
  return out;
}

}  // namespace georep::fleet
