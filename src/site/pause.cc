#include "site/pause.h"

#include "absl/strings/str_cat.h"

namespace georep::site {

absl::StatusOr<PauseState> ReadPause(db::Connection& tracking) {
  auto r = tracking.Exec("SELECT paused_at::text, paused_by FROM georep.replication_pause");
  if (!r.ok()) return r.status();
  PauseState s;
  if (r->rows() == 1) s = {true, std::string(r->Get(0, 0)), std::string(r->Get(0, 1))};
  return s;
}

absl::Status EnforcePause(db::Connection& standby, bool paused) {
  auto r = standby.Exec(
      "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() "
      "END");
  if (!r.ok()) return r.status();
  if (!r->GetBool(0, 0)) {
    return absl::FailedPreconditionError(absl::StrCat("main database (", standby.display_name(),
                                                      ") is not a standby: nothing to pause"));
  }
  if (r->GetBool(0, 1) == paused) return absl::OkStatus();
  return standby.Exec(paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()")
      .status();
}

absl::Status PauseReplication(db::Connection& tracking, db::Connection& standby,
                              const std::string& by) {
  if (auto s = EnforcePause(standby, true); !s.ok()) return s;
  return tracking
      .Exec("INSERT INTO georep.replication_pause (paused_by) VALUES ($1) ON CONFLICT DO NOTHING",
            {by})
      .status();
}

absl::Status ResumeReplication(db::Connection& tracking, db::Connection& standby) {
  if (auto s = tracking.Exec("DELETE FROM georep.replication_pause"); !s.ok()) return s.status();
  return EnforcePause(standby, false);
}

}  // namespace georep::site
