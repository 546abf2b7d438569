// The table of a site's settings, and what is written from it: the
// reference (docs/configuration.md) and the lines of `georep serve --help`.
#include "config/settings.h"

#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "util/net.h"
#include "util/validate.h"

namespace georep::config {
namespace {

template <typename T>
T As(const Value& v) {
  if constexpr (std::is_same_v<T, std::string>) return std::get<std::string>(v);
  if constexpr (std::is_same_v<T, int64_t>) return std::get<int64_t>(v);
  if constexpr (std::is_same_v<T, bool>) return std::get<bool>(v);
  if constexpr (std::is_same_v<T, List>) return std::get<List>(v);
  if constexpr (std::is_same_v<T, double>) {
    return std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v))
                                              : std::get<double>(v);
  }
}

SettingDef String(absl::string_view key, absl::string_view help, std::string Config::*member) {
  return {key, Type::kString, help,
          [member](Config& c, const Value& v) {
            c.*member = As<std::string>(v);
            return absl::OkStatus();
          },
          [member](const Config& c) -> std::optional<Value> {
            if ((c.*member).empty()) return std::nullopt;
            return Value(c.*member);
          }};
}

SettingDef Seconds(absl::string_view key, absl::string_view help, double Config::*member, double lo,
                   double hi) {
  return {key, Type::kDouble, help,
          [=](Config& c, const Value& v) -> absl::Status {
            double d = As<double>(v);
            if (!(d >= lo && d <= hi)) {
              return absl::InvalidArgumentError(absl::StrCat(d, " is not ", lo, " to ", hi));
            }
            c.*member = d;
            return absl::OkStatus();
          },
          [member](const Config& c) -> std::optional<Value> { return Value(c.*member); }};
}

// A real number in [lo, hi] that is not a duration.
constexpr auto& Number = Seconds;

SettingDef Int(absl::string_view key, absl::string_view help, int Config::*member, int lo, int hi) {
  return {key, Type::kInt, help,
          [=](Config& c, const Value& v) -> absl::Status {
            // Checked as read, before narrowing: 4294967297 is out of range,
            // not 1.
            int64_t n = As<int64_t>(v);
            if (n < lo || n > hi) {
              return absl::InvalidArgumentError(absl::StrCat(n, " is not ", lo, " to ", hi));
            }
            c.*member = static_cast<int>(n);
            return absl::OkStatus();
          },
          [member](const Config& c) -> std::optional<Value> { return Value(int64_t{c.*member}); }};
}

SettingDef Bool(absl::string_view key, absl::string_view help, bool Config::*member) {
  return {key, Type::kBool, help,
          [member](Config& c, const Value& v) {
            c.*member = As<bool>(v);
            return absl::OkStatus();
          },
          [member](const Config& c) -> std::optional<Value> {
            if (!(c.*member)) return std::nullopt;  // the default is off
            return Value(true);
          }};
}

// `def`, written out (RenderConfig) only when `is_default` says the value
// is not its default: settings most files never mention.
SettingDef Unless(SettingDef def, bool (*is_default)(const Config&)) {
  auto read = def.read;
  def.read = [read, is_default](const Config& c) -> std::optional<Value> {
    if (is_default(c)) return std::nullopt;
    return read(c);
  };
  return def;
}

// Who the site is, its databases, how it serves HTTP, the CAs it trusts.
std::vector<SettingDef> SiteSettings() {
  return {
      String("site_name", "this site's name in geo_nodes (required)", &Config::site_name),
      String("database.main", "libpq conninfo of the main database (required)",
             &Config::main_database),
      String("database.tracking", "secondary: conninfo of the tracking database",
             &Config::tracking_database),
      {"http.listen", Type::kString, "address:port to serve HTTP on",
       [](Config& c, const Value& v) -> absl::Status {
         auto hp = ParseHostPort(As<std::string>(v));
         if (!hp.ok()) return hp.status();
         c.http_listen = As<std::string>(v);
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> { return Value(c.http_listen); }},
      Int("http.threads", "HTTP worker threads (1 to 256)", &Config::http_threads, 1, 256),
      Int("http.max_connections",
          "open connections served at once; more are answered 503 and closed (16 to 1000000; "
          "default 1024; keep it below the open-files limit)",
          &Config::http_max_connections, 16, 1000000),
      Int("http.max_connections_per_client",
          "open connections from one client address (1 to 1000000; default 128)",
          &Config::http_max_connections_per_client, 1, 1000000),
      String("http.tls_cert",
             "serve HTTPS with this PEM certificate chain (with http.tls_key; the site's URL "
             "in geo_nodes is then https://…)",
             &Config::tls_cert),
      String("http.tls_key", "the PEM private key of http.tls_cert", &Config::tls_key),
      {"http.geo_allowed_addresses", Type::kString,
       "addresses and ranges (\"10.0.0.0/8, 2001:db8::/32\") that may use the /geo/ routes; "
       "others are answered 403 before anything else is read (default: any address; the Geo "
       "key is checked either way)",
       [](Config& c, const Value& v) -> absl::Status {
         auto list = ParseAddressList(As<std::string>(v));
         if (!list.ok()) return list.status();
         c.geo_allowed_addresses = As<std::string>(v);
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> {
         if (c.geo_allowed_addresses.empty()) return std::nullopt;
         return Value(c.geo_allowed_addresses);
       }},
      String("primary.ca_file",
             "PEM file of the CAs that another site's HTTPS certificate must chain to, when "
             "this site fetches from the primary or reports to it (default: the system's CAs)",
             &Config::ca_file),
  };
}

// Where blobs and repositories are kept (and whether the sample forge is
// served).
std::vector<SettingDef> StorageSettings() {
  return {
      String("storage.root", "folder of blob files", &Config::storage_root),
      {"storage.kind", Type::kString,
       "where this site keeps its blobs (a primary its blobs, a secondary its copies): \"file\" "
       "(under storage.root, the default) or "
       "\"s3\" (an S3-compatible bucket: storage.endpoint, storage.bucket, ...)",
       [](Config& c, const Value& v) -> absl::Status {
         const std::string kind = As<std::string>(v);
         if (kind != "file" && kind != "s3") {
           return absl::InvalidArgumentError(
               absl::StrCat("\"", kind, "\" is not a storage kind (\"file\" or \"s3\")"));
         }
         c.storage_kind = kind;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> {
         if (c.storage_kind == "file") return std::nullopt;
         return Value(c.storage_kind);
       }},
      String("storage.endpoint", "s3: the store's URL (http:// or https://)", &Config::s3_endpoint),
      String("storage.bucket", "s3: the bucket of the blobs (it must exist)", &Config::s3_bucket),
      Unless(String("storage.region", "s3: the bucket's region (default us-east-1)",
                    &Config::s3_region),
             [](const Config& c) { return c.s3_region == Config().s3_region; }),
      String("storage.prefix", "s3: put before every key (\"georep/\"; default none)",
             &Config::s3_prefix),
      Bool("storage.virtual_host",
           "s3: address the bucket as bucket.endpoint-host/key (true) rather than "
           "endpoint/bucket/key (false, the default)",
           &Config::s3_virtual_host),
      String("storage.access_key", "s3: the access key (default: $AWS_ACCESS_KEY_ID)",
             &Config::s3_access_key),
      String("storage.secret_key_file",
             "s3: file holding the secret key (default: $AWS_SECRET_ACCESS_KEY)",
             &Config::s3_secret_key_file),
      Unless(Int("storage.part_size_mib",
                 "s3: objects larger than this go up in parts of this many MiB (5 to 5120; "
                 "default 16)",
                 &Config::s3_part_size_mib, 5, 5120),
             [](const Config& c) { return c.s3_part_size_mib == Config().s3_part_size_mib; }),
      Bool("sample.enabled",
           "serve the sample forge's API (/api/v1/sample/...), the demo's application "
           "(true or false; default false)",
           &Config::sample_enabled),
      String("storage.repository_root", "folder of bare Git repositories",
             &Config::repository_root),
  };
}

// A secondary's Geo key.
std::vector<SettingDef> AuthSettings() {
  return {
      String("auth.access_key",
             "secondary: access key from `georep site add` (default: this site's key in "
             "geo_nodes)",
             &Config::access_key),
      String("auth.secret_access_key",
             "secondary: secret from `georep site add` (default: this site's secret in "
             "geo_nodes)",
             &Config::secret_access_key),
      String("auth.secret_access_key_file",
             "secondary: file holding the secret, instead of auth.secret_access_key (readable "
             "by the daemon's user only)",
             &Config::secret_access_key_file),
  };
}

// How the engines run: the log, the cursor, pruning, backfill, sync,
// verification, the replication monitor.
std::vector<SettingDef> EngineSettings() {
  return {
      {"log.level", Type::kString, "debug, info, warn or error",
       [](Config& c, const Value& v) -> absl::Status {
         auto level = log::ParseLevel(As<std::string>(v));
         if (!level.ok()) return level.status();
         c.log_level = *level;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> {
         static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
         return Value(std::string(kNames[static_cast<int>(c.log_level)]));
       }},
      Seconds("cursor.poll_interval_seconds", "log cursor poll period (0.01 to 60)",
              &Config::cursor_poll_seconds, 0.01, 60),
      Seconds("cursor.lease_seconds", "log cursor lease time to live (1 to 600)",
              &Config::cursor_lease_seconds, 1, 600),
      Seconds("cursor.gap_timeout_seconds", "how long a skipped event id is awaited (1 to 86400)",
              &Config::gap_timeout_seconds, 1, 86400),
      Seconds("events.prune_interval_seconds",
              "primary: prune the event log this often (1 to 86400; default 60)",
              &Config::prune_interval_seconds, 1, 86400),
      Seconds("events.prune_hold_seconds",
              "primary: keep the events an enabled secondary still needs while its last status "
              "report is younger than this; one silent longer falls back to a backfill when it "
              "returns (5 to 31536000; default 86400; keep it well above the secondaries' "
              "monitor.report_interval_seconds)",
              &Config::prune_hold_seconds, 5, 31536000),
      Int("events.prune_batch", "primary: events deleted per transaction (100 to 1000000)",
          &Config::prune_batch, 100, 1000000),
      Int("backfill.batch", "model ids per backfill step (100 to 1000000)", &Config::backfill_batch,
          100, 1000000),
      Seconds("backfill.interval_seconds", "pause between backfill passes (0.1 to 86400)",
              &Config::backfill_interval_seconds, 0.1, 86400),
      Seconds("sync.timeout_seconds", "reclaim a started sync after this long (10 to 86400)",
              &Config::sync_timeout_seconds, 10, 86400),
      Seconds("verification.interval_seconds",
              "re-checksum every file this often, on both sides (1 to 31536000; default 7 days)",
              &Config::verification_interval_seconds, 1, 31536000),
      Number("verification.scrub_rate",
             "secondary: copies per second its scrub re-reads once they are due on the "
             "interval, so that a scrub of many copies leaves the CPU and disk to sync "
             "(0 to 1000000; default 0: as fast as it can; reverify requests are not paced)",
             &Config::scrub_rate, 0, 1000000),
      Seconds("verification.repository_interval_seconds",
              "re-read every repository's refs on the primary (a change without an event is "
              "published) and compare every copy's digest with the primary's on a secondary, "
              "this often (1 to 86400; default 300)",
              &Config::repository_interval_seconds, 1, 86400),
      Seconds("sync.dead_worker_seconds",
              "reclaim the rows of a daemon silent this long (3 to 3600)",
              &Config::dead_worker_seconds, 3, 3600),
      {"monitor.interval_seconds", Type::kDouble, "replication sampling period (0.05 to 60)",
       [](Config& c, const Value& v) -> absl::Status {
         double d = As<double>(v);
         if (!(d >= 0.05 && d <= 60)) {
           return absl::InvalidArgumentError(absl::StrCat(d, " is not 0.05 to 60"));
         }
         c.monitor_interval_seconds = d;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> { return Value(c.monitor_interval_seconds); }},
  };
}

// The fleet view's health, the admin API, what is not replicated, the
// status reports.
std::vector<SettingDef> FleetAndAdminSettings() {
  return {
      Seconds("health.report_stale_seconds",
              "fleet view: a secondary whose last status report is older is unhealthy (5 to "
              "86400; default 60)",
              &Config::health_report_stale_seconds, 5, 86400),
      Seconds("health.max_replay_lag_seconds",
              "fleet view: a secondary whose database is further behind is unhealthy (1 to "
              "86400; default 300)",
              &Config::health_max_replay_lag_seconds, 1, 86400),
      Seconds("health.max_failed_share",
              "fleet view: a secondary with a larger share of failed registry rows is unhealthy "
              "(0 to 1; default 0.05)",
              &Config::health_max_failed_share, 0, 1),
      Bool("health.paused_is_healthy",
           "fleet view: true counts a paused secondary as healthy (default false: a paused "
           "copy is falling behind)",
           &Config::health_paused_is_healthy),
      String("admin.token_file",
             "file holding the admin token that mutating API routes require as "
             "`Authorization: Bearer TOKEN` (without it they are refused)",
             &Config::admin_token_file),
      {"admin.reads", Type::kString,
       "who may read status, sites, registry and metrics: open, loopback (open from this "
       "host, the token from elsewhere; default) or token",
       [](Config& c, const Value& v) -> absl::Status {
         std::string mode = As<std::string>(v);
         if (mode != "open" && mode != "loopback" && mode != "token") {
           return absl::InvalidArgumentError(
               absl::StrCat("\"", mode, "\" is not open, loopback or token"));
         }
         c.admin_reads = mode;
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> {
         if (c.admin_reads == "loopback") return std::nullopt;
         return Value(c.admin_reads);
       }},
      {"replication.disabled", Type::kList,
       "replicables this site does not replicate, e.g. [\"pages_deployment\"] (in the "
       "environment: comma-separated): a secondary keeps no registry rows or copies of them, "
       "the primary computes no checksums of them; put it in every site's file to disable a "
       "type for the whole deployment (default: none)",
       [](Config& c, const Value& v) -> absl::Status {
         for (const auto& n : As<List>(v)) {
           if (!IsLowerIdentifier(n, 41, /*leading_underscore=*/false))
             return absl::InvalidArgumentError(
                 absl::StrCat("\"", n, "\" is not a replicable name"));
         }
         c.disabled_replicables = As<List>(v);
         return absl::OkStatus();
       },
       [](const Config& c) -> std::optional<Value> {
         if (c.disabled_replicables.empty()) return std::nullopt;
         return Value(c.disabled_replicables);
       }},
      Seconds("monitor.report_interval_seconds",
              "secondary: how often it sends its status to the primary (0.2 to 3600; default 10)",
              &Config::report_interval_seconds, 0.2, 3600),
  };
}

// A setting's default, as TOML would write it; "" when it has none.
std::string DefaultText(const SettingDef& def) {
  std::optional<Value> v = def.read(Config{});
  if (!v) return "";
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return x.empty() ? "" : absl::StrCat("\"", x, "\"");
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          std::string t = absl::StrCat(x);
          return t;
        } else if constexpr (std::is_same_v<T, List>) {
          if (x.empty()) return "";
          std::string out = "[";
          for (const auto& item : x)
            absl::StrAppend(&out, out.size() > 1 ? ", " : "", "\"", item, "\"");
          return out + "]";
        } else {
          return absl::StrCat(x);
        }
      },
      *v);
}

}  // namespace

const std::vector<SettingDef>& Settings() {
  static const std::vector<SettingDef> defs = [] {
    std::vector<SettingDef> all;
    for (auto part :
         {SiteSettings, StorageSettings, AuthSettings, EngineSettings, FleetAndAdminSettings}) {
      std::vector<SettingDef> section = part();
      all.insert(all.end(), section.begin(), section.end());
    }
    return all;
  }();
  return defs;
}

std::string EnvName(absl::string_view key) {
  return absl::StrCat("GEOREP_", absl::AsciiStrToUpper(absl::StrReplaceAll(key, {{".", "_"}})));
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kString:
      return "a string";
    case Type::kInt:
      return "an integer";
    case Type::kDouble:
      return "a number";
    case Type::kBool:
      return "true or false";
    case Type::kList:
      return "an array of strings";
  }
  return "";
}

std::string SettingsReference() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated by `georep config reference` from the table of settings the parser itself\n"
      "uses (`src/config/settings.cc`); a test fails when this file and that table differ.\n\n"
      "A site reads one TOML file (`georep serve --config PATH`; without it `$GEOREP_CONFIG`,\n"
      "else `./georep.toml` if there is one, else `/etc/georep/georep.toml`). A setting\n"
      "`section.key` is `key` in the table `[section]`. Each has an environment variable,\n"
      "which wins over the file. An unknown key or variable is an error that names it (and\n"
      "the nearest known one). Secrets can be kept in files: `auth.secret_access_key_file`,\n"
      "`storage.secret_key_file`, `admin.token_file`; a database password in libpq's\n"
      "password file (`passfile` in the conninfo, or `PGPASSFILE`).\n\n"
      "| Setting | Environment variable | Type | Default | Meaning |\n"
      "|---|---|---|---|---|\n";
  auto cell = [](absl::string_view text) { return absl::StrReplaceAll(text, {{"|", "\\|"}}); };
  for (const auto& def : Settings()) {
    std::string fallback = DefaultText(def);
    absl::StrAppend(&out, "| `", def.key, "` | `", EnvName(def.key), "` | ", TypeName(def.type),
                    " | ", fallback.empty() ? "" : absl::StrCat("`", cell(fallback), "`"), " | ",
                    cell(def.help), " |\n");
  }
  absl::StrAppend(
      &out,
      "\n## Replicables declared in the file\n\n"
      "Each `[[replicable]]` table adds a type of data to replicate, with no code:\n\n"
      "| Key | Meaning |\n|---|---|\n"
      "| `name` | lower_snake_case name (required) |\n"
      "| `title` | what the admin page and status show |\n"
      "| `strategy` | `blob` (the default) or `repository` |\n"
      "| `table` | the model table, `[schema.]table` (required) |\n"
      "| `id_column` | its id column (default `id`): an integer column (smallint, integer or "
      "bigint) |\n"
      "| `path_template` | the item's path under its root, with `{column}` placeholders; a "
      "segment in `[brackets]` is left out when one of its columns is NULL or empty, as in "
      "`[{disk_directory}/]{disk_filename}` (this or `path_sql` is required) |\n"
      "| `path_sql` | the item's path as one SQL expression over the model row, its columns "
      "written `{column}`, e.g. `'@hashed/' \\|\\| encode(sha256({id}::text::bytea), 'hex')`; "
      "it is evaluated with `search_path` = `pg_catalog`, so name tables with their schema |\n"
      "| `checksum_column` | a column holding the application's own hex digest of the bytes: "
      "the primary takes it as the checksum and reads the bytes at the re-verification pace; a "
      "row without a valid digest is hashed |\n"
      "| `checksum_algorithm` | the digest's algorithm: `sha256` (the default, and the only "
      "one) |\n"
      "| `namespace_sql` | selective sync: SQL giving a row's namespace |\n"
      "| `shard_sql` | selective sync: SQL giving a row's shard |\n"
      "\nThe path, whichever way it is given, is confined on every site: a row whose path is "
      "empty, absolute, has a `.` or `..` segment, or crosses a symbolic link is refused, never "
      "read or written.\n");
  return out;
}

std::string DescribeSettings() {
  std::string out;
  for (const auto& def : Settings()) {
    std::string fallback = DefaultText(def);
    absl::StrAppend(&out, "  ", def.key, " (", EnvName(def.key), "): ", def.help,
                    fallback.empty() || absl::StrContains(def.help, "default")
                        ? ""
                        : absl::StrCat(" [default ", fallback, "]"),
                    "\n");
  }
  return out;
}

}  // namespace georep::config
