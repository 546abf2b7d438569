// An operator's pause of a secondary (`georep replication pause|resume`):
// WAL replay on its standby and all its sync and verification work stop
// until resumed. The pause is a row in the tracking database, so it
// survives a restart of the daemon or of the standby (whose own replay
// pause does not): a running daemon enforces it (EnforcePause) every
// second (daemon::SiteRunner). Every statement on georep.replication_pause is here.
//
// Stateless; every call takes the connections to use.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "db/connection.h"

namespace georep::site {

struct PauseState {
  bool paused = false;
  std::string since;  // when, as PostgreSQL prints a timestamptz
  std::string by;     // who (user@host)
};
absl::StatusOr<PauseState> ReadPause(db::Connection& tracking);

// Records the pause and pauses replay. Idempotent.
absl::Status PauseReplication(db::Connection& tracking, db::Connection& standby,
                              const std::string& by);
// Resumes replay and forgets the pause. Idempotent.
absl::Status ResumeReplication(db::Connection& tracking, db::Connection& standby);
// Makes the standby's replay agree with the recorded pause.
absl::Status EnforcePause(db::Connection& standby, bool paused);

}  // namespace georep::site
