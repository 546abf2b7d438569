// What a site is right now (primary or secondary, which site is the
// primary, maintenance mode), as its daemon last read it from geo_nodes and
// its main database, and the gate every write through the daemon passes.
//
// The role can change while the daemon runs (georep promote): the daemon's
// watcher re-reads it every second (ReadRole) and publishes it in a
// LiveRole, which the HTTP routes consult per request.
//
// Maintenance mode is a row in the primary's main database
// (georep.maintenance, main migration 4): while it is there the primary
// refuses the application's writes (503) and Git pushes; its checksummer
// goes on, so a planned promotion can wait for every item to be verified.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "db/connection.h"
#include "site/fence.h"
#include "site/sites.h"
#include "util/mutex.h"

namespace georep::site {

struct RoleState {
  Site self;
  std::optional<Site> primary;  // the primary site (self on the primary); none: not recorded
  bool maintenance = false;     // the primary refuses writes
  std::string maintenance_reason;
  bool standby = false;        // the main database is in recovery
  std::optional<Fence> fence;  // the database fence (site/fence.h), when up
};

// This site's row, the primary's row, maintenance mode and recovery state,
// from `main` (the primary's database, or a standby of it).
absl::StatusOr<RoleState> ReadRole(db::Connection& main, const std::string& site_name);

// Turns maintenance mode on (with a reason, shown to refused writers) or
// off. Needs the primary's (writable) main database. Idempotent.
absl::Status SetMaintenance(db::Connection& main, bool on, const std::string& reason);

// Promotes `main`, this site's standby: ends recovery (pg_promote, which
// waits for it, up to `wait_seconds`). FailedPrecondition when `main` is not
// a standby.
absl::Status PromoteDatabase(db::Connection& main, int wait_seconds);

// On the promoted (writable) main database, in one transaction: `new_primary`
// becomes the primary in geo_nodes, the old primary a disabled secondary
// (it must not be pulled from, nor pull, until it is re-attached), and
// maintenance mode and the database fence, replicated from the old
// primary, end here (the old primary keeps both until it is demoted).
// `also`, when set, runs in the same transaction (a forced promotion
// records what it lost).
absl::Status RecordPromotion(db::Connection& main, const std::string& new_primary,
                             const std::function<absl::Status()>& also = nullptr);

// The current role, shared by the daemon's threads. Thread-safe.
class LiveRole {
 public:
  explicit LiveRole(RoleState initial) : state_(std::move(initial)) {}

  RoleState Get() const ABSL_LOCKS_EXCLUDED(mu_);
  bool primary() const ABSL_LOCKS_EXCLUDED(mu_);
  void Set(RoleState state) ABSL_LOCKS_EXCLUDED(mu_);

  // A write in progress; ends when destroyed.
  class WriteTicket {
   public:
    explicit WriteTicket(const LiveRole* role) : role_(role) {}
    WriteTicket(WriteTicket&& other) noexcept : role_(other.role_) { other.role_ = nullptr; }
    WriteTicket& operator=(WriteTicket&&) = delete;
    ~WriteTicket();

   private:
    const LiveRole* role_;
  };
  // An application write or Git push through this daemon: refused on a
  // secondary (FailedPrecondition, naming the primary) and in maintenance
  // mode or behind the database fence (Unavailable); else counted in flight until the ticket is
  // gone, so a promotion can wait for writes that began before maintenance.
  absl::StatusOr<WriteTicket> BeginWrite() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t writes_in_flight() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable Mutex mu_;
  RoleState state_ ABSL_GUARDED_BY(mu_);
  mutable int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace georep::site
