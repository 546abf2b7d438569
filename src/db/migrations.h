// Versioned, idempotent schema migrations for Georep's two kinds of database.
//
// The main database (the application's, on the primary; a read-only streaming
// standby on a secondary) holds sites, the event log and, later, primary-side
// verification state. The tracking database (a secondary's own writable
// PostgreSQL) holds the log cursor, leases and registries.
//
// Each database records its kind in georep.database_kind, so applying one
// kind's migrations to the other kind of database, or to a standby, fails with
// a message saying which database it is. Concurrent migrators serialise on an
// advisory lock.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/connection.h"

namespace georep::db {

enum class DatabaseKind { kMain, kTracking };
absl::string_view KindName(DatabaseKind kind);

struct Migration {
  int version;
  absl::string_view name;
  absl::string_view sql;
};

// Applies the missing migrations of `kind`; returns how many were applied.
absl::StatusOr<int> Migrate(Connection& conn, DatabaseKind kind);

// The newest migration version compiled into this binary.
int LatestVersion(DatabaseKind kind);

// Fails unless `conn` is a database of `kind` migrated to LatestVersion
// (FailedPrecondition: behind it, run `georep db migrate`; ahead of it, a
// binary older than the schema). Works on a read-only standby.
absl::Status CheckSchema(Connection& conn, DatabaseKind kind);

// One migration as a database has it: applied (when) or pending, or applied
// by a newer georep than this one (`known` false).
struct MigrationState {
  int version = 0;
  std::string name;
  std::string applied_at;  // "" when pending
  bool known = true;
};
// Every migration of `kind` this binary knows, and any the database has
// that it does not, by version. Works on a read-only standby; an
// unmigrated database has every migration pending.
absl::StatusOr<std::vector<MigrationState>> MigrationStates(Connection& conn, DatabaseKind kind);

}  // namespace georep::db
