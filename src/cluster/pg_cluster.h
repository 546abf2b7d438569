// A local PostgreSQL server: create (initdb or pg_basebackup), start, stop.
//
// Used by `georep demo` and by the test fixtures, so both run the same steps.
// PostgreSQL refuses to run as root; when we are root every server program
// runs as the `postgres` account through runuser, and the data and log
// directories are made to belong to it. Servers listen on 127.0.0.1 only and
// have no Unix socket, so no socket path can be too long.
//
// Not thread-safe; one object per server.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace georep::cluster {

struct ClusterOptions {
  std::string data_dir;  // absolute; created, owned by postgres, mode 0700
  int port = 0;
  std::string log_path;  // server log; its folder is created, owned by postgres
  // Turn off fsync and full-page writes: for throwaway test clusters only.
  bool unsafe_fast = false;
};

class PgCluster {
 public:
  explicit PgCluster(ClusterOptions options) : opt_(std::move(options)) {}

  const ClusterOptions& options() const { return opt_; }
  int port() const { return opt_.port; }

  // True if the data directory holds a cluster (PG_VERSION exists).
  bool Exists() const;
  // True if a postmaster is running on this data directory.
  bool IsRunning() const;

  // initdb with trust authentication for local TCP and replication
  // connections, data checksums (so pg_rewind can follow a failover).
  absl::Status Init();
  // pg_basebackup from a running primary on 127.0.0.1:`primary_port`,
  // streaming through physical replication slot `slot` (created if missing),
  // configured as a standby (-R).
  absl::Status InitStandby(int primary_port, const std::string& slot);

  absl::Status Start();
  // Fast shutdown; `immediate`: as a crash would (no checkpoint, recovery at
  // the next start). OK if not running.
  absl::Status Stop(bool immediate = false);

  // Creates database `name` if it does not exist (server must be running).
  absl::Status CreateDatabase(const std::string& name);

  // libpq conninfo for database `dbname` as the postgres superuser.
  std::string Conninfo(const std::string& dbname) const;

  // Appends settings to postgresql.conf (the last one of a name wins).
  absl::Status AppendSettings(const std::string& text);

 private:
  ClusterOptions opt_;
};

// Folder with initdb, pg_ctl, pg_basebackup (GEOREP_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin).
absl::StatusOr<std::string> PgBinDir();

// A primary somewhere else, to make a standby of (`georep db replicate`).
struct ReplicaSource {
  std::string host;
  int port = 5432;
  std::string user;              // with the REPLICATION attribute
  std::string slot;              // physical replication slot; created unless it exists
  std::string sslmode;           // empty: libpq's default
  std::string password;          // empty: PGPASSFILE or ~/.pgpass
  std::string application_name;  // how the primary names this standby
};

// The libpq conninfo of `source` (host, port, user, sslmode,
// application_name; the password only when `with_password`).
std::string SourceConninfo(const ReplicaSource& source, bool with_password);

// A former primary's stopped cluster in `data_dir` made a standby of
// `source`: pg_rewind to its timeline (unless it never went past the fork,
// when there is nothing to rewind; WAL the old primary wrote after the fork
// is discarded), standby.signal and primary_conninfo written (-R), streaming
// through `source.slot`, and the replication slots it kept for its own
// standbys dropped (a standby holding them would keep their WAL for ever).
// FailedPrecondition when no cluster is there or PostgreSQL runs on it. The
// source role needs a normal connection (database postgres) and a
// superuser, or EXECUTE on pg_ls_dir, pg_stat_file and pg_read_binary_file.
struct RewindOutcome {
  bool rewound = false;  // false: the cluster had not gone past the fork
  std::string output;    // what pg_rewind said
};
absl::StatusOr<RewindOutcome> RewindToStandby(const ReplicaSource& source,
                                              const std::string& data_dir);

// pg_basebackup of `source` into `data_dir` (absent or empty; made with
// mode 0700, owned by postgres when we are root), written as a standby of it
// (standby.signal and primary_conninfo, -R) streaming through its slot. The
// operator's own PostgreSQL service then starts it.
absl::Status ReplicateFrom(const ReplicaSource& source, const std::string& data_dir);

}  // namespace georep::cluster
