// A site daemon's settings, read from a TOML file with GEOREP_* environment
// overrides (setting "database.main" ⇐ GEOREP_DATABASE_MAIN).
//
// Every setting is declared once in config.cc with its default and help; an
// unknown key, a wrong type or a bad value stops start-up with one line that
// names the setting and the file (or the environment variable).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "georep/replicable.h"
#include "util/logging.h"

namespace georep::site {

struct Config {
  std::string path;  // the file these settings came from

  std::string site_name;      // this site's name in geo_nodes (required)
  std::string main_database;  // libpq conninfo of the main DB; a standby on a secondary (required)
  std::string tracking_database;  // secondaries: conninfo of their writable tracking DB
  std::string http_listen = "127.0.0.1:8080";            // address:port the daemon serves HTTP on
  int http_threads = 4;                                  // HTTP worker threads
  std::string storage_root = "/var/lib/georep/storage";  // blob files
  std::string repository_root = "/var/lib/georep/repositories";  // bare Git repositories
  bool sample_enabled = false;    // serve the sample forge's API (the demo's application)
  std::string access_key;         // secondaries: key issued by `georep site add`
  std::string secret_access_key;  // secondaries: secret printed once by `georep site add`
  log::Level log_level = log::Level::kInfo;  // debug, info, warn, error
  double monitor_interval_seconds = 1.0;     // how often replication state is sampled

  // Secondary engine.
  double cursor_poll_seconds = 0.1;  // how often the log cursor looks for new events
  double cursor_lease_seconds =
      5;  // the cursor lease's time to live; a standby takes over after it
  double gap_timeout_seconds = 3600;      // how long a skipped event id is awaited (late commits)
  int backfill_batch = 50000;             // model ids per backfill step
  double backfill_interval_seconds = 60;  // pause between full backfill passes
  double sync_timeout_seconds = 3600;     // a started sync older than this is reclaimed
  double dead_worker_seconds = 15;  // a daemon silent this long has its started rows reclaimed
  double verification_interval_seconds = 7 * 24 * 3600;  // re-checksum every file this often
  // Re-read every repository's refs (primary) and compare every copy's digest
  // with the primary's (secondary) this often; refs cost no git process.
  double repository_interval_seconds = 300;

  // Replicables declared in this file ([[replicable]] blocks), in file order.
  std::vector<ReplicableSpec> replicables;
};

// Looks up an environment variable; nullopt if unset. Injected for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// Reads `path`, applies environment overrides, validates.
absl::StatusOr<Config> LoadConfig(const std::string& path, const EnvLookup& env = ProcessEnv());

// TOML text for `config` (what `georep demo` writes). Round-trips LoadConfig.
std::string RenderConfig(const Config& config);

// One line per setting: key, environment variable, default, help (for --help).
std::string DescribeSettings();

}  // namespace georep::site
