// The database fence: a primary's PostgreSQL made to refuse the
// application's writes, whoever the application is, before a promotion
// reads the position it waits for. Georep's own write gate (maintenance
// mode) covers only writes through its daemon; an application that commits
// to PostgreSQL itself (Redmine, any Rails or Django application) is
// stopped only here.
//
// Raising the fence, in this order:
//   1. In one transaction: every login role that is not a superuser, not
//      Georep's own and not a streaming standby's gets CONNECTION LIMIT 0
//      (new sessions refused: "too many connections for role"; a standby
//      streaming now goes on receiving the WAL), every database
//      that takes connections defaults to read-only transactions
//      (default_transaction_read_only), and the originals of both are kept
//      in georep.fence, a row of the main database.
//   2. Every client session that is not Georep's (application_name
//      "georep…" under Georep's role), and every logical walsender (it
//      takes SQL), is ended: open transactions roll back, never
//      acknowledged. Repeated until none is left.
//   3. Verified: a new session as any client gets one (Georep's role,
//      without the opt-out below) tries a write, which must fail as
//      read-only; no foreign session is left; every fenced role has limit 0.
// A session can set default_transaction_read_only off or BEGIN READ WRITE,
// which is why step 1 refuses the sessions themselves: only superusers and
// Georep's role can still connect, and they start read-only. Georep's own
// sessions opt out (db::Connection::Open sets the default off): the fence
// binds the application; the daemon refuses writes through itself while
// the fence is up (site::LiveRole::BeginWrite).
//
// The fence lives in the catalog and georep.fence, so it survives a
// restart of that PostgreSQL and is replicated like any row. A promotion
// lifts it on the new primary, in the transaction that switches the roles
// (RecordPromotion); the old primary keeps it until `georep demote` makes
// it a standby of the new primary (whose WAL has the fence lifted), or an
// operator lifts it with `georep maintenance off --database` on a primary
// that was not promoted away.
//
// Needs Georep's role to be a superuser (ALTER ROLE, ALTER DATABASE and
// ending other roles' sessions). A superuser application cannot be fenced
// by SQL: RaiseFence names such roles.
//
// Thread safety: functions, no shared state; each uses the connections it
// is given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"

namespace georep::site {

// georep.fence, when the fence is up.
struct Fence {
  std::string since;      // timestamptz, as text
  std::string reason;     // e.g. "planned promotion of site b"
  std::string raised_by;  // the site whose promotion raised it, or "operator"
};

// The fence of `main` (a primary's database or a standby of it), if up.
absl::StatusOr<std::optional<Fence>> ReadFence(db::Connection& main);

// What raising the fence did.
struct FenceOutcome {
  bool already_up = false;                   // georep.fence was there before
  std::vector<std::string> roles_fenced;     // CONNECTION LIMIT 0
  int64_t sessions_ended = 0;                // foreign sessions terminated
  std::vector<std::string> superuser_roles;  // login superusers besides Georep's: not fenceable
};

// Raises the fence on the writable primary database `conninfo` names; when
// it is up already, ends foreign sessions again and re-verifies it. FailedPrecondition when the
// fence cannot be raised or verified (e.g. Georep's role is not a
// superuser); the database is then left as it was found, unfenced.
absl::StatusOr<FenceOutcome> RaiseFence(const std::string& conninfo, const std::string& reason,
                                        const std::string& raised_by);

// Lifts the fence inside the caller's read-write transaction on `main`:
// restores each role's connection limit and each database's read-only
// default as georep.fence recorded them, and deletes the row. No-op when
// there is no fence. True when a fence was lifted.
absl::StatusOr<bool> LiftFenceInTransaction(db::Connection& main);

// LiftFenceInTransaction in its own read-write transaction.
absl::StatusOr<bool> LiftFence(db::Connection& main);

}  // namespace georep::site
