// A site daemon's settings, read from a TOML file with GEOREP_* environment
// overrides (setting "database.main" ⇐ GEOREP_DATABASE_MAIN).
//
// Every setting is declared once in settings.cc with its default and help; an
// unknown key, a wrong type or a bad value stops start-up with one line that
// names the setting and the file (or the environment variable).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/defaults.h"
#include "georep/replicable.h"
#include "util/logging.h"

namespace georep::config {

struct Config {
  std::string path;  // the file these settings came from

  std::string site_name;      // this site's name in geo_nodes (required)
  std::string main_database;  // libpq conninfo of the main DB; a standby on a secondary (required)
  std::string tracking_database;  // secondaries: conninfo of their writable tracking DB
  std::string http_listen = "127.0.0.1:8080";  // address:port the daemon serves HTTP on
  int http_threads = 4;                        // HTTP worker threads
  int http_max_connections = 1024;             // open connections at once, in all
  int http_max_connections_per_client = 128;   // … from one client address
  std::string geo_allowed_addresses;           // "" any; else util/net.h ParseAddressList
  std::string tls_cert;  // HTTPS: PEM certificate chain of this site's listener
  std::string tls_key;   // HTTPS: its PEM private key
  std::string ca_file;   // PEM CAs a site's HTTPS certificate must chain to (else the system's)
  std::string storage_root = "/var/lib/georep/storage";          // blob files
  std::string repository_root = "/var/lib/georep/repositories";  // bare Git repositories
  // Where a secondary keeps its blob copies: "file" (under storage_root) or
  // "s3" (an S3-compatible bucket): framework/storage/blob_store.h.
  std::string storage_kind = "file";
  std::string s3_endpoint;  // "https://s3.eu-west-3.amazonaws.com"
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_prefix;               // before every key, "georep/"
  bool s3_virtual_host = false;        // bucket.host/key (else endpoint/bucket/key)
  std::string s3_access_key;           // else $AWS_ACCESS_KEY_ID
  std::string s3_secret_key_file;      // else $AWS_SECRET_ACCESS_KEY
  int s3_part_size_mib = 16;           // objects larger go up in parts of this size
  bool sample_enabled = false;         // serve the sample forge's API (the demo's application)
  std::string access_key;              // secondaries: key issued by `georep site add`
  std::string secret_access_key;       // secondaries: secret printed once by `georep site add`
  std::string secret_access_key_file;  // or the file holding it
  log::Level log_level = log::Level::kInfo;  // debug, info, warn, error
  double monitor_interval_seconds = 1.0;     // how often replication state is sampled
  double report_interval_seconds = 10.0;     // secondaries: how often they report to the primary

  // Secondary engine.
  // (defaults and their reasons: src/config/defaults.h)
  double cursor_poll_seconds = defaults::kCursorPollSeconds;
  double cursor_lease_seconds = defaults::kCursorLeaseSeconds;  // a standby takes over after it
  double gap_timeout_seconds = defaults::kGapTimeoutSeconds;    // late commits
  int backfill_batch = defaults::kBackfillBatch;
  double backfill_interval_seconds = defaults::kBackfillIntervalSeconds;
  double sync_timeout_seconds = defaults::kSyncTimeoutSeconds;
  double dead_worker_seconds = defaults::kDeadWorkerSeconds;
  double verification_interval_seconds = defaults::kVerificationIntervalSeconds;
  double scrub_rate = 0;  // copies/s re-read when due; 0: no limit
  double repository_interval_seconds = defaults::kRepositoryIntervalSeconds;

  // Primary: event-log pruning (events/prune.h).
  double prune_interval_seconds = defaults::kPruneIntervalSeconds;
  double prune_hold_seconds = defaults::kPruneHoldSeconds;
  int prune_batch = defaults::kPruneBatch;

  // The fleet view (GET /api/v1/sites): when a secondary counts as unhealthy.
  double health_report_stale_seconds = 60;     // no status report accepted for this long
  double health_max_replay_lag_seconds = 300;  // its database this far behind
  double health_max_failed_share = 0.05;       // this share of its registry rows failed
  bool health_paused_is_healthy = false;       // a paused secondary is not a current copy

  // Admin authentication: `Authorization: Bearer <token>` with the token in
  // this file is required on every mutating route; reads as `admin_reads`.
  std::string admin_token_file;
  std::string admin_reads = "loopback";  // open | loopback (open from loopback only) | token

  // Replicables this site does not replicate ([replication] disabled); the
  // site's row in geo_nodes may disable more (site::Site).
  std::vector<std::string> disabled_replicables;

  // Replicables declared in this file ([[replicable]] blocks), in file order.
  std::vector<ReplicableSpec> replicables;
};

// This site's own listener as a URL for a client on this host: https when
// it serves TLS, the wildcard address as 127.0.0.1. "" when http.listen
// does not parse.
std::string ListenUrl(const Config& config);

// Looks up an environment variable; nullopt if unset. Injected for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// The names of this process's environment variables.
std::vector<std::string> ProcessEnvNames();

// Reads `path`, applies environment overrides (`env`), validates. A
// GEOREP_* name in `env_names` that is no setting is an error naming it.
absl::StatusOr<Config> LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv(),
                                  const std::vector<std::string>& env_names = ProcessEnvNames());

// TOML text for `config` (what `georep demo` writes). Round-trips LoadConfig.
std::string RenderConfig(const Config& config);

// The replicables a site's daemon does not replicate: its configuration's
// [replication] disabled and its row's disabled_replicables, sorted, once each.
std::vector<std::string> DisabledReplicables(const Config& config,
                                             const std::vector<std::string>& in_row);

// One line per setting: key, environment variable, default, help (for --help).
std::string DescribeSettings();
// docs/configuration.md: every setting with its environment variable, type,
// default and meaning, in Markdown.
std::string SettingsReference();

}  // namespace georep::config
