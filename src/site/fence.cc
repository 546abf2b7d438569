#include "site/fence.h"

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "util/status_macros.h"

namespace georep::site {
namespace {

// Sessions that are not Georep's own: what the fence ends. Client
// sessions, and logical walsenders (they take SQL too); a standby's
// physical walsender goes on.
constexpr const char* kForeignSessions =
    "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND (backend_type = 'client backend' OR (backend_type = 'walsender' AND datid IS NOT NULL)) "
    "AND NOT (usename = current_user AND application_name LIKE 'georep%')";

// The roles of the standbys streaming now: they must go on receiving the
// primary's WAL (the promoting one most of all), so they are not fenced.
constexpr const char* kStreamingRoles =
    "SELECT usename FROM pg_stat_activity WHERE backend_type = 'walsender' AND datid IS NULL "
    "AND usename IS NOT NULL";

// The roles the fence refuses: every login role that is not a superuser
// (whom a connection limit does not bind), not Georep's own, not built in,
// and not a standby's that streams now.
const std::string kFenceableRoles = absl::StrCat(
    "SELECT rolname, rolconnlimit FROM pg_roles WHERE rolcanlogin AND NOT rolsuper "
    "AND rolname <> current_user AND rolname !~ '^pg_' AND rolname NOT IN (",
    kStreamingRoles, ") ORDER BY rolname");

// Every database that takes connections, with its own
// default_transaction_read_only setting ("on"/"off"; NULL when it has none).
constexpr const char* kFenceableDatabases =
    "SELECT d.datname, (SELECT substr(c, length('default_transaction_read_only=') + 1) "
    "  FROM pg_db_role_setting s, unnest(s.setconfig) c "
    "  WHERE s.setdatabase = d.oid AND s.setrole = 0 "
    "    AND c LIKE 'default_transaction_read_only=%') "
    "FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate ORDER BY d.datname";

bool IsPlainWord(const std::string& s) {
  if (s.empty() || s.size() > 16) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status Wrap(const absl::Status& s, absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", s.message()));
}

// Applies the fence's catalog changes for every role and database there
// is now, recording their originals, in one transaction; nothing when the
// fence is up already.
absl::StatusOr<std::vector<std::string>> ApplyCatalogFence(db::Connection& conn,
                                                           const std::string& reason,
                                                           const std::string& raised_by,
                                                           bool* already_up) {
  std::vector<std::string> fenced;
  absl::Status s = db::InTransaction(
      conn,
      [&]() -> absl::Status {
        GEOREP_ASSIGN_OR_RETURN(auto existing, conn.Exec("SELECT 1 FROM georep.fence FOR UPDATE"));
        *already_up = existing.rows() > 0;
        // Up already (a promotion asks again every few hundred ms): no
        // catalog write, so the position it waits for stays put.
        if (*already_up) return absl::OkStatus();
        GEOREP_ASSIGN_OR_RETURN(auto roles, conn.Exec(kFenceableRoles));
        GEOREP_ASSIGN_OR_RETURN(auto dbs, conn.Exec(kFenceableDatabases));
        nlohmann::json role_limits = nlohmann::json::object();
        nlohmann::json db_settings = nlohmann::json::object();
        for (int i = 0; i < roles.rows(); ++i) {
          std::string role(roles.Get(i, 0));
          role_limits[role] = roles.GetInt64(i, 1);
          GEOREP_RETURN_IF_ERROR(
              conn.Exec(absl::StrCat("ALTER ROLE ", db::QuoteIdent(role), " CONNECTION LIMIT 0"))
                  .status());
          fenced.push_back(role);
        }
        for (int i = 0; i < dbs.rows(); ++i) {
          std::string name(dbs.Get(i, 0));
          db_settings[name] = dbs.IsNull(i, 1) ? nlohmann::json() : nlohmann::json(dbs.Get(i, 1));
          GEOREP_RETURN_IF_ERROR(conn.Exec(absl::StrCat("ALTER DATABASE ", db::QuoteIdent(name),
                                                        " SET default_transaction_read_only = on"))
                                     .status());
        }
        return conn
            .Exec(
                "INSERT INTO georep.fence (reason, raised_by, roles, databases) "
                "VALUES ($1, $2, $3::jsonb, $4::jsonb)",
                {reason, raised_by, role_limits.dump(), db_settings.dump()})
            .status();
      },
      db::TransactionMode::kReadWrite);
  if (!s.ok()) return s;
  return fenced;
}

// Ends every foreign session, again while new ones appear (a superuser's
// may reconnect; one that passed the connection check just before the
// fence shows in pg_stat_activity only once its start-up is done, so a
// scan that finds none is repeated once after a moment); how many were
// ended, and the roles of those left.
absl::StatusOr<int64_t> EndForeignSessions(db::Connection& conn,
                                           std::vector<std::string>* left_roles) {
  int64_t ended = 0;
  int empty_scans = 0;
  for (int pass = 0; pass < 12 && empty_scans < 2; ++pass) {
    GEOREP_ASSIGN_OR_RETURN(
        auto r,
        conn.Exec(absl::StrCat("SELECT pg_terminate_backend(pid, 5000) ", kForeignSessions)));
    if (r.rows() == 0) {
      if (++empty_scans < 2) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    empty_scans = 0;
    for (int i = 0; i < r.rows(); ++i) ended += r.GetBool(i, 0) ? 1 : 0;
  }
  GEOREP_ASSIGN_OR_RETURN(
      auto left, conn.Exec(absl::StrCat("SELECT DISTINCT usename::text ", kForeignSessions)));
  for (int i = 0; i < left.rows(); ++i) left_roles->emplace_back(left.Get(i, 0));
  return ended;
}

// The fence holds: a new session of Georep's role cannot write, and every
// fenced role is refused new sessions.
absl::Status VerifyFence(const std::string& conninfo, db::Connection& conn) {
  GEOREP_ASSIGN_OR_RETURN(auto probe, db::Connection::Open(conninfo, /*under_fence=*/true));
  GEOREP_RETURN_IF_ERROR(probe->Exec("BEGIN").status());
  auto write = probe->Exec("UPDATE georep.fence SET since = since");
  (void)probe->Exec("ROLLBACK");
  if (write.ok()) {
    return absl::FailedPreconditionError(
        "a new session could still write (is default_transaction_read_only set off for "
        "Georep's role?)");
  }
  if (!absl::IsFailedPrecondition(write.status())) return write.status();
  GEOREP_ASSIGN_OR_RETURN(
      auto open,
      conn.Exec(absl::StrCat("SELECT string_agg(rolname, ', ') FROM pg_roles WHERE rolcanlogin "
                             "AND NOT rolsuper AND rolname <> current_user AND rolname !~ '^pg_' "
                             "AND rolconnlimit <> 0 AND rolname NOT IN (",
                             kStreamingRoles, ")")));
  if (!open.IsNull(0, 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("roles still take new sessions: ", open.Get(0, 0)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::optional<Fence>> ReadFence(db::Connection& main) {
  GEOREP_ASSIGN_OR_RETURN(auto r,
                          main.Exec("SELECT since::text, reason, raised_by FROM georep.fence"));
  if (r.rows() == 0) return std::optional<Fence>();
  return std::optional<Fence>(
      Fence{std::string(r.Get(0, 0)), std::string(r.Get(0, 1)), std::string(r.Get(0, 2))});
}

absl::StatusOr<FenceOutcome> RaiseFence(const std::string& conninfo, const std::string& reason,
                                        const std::string& raised_by) {
  GEOREP_ASSIGN_OR_RETURN(auto conn, db::Connection::Open(conninfo));
  GEOREP_ASSIGN_OR_RETURN(bool standby, conn->InRecovery());
  if (standby) {
    return absl::FailedPreconditionError(
        absl::StrCat(conn->display_name(), " is a standby: it takes no writes to fence"));
  }
  FenceOutcome out;
  auto fenced = ApplyCatalogFence(*conn, reason, raised_by, &out.already_up);
  if (!fenced.ok()) return Wrap(fenced.status(), "cannot fence the database");
  out.roles_fenced = *fenced;
  std::vector<std::string> left;
  auto ended = EndForeignSessions(*conn, &left);
  absl::Status verdict = ended.ok() ? VerifyFence(conninfo, *conn) : ended.status();
  if (verdict.ok()) {
    GEOREP_ASSIGN_OR_RETURN(
        auto supers, conn->Exec("SELECT rolname FROM pg_roles WHERE rolcanlogin AND rolsuper AND "
                                "rolname <> current_user ORDER BY rolname"));
    for (int i = 0; i < supers.rows(); ++i) {
      std::string role(supers.Get(i, 0));
      // A superuser's session is ended like any other, but it may come
      // back and ask for a read-write transaction: it is named.
      for (const auto& l : left) {
        if (l == role) out.superuser_roles.push_back(role);
      }
    }
    for (const auto& l : left) {
      bool super = false;
      for (const auto& s : out.superuser_roles) super = super || s == l;
      if (!super)
        verdict = absl::FailedPreconditionError(
            absl::StrCat("sessions of role ", l, " could not be ended"));
    }
  }
  if (!verdict.ok()) {
    if (!out.already_up) (void)LiftFence(*conn);
    return Wrap(verdict, "the database fence does not hold, so it was lifted again");
  }
  out.sessions_ended = *ended;
  return out;
}

absl::StatusOr<bool> LiftFenceInTransaction(db::Connection& main) {
  GEOREP_ASSIGN_OR_RETURN(
      auto r, main.Exec("SELECT roles::text, databases::text FROM georep.fence FOR UPDATE"));
  if (r.rows() == 0) return false;
  auto roles = nlohmann::json::parse(r.Get(0, 0), nullptr, false);
  auto dbs = nlohmann::json::parse(r.Get(0, 1), nullptr, false);
  if (!roles.is_object() || !dbs.is_object()) {
    return absl::DataLossError("georep.fence holds no object of roles and databases");
  }
  for (const auto& [role, limit] : roles.items()) {
    GEOREP_ASSIGN_OR_RETURN(auto exists,
                            main.Exec("SELECT 1 FROM pg_roles WHERE rolname = $1", {role}));
    if (exists.rows() == 0 || !limit.is_number_integer()) continue;
    GEOREP_RETURN_IF_ERROR(main.Exec(absl::StrCat("ALTER ROLE ", db::QuoteIdent(role),
                                                  " CONNECTION LIMIT ", limit.get<int64_t>()))
                               .status());
  }
  for (const auto& [name, setting] : dbs.items()) {
    GEOREP_ASSIGN_OR_RETURN(auto exists,
                            main.Exec("SELECT 1 FROM pg_database WHERE datname = $1", {name}));
    if (exists.rows() == 0) continue;
    std::string sql = absl::StrCat("ALTER DATABASE ", db::QuoteIdent(name));
    // A boolean as the database had it ("on", "true", "1", "yes", …).
    if (setting.is_string() && IsPlainWord(setting.get<std::string>())) {
      absl::StrAppend(&sql, " SET default_transaction_read_only = '", setting.get<std::string>(),
                      "'");
    } else {
      absl::StrAppend(&sql, " RESET default_transaction_read_only");
    }
    GEOREP_RETURN_IF_ERROR(main.Exec(sql).status());
  }
  GEOREP_RETURN_IF_ERROR(main.Exec("DELETE FROM georep.fence").status());
  return true;
}

absl::StatusOr<bool> LiftFence(db::Connection& main) {
  bool lifted = false;
  GEOREP_RETURN_IF_ERROR(db::InTransaction(
      main,
      [&]() -> absl::Status {
        GEOREP_ASSIGN_OR_RETURN(lifted, LiftFenceInTransaction(main));
        return absl::OkStatus();
      },
      db::TransactionMode::kReadWrite));
  return lifted;
}

}  // namespace georep::site
