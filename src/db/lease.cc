#include "db/lease.h"

#include "absl/strings/str_cat.h"

namespace georep::db {

absl::StatusOr<bool> TakeLease(Connection& conn, const std::string& name, const std::string& holder,
                               double ttl_seconds) {
  auto r = conn.Exec(
      "INSERT INTO georep.leases (name, holder, expires_at) VALUES ($1, $2, now() + "
      "make_interval(secs => $3)) ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
      "expires_at = EXCLUDED.expires_at, acquired_at = CASE WHEN leases.holder = "
      "EXCLUDED.holder THEN leases.acquired_at ELSE now() END "
      "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now() RETURNING holder",
      {name, holder, absl::StrCat(ttl_seconds)});
  if (!r.ok()) return r.status();
  return r->rows() == 1;
}

absl::StatusOr<bool> RenewLease(Connection& conn, const std::string& name,
                                const std::string& holder, double ttl_seconds) {
  auto r = conn.Exec(
      "UPDATE georep.leases SET expires_at = now() + make_interval(secs => $3) "
      "WHERE name = $1 AND holder = $2",
      {name, holder, absl::StrCat(ttl_seconds)});
  if (!r.ok()) return r.status();
  return r->affected_rows() == 1;
}

absl::Status ReleaseLease(Connection& conn, const std::string& name, const std::string& holder) {
  return conn.Exec("DELETE FROM georep.leases WHERE name = $1 AND holder = $2", {name, holder})
      .status();
}

}  // namespace georep::db
