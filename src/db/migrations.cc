#include "db/migrations.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace georep::db {
namespace {

constexpr absl::string_view kMainV1 = R"sql(
CREATE TABLE georep.geo_nodes (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  url text NOT NULL,
  internal_url text,
  is_primary boolean NOT NULL DEFAULT false,
  enabled boolean NOT NULL DEFAULT true,
  access_key text NOT NULL UNIQUE,
  secret_access_key text NOT NULL,
  files_max_capacity integer NOT NULL DEFAULT 10,
  repos_max_capacity integer NOT NULL DEFAULT 10,
  verification_max_capacity integer NOT NULL DEFAULT 10,
  selective_sync_type text,
  selective_sync_namespace_ids bigint[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX geo_nodes_single_primary ON georep.geo_nodes (is_primary) WHERE is_primary;

CREATE TABLE georep.geo_events (
  id bigserial PRIMARY KEY,
  replicable_name text NOT NULL,
  event_name text NOT NULL,
  model_id bigint NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE georep.geo_event_log (
  id bigserial PRIMARY KEY,
  geo_event_id bigint NOT NULL REFERENCES georep.geo_events (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX geo_event_log_geo_event_id ON georep.geo_event_log (geo_event_id);

-- Writes one event in the caller's transaction; returns the event log id.
CREATE FUNCTION georep.publish_event(replicable text, model_id bigint, event text,
                                     payload jsonb DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  event_id bigint;
  log_id bigint;
BEGIN
  IF replicable IS NULL OR replicable !~ '^[a-z][a-z0-9_]{0,62}$' THEN
    RAISE EXCEPTION 'publish_event: replicable name % is not lower_snake_case', quote_nullable(replicable);
  END IF;
  IF model_id IS NULL THEN
    RAISE EXCEPTION 'publish_event: model_id of % is NULL', replicable;
  END IF;
  IF event IS NULL OR event NOT IN ('created', 'updated', 'deleted') THEN
    RAISE EXCEPTION 'publish_event: event % is not one of created, updated, deleted', quote_nullable(event);
  END IF;
  INSERT INTO georep.geo_events (replicable_name, event_name, model_id, payload)
    VALUES (replicable, event, model_id, coalesce(payload, '{}'))
    RETURNING id INTO event_id;
  INSERT INTO georep.geo_event_log (geo_event_id) VALUES (event_id) RETURNING id INTO log_id;
  RETURN log_id;
END
$$;
)sql";

constexpr absl::string_view kTrackingV1 = R"sql(
-- Position of a log cursor in the primary's geo_event_log.
CREATE TABLE georep.event_cursor (
  name text PRIMARY KEY,
  last_event_id bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Event ids skipped by the cursor that may still commit (sequence gaps).
CREATE TABLE georep.event_gaps (
  event_id bigint PRIMARY KEY,
  first_seen_at timestamptz NOT NULL DEFAULT now()
);
-- Exclusive leases with a time to live (the log cursor's, for one).
CREATE TABLE georep.leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
)sql";

// Workers, and counts kept cheap at any size: statement triggers on a
// counted table append per-state deltas (key, state, ±n), which are folded
// into georep.registry_counts every few seconds. The trigger functions take
// the count key and the column to count by, so one set serves registries
// (state, verification_state) and the primary's checksum states alike.
constexpr absl::string_view kWorkersAndCounts = R"sql(
CREATE TABLE georep.workers (
  worker_id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE georep.registry_counts (
  replicable text NOT NULL,
  state smallint NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (replicable, state)
);
CREATE TABLE georep.registry_count_deltas (
  replicable text NOT NULL,
  state smallint NOT NULL,
  delta bigint NOT NULL
);
CREATE FUNCTION georep.count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO georep.registry_count_deltas SELECT %L, %I, count(*) FROM new_rows GROUP BY 2',
                 TG_ARGV[0], TG_ARGV[1]);
  RETURN NULL;
END $$;
CREATE FUNCTION georep.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO georep.registry_count_deltas SELECT %L, s, sum(d) FROM '
                 '(SELECT %I AS s, -1 AS d FROM old_rows UNION ALL SELECT %I, 1 FROM new_rows) x '
                 'GROUP BY s HAVING sum(d) <> 0', TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
  RETURN NULL;
END $$;
CREATE FUNCTION georep.count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO georep.registry_count_deltas SELECT %L, %I, -count(*) FROM old_rows GROUP BY 2',
                 TG_ARGV[0], TG_ARGV[1]);
  RETURN NULL;
END $$;
-- Folds the deltas into the counts; one folder at a time.
CREATE FUNCTION georep.fold_registry_counts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('georep.fold_registry_counts')) THEN
    RETURN;
  END IF;
  WITH d AS (DELETE FROM georep.registry_count_deltas RETURNING replicable, state, delta),
       s AS (SELECT replicable, state, sum(delta) AS delta FROM d GROUP BY 1, 2)
  INSERT INTO georep.registry_counts AS c (replicable, state, count)
    SELECT replicable, state, delta FROM s ORDER BY 1, 2
  ON CONFLICT (replicable, state) DO UPDATE SET count = c.count + EXCLUDED.count;
END $$;
)sql";

// The count triggers with static SQL: PL/pgSQL then plans each statement
// once per registry table, where EXECUTE format(…) parsed and planned it on
// every firing (about 8 % of the CPU of a busy secondary).
constexpr absl::string_view kStaticCountTriggers = R"sql(
CREATE OR REPLACE FUNCTION georep.count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_ARGV[1] = 'state' THEN
    INSERT INTO georep.registry_count_deltas SELECT TG_ARGV[0], state, count(*) FROM new_rows GROUP BY 2;
  ELSIF TG_ARGV[1] = 'verification_state' THEN
    INSERT INTO georep.registry_count_deltas
      SELECT TG_ARGV[0], verification_state, count(*) FROM new_rows GROUP BY 2;
  ELSE
    RAISE EXCEPTION 'georep.count_insert: no counted column %', TG_ARGV[1];
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION georep.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_ARGV[1] = 'state' THEN
    INSERT INTO georep.registry_count_deltas SELECT TG_ARGV[0], s, sum(d) FROM
      (SELECT state AS s, -1 AS d FROM old_rows UNION ALL SELECT state, 1 FROM new_rows) x
      GROUP BY s HAVING sum(d) <> 0;
  ELSIF TG_ARGV[1] = 'verification_state' THEN
    INSERT INTO georep.registry_count_deltas SELECT TG_ARGV[0], s, sum(d) FROM
      (SELECT verification_state AS s, -1 AS d FROM old_rows
       UNION ALL SELECT verification_state, 1 FROM new_rows) x
      GROUP BY s HAVING sum(d) <> 0;
  ELSE
    RAISE EXCEPTION 'georep.count_update: no counted column %', TG_ARGV[1];
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION georep.count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_ARGV[1] = 'state' THEN
    INSERT INTO georep.registry_count_deltas SELECT TG_ARGV[0], state, -count(*) FROM old_rows GROUP BY 2;
  ELSIF TG_ARGV[1] = 'verification_state' THEN
    INSERT INTO georep.registry_count_deltas
      SELECT TG_ARGV[0], verification_state, -count(*) FROM old_rows GROUP BY 2;
  ELSE
    RAISE EXCEPTION 'georep.count_delete: no counted column %', TG_ARGV[1];
  END IF;
  RETURN NULL;
END $$;
)sql";

constexpr absl::string_view kTrackingBackfill = R"sql(
-- Where the consistency backfill of each replicable has got to.
CREATE TABLE georep.backfill_state (
  replicable text PRIMARY KEY,
  next_id bigint NOT NULL DEFAULT 0,
  passes bigint NOT NULL DEFAULT 0,
  last_pass_at timestamptz
);
)sql";

// Sequence gaps as ranges of ids, so a gap of any size (a large transaction
// committing after a later one) is one row and nothing is capped.
constexpr absl::string_view kTrackingGapRanges = R"sql(
ALTER TABLE georep.event_gaps RENAME TO event_gaps_v1;
CREATE TABLE georep.event_gaps (
  first_id bigint PRIMARY KEY,
  last_id bigint NOT NULL CHECK (last_id >= first_id),
  first_seen_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO georep.event_gaps (first_id, last_id, first_seen_at)
  SELECT event_id, event_id, first_seen_at FROM georep.event_gaps_v1;
DROP TABLE georep.event_gaps_v1;
)sql";

// An operator's pause of this secondary (`georep replication pause`): one
// row while paused; the daemon enforces it, across restarts of either the
// daemon or the standby.
constexpr absl::string_view kTrackingPause = R"sql(
CREATE TABLE georep.replication_pause (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  paused_at timestamptz NOT NULL DEFAULT now(),
  paused_by text NOT NULL
);
)sql";

// A handover under way on this secondary (site/upstream.h): the upstream
// its standby streamed from before a promotion detached it.
constexpr absl::string_view kTrackingDetachedUpstream = R"sql(
CREATE TABLE georep.detached_upstream (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  previous_conninfo text NOT NULL,
  previous_slot text NOT NULL,
  new_primary text NOT NULL,
  since timestamptz NOT NULL DEFAULT now()
);
)sql";

// Maintenance mode of the primary (site/role.h): while the row is there,
// its daemon refuses the application's writes and Git pushes. Replicated to
// every standby; a promotion deletes it on the new primary.
constexpr absl::string_view kMainMaintenance = R"sql(
CREATE TABLE georep.maintenance (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  since timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL
);
)sql";

// The database fence (site/fence.h): while the row is there, the
// application's roles may not connect and every database defaults to
// read-only transactions; `roles` and `databases` keep what they were
// before ({"role": connection limit}, {"database": its own
// default_transaction_read_only or null}), so lifting restores them.
constexpr absl::string_view kMainFence = R"sql(
CREATE TABLE georep.fence (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  since timestamptz NOT NULL DEFAULT now(),
  reason text NOT NULL,
  raised_by text NOT NULL,
  roles jsonb NOT NULL DEFAULT '{}',
  databases jsonb NOT NULL DEFAULT '{}'
);
)sql";

// Items a forced failover lost (framework/registry/lost_in_failover.h):
// their rows replicated, their bytes are on no site the new primary can
// pull from. Recorded by the promotion, on the new primary, and replicated,
// so every secondary stops fetching them and says why; salvage removes
// what it brings back.
constexpr absl::string_view kMainLostInFailover = R"sql(
CREATE TABLE georep.lost_in_failover (
  replicable text NOT NULL,
  model_id bigint NOT NULL,
  failover_at timestamptz NOT NULL DEFAULT now(),
  old_primary text NOT NULL,
  new_primary text NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (replicable, model_id)
);
)sql";

// The latest status report of each secondary (fleet/reports.h), kept by the
// primary and replicated, so every site can show the fleet.
constexpr absl::string_view kMainSiteReports = R"sql(
CREATE TABLE georep.site_reports (
  site_id bigint PRIMARY KEY REFERENCES georep.geo_nodes (id) ON DELETE CASCADE,
  reported_at timestamptz NOT NULL DEFAULT now(),
  report jsonb NOT NULL
);
)sql";

// A site's own re-verification period (PUT /api/v1/sites/NAME); NULL: its
// configuration's verification.interval_seconds.
constexpr absl::string_view kMainReverifyInterval = R"sql(
ALTER TABLE georep.geo_nodes ADD COLUMN reverify_interval_seconds double precision
  CHECK (reverify_interval_seconds IS NULL OR reverify_interval_seconds BETWEEN 1 AND 31536000);
)sql";

// How far the primary has pruned its event log (events/prune.h): every
// event below `below` may be gone. Replicated, so a secondary's log cursor
// that still needed one of them knows it and falls back to a backfill.
constexpr absl::string_view kMainEventLogPruned = R"sql(
CREATE TABLE georep.event_log_pruned (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  below bigint NOT NULL,
  events_pruned bigint NOT NULL DEFAULT 0,
  pruned_at timestamptz NOT NULL DEFAULT now()
);
)sql";

// Selective sync (include/georep/selective_sync.h): a secondary holds
// everything (type NULL), or the items of some namespaces (full paths; a
// group holds its subgroups) or of some shards. The namespace ids of the
// first schema are replaced by paths, which any application can map to.
// And the replicables a site does not replicate at all.
constexpr absl::string_view kMainSelectiveSync = R"sql(
ALTER TABLE georep.geo_nodes
  DROP COLUMN selective_sync_namespace_ids,
  ADD COLUMN disabled_replicables text[] NOT NULL DEFAULT '{}',
  ADD COLUMN selective_sync_namespaces text[] NOT NULL DEFAULT '{}',
  ADD COLUMN selective_sync_shards text[] NOT NULL DEFAULT '{}',
  ADD CONSTRAINT geo_nodes_selective_sync_type
    CHECK (selective_sync_type IS NULL OR selective_sync_type IN ('namespaces', 'shards'));
)sql";

// A log cursor that found events it needed pruned falls back (events/
// log_cursor.h): how often, when last, and how many of those fallbacks the
// verifier has answered by comparing every copy with the primary's checksums.
constexpr absl::string_view kTrackingCursorFallbacks = R"sql(
ALTER TABLE georep.event_cursor
  ADD COLUMN fallbacks bigint NOT NULL DEFAULT 0,
  ADD COLUMN reconciled_fallbacks bigint NOT NULL DEFAULT 0,
  ADD COLUMN last_fallback_at timestamptz;
)sql";

// The selective-sync scope (framework::ScopeSql) a replicable's backfill
// position was reached under: a different scope starts its pass over.
constexpr absl::string_view kTrackingBackfillScope = R"sql(
ALTER TABLE georep.backfill_state ADD COLUMN scope text NOT NULL DEFAULT 'true';
)sql";

// A copy's multipart upload into the site's bucket while it is in flight:
// after a kill -9 its parts would stay in the bucket, so the upload is
// aborted (framework::AbortOrphanedUploads) once its worker is dead.
constexpr absl::string_view kTrackingBucketUploads = R"sql(
CREATE TABLE georep.bucket_uploads (
  upload_id text PRIMARY KEY,
  object_key text NOT NULL,
  worker_id text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  abort_error text
);
)sql";

// The versioned steps each replicable's registry table has had
// (framework::EnsureRegistryTable), like schema_migrations for the tables
// of one replicable.
constexpr absl::string_view kTrackingRegistryMigrations = R"sql(
CREATE TABLE georep.registry_migrations (
  replicable text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (replicable, version)
);
)sql";

const std::vector<Migration>& Migrations(DatabaseKind kind) {
  static const std::vector<Migration> main = {
      {1, "sites and event log", kMainV1},
      {2, "workers and counts", kWorkersAndCounts},
      {3, "static count triggers", kStaticCountTriggers},
      {4, "maintenance mode", kMainMaintenance},
      {5, "site status reports", kMainSiteReports},
      {6, "per-site reverify interval", kMainReverifyInterval},
      {7, "event log pruning", kMainEventLogPruned},
      {8, "selective sync and disabled replicables per site", kMainSelectiveSync},
      {9, "database fence", kMainFence},
      {10, "lost in failover", kMainLostInFailover}};
  static const std::vector<Migration> tracking = {
      {1, "cursor, gaps and leases", kTrackingV1},
      {2, "workers and counts", kWorkersAndCounts},
      {3, "backfill state", kTrackingBackfill},
      {4, "static count triggers", kStaticCountTriggers},
      {5, "gap ranges", kTrackingGapRanges},
      {6, "replication pause", kTrackingPause},
      {7, "detached upstream", kTrackingDetachedUpstream},
      {8, "cursor fallbacks", kTrackingCursorFallbacks},
      {9, "backfill scope", kTrackingBackfillScope},
      {10, "multipart uploads in flight", kTrackingBucketUploads},
      {11, "registry versions", kTrackingRegistryMigrations}};
  return kind == DatabaseKind::kMain ? main : tracking;
}

// Reads the recorded kind; nullopt if the database has no Georep schema yet.
absl::StatusOr<std::optional<std::string>> RecordedKind(Connection& conn) {
  auto exists = conn.Exec("SELECT to_regclass('georep.database_kind') IS NOT NULL");
  if (!exists.ok()) return exists.status();
  if (!exists->GetBool(0, 0)) return std::optional<std::string>();
  auto r = conn.Exec("SELECT kind FROM georep.database_kind LIMIT 1");
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(std::string(r->Get(0, 0)));
}

absl::Status CheckKind(Connection& conn, DatabaseKind kind, const std::optional<std::string>& got) {
  if (got && *got != KindName(kind)) {
    return absl::FailedPreconditionError(absl::StrCat("database (", conn.display_name(),
                                                      ") is a Georep ", *got, " database, not a ",
                                                      KindName(kind), " database"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view KindName(DatabaseKind kind) {
  return kind == DatabaseKind::kMain ? "main" : "tracking";
}

int LatestVersion(DatabaseKind kind) { return Migrations(kind).back().version; }

namespace {

// A schema a newer georep migrated: this binary must not run against it.
absl::Status NewerSchema(Connection& conn, DatabaseKind kind, int64_t version) {
  return absl::FailedPreconditionError(absl::StrCat(
      KindName(kind), " database (", conn.display_name(), ") is at schema version ", version,
      ", newer than this georep knows (", LatestVersion(kind),
      "): a newer georep migrated it; run that version (`georep db migrate --status` lists the "
      "migrations)"));
}

}  // namespace

absl::StatusOr<int> Migrate(Connection& conn, DatabaseKind kind) {
  absl::StatusOr<bool> standby = conn.InRecovery();
  if (!standby.ok()) return standby.status();
  if (*standby) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database (", conn.display_name(), ") is a read-only standby; ", KindName(kind),
        " migrations need a writable database",
        kind == DatabaseKind::kMain
            ? " (a secondary's main database is migrated on the primary)"
            : " (a secondary's tracking database is its own PostgreSQL, not the standby)"));
  }
  // Serialise concurrent migrators of this database.
  if (auto r = conn.Exec("SELECT pg_advisory_lock(hashtext('georep.migrate'))"); !r.ok()) {
    return r.status();
  }
  struct Unlock {
    Connection& c;
    ~Unlock() { (void)c.Exec("SELECT pg_advisory_unlock(hashtext('georep.migrate'))"); }
  } unlock{conn};

  auto kind_now = RecordedKind(conn);
  if (!kind_now.ok()) return kind_now.status();
  if (auto s = CheckKind(conn, kind, *kind_now); !s.ok()) return s;
  if (!*kind_now) {
    // A main database must not be mistaken for a tracking one or vice versa:
    // refuse to claim a database that already has the other kind's tables.
    auto other = conn.Exec(
        "SELECT to_regclass('georep.geo_nodes') IS NOT NULL, "
        "to_regclass('georep.event_cursor') IS NOT NULL");
    if (!other.ok()) return other.status();
    if ((kind == DatabaseKind::kMain && other->GetBool(0, 1)) ||
        (kind == DatabaseKind::kTracking && other->GetBool(0, 0))) {
      return absl::FailedPreconditionError(
          absl::StrCat("database (", conn.display_name(),
                       ") holds Georep tables of the other kind; refusing to apply ",
                       KindName(kind), " migrations"));
    }
    absl::Status s = InTransaction(conn, [&]() -> absl::Status {
      if (auto st = conn.ExecScript(
              "CREATE SCHEMA IF NOT EXISTS georep;"
              "CREATE TABLE georep.database_kind (kind text NOT NULL CHECK (kind IN "
              "('main','tracking')));"
              "CREATE UNIQUE INDEX database_kind_one_row ON georep.database_kind ((true));"
              "CREATE TABLE georep.schema_migrations (version integer PRIMARY KEY, name text NOT "
              "NULL,"
              " applied_at timestamptz NOT NULL DEFAULT now());");
          !st.ok()) {
        return st;
      }
      auto r = conn.Exec("INSERT INTO georep.database_kind (kind) VALUES ($1)",
                         {std::string(KindName(kind))});
      return r.status();
    });
    if (!s.ok()) return s;
  }

  auto applied = conn.Exec("SELECT coalesce(max(version), 0) FROM georep.schema_migrations");
  if (!applied.ok()) return applied.status();
  int64_t current = applied->GetInt64(0, 0);
  if (current > LatestVersion(kind)) return NewerSchema(conn, kind, current);
  int count = 0;
  for (const Migration& m : Migrations(kind)) {
    if (m.version <= current) continue;
    absl::Status s = InTransaction(conn, [&]() -> absl::Status {
      if (auto st = conn.ExecScript(m.sql); !st.ok()) return st;
      return conn
          .Exec("INSERT INTO georep.schema_migrations (version, name) VALUES ($1, $2)",
                {absl::StrCat(m.version), std::string(m.name)})
          .status();
    });
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat(KindName(kind), " migration ", m.version, " (",
                                                 m.name, "): ", s.message()));
    }
    ++count;
  }
  return count;
}

absl::Status CheckSchema(Connection& conn, DatabaseKind kind) {
  auto kind_now = RecordedKind(conn);
  if (!kind_now.ok()) return kind_now.status();
  if (!*kind_now) {
    return absl::FailedPreconditionError(absl::StrCat("database (", conn.display_name(),
                                                      ") has no Georep ", KindName(kind),
                                                      " schema; run `georep db migrate`"));
  }
  if (auto s = CheckKind(conn, kind, *kind_now); !s.ok()) return s;
  auto r = conn.Exec("SELECT coalesce(max(version), 0) FROM georep.schema_migrations");
  if (!r.ok()) return r.status();
  if (r->GetInt64(0, 0) < LatestVersion(kind)) {
    return absl::FailedPreconditionError(
        absl::StrCat(KindName(kind), " database (", conn.display_name(), ") is at schema version ",
                     r->GetInt64(0, 0), ", this georep needs ", LatestVersion(kind),
                     "; run `georep db migrate`"));
  }
  if (r->GetInt64(0, 0) > LatestVersion(kind)) return NewerSchema(conn, kind, r->GetInt64(0, 0));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<MigrationState>> MigrationStates(Connection& conn, DatabaseKind kind) {
  auto kind_now = RecordedKind(conn);
  if (!kind_now.ok()) return kind_now.status();
  std::map<int, MigrationState> by_version;
  for (const Migration& m : Migrations(kind)) {
    by_version[m.version] = {m.version, std::string(m.name), "", true};
  }
  if (*kind_now) {
    if (auto s = CheckKind(conn, kind, *kind_now); !s.ok()) return s;
    auto rows = conn.Exec(
        "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM georep.schema_migrations ORDER BY version");
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->rows(); ++i) {
      int version = static_cast<int>(rows->GetInt64(i, 0));
      auto [it, fresh] = by_version.try_emplace(version);
      if (fresh) it->second = {version, std::string(rows->Get(i, 1)), "", false};
      it->second.applied_at = std::string(rows->Get(i, 2));
    }
  }
  std::vector<MigrationState> out;
  for (auto& [v, state] : by_version) out.push_back(std::move(state));
  return out;
}

}  // namespace georep::db
