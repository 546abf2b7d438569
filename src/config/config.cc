#include "config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "toml++/toml.h"
#include "util/fs.h"
#include "util/net.h"
#include "util/validate.h"

namespace georep::config {
namespace {

using List = std::vector<std::string>;
using Value = std::variant<std::string, int64_t, double, bool, List>;
enum class Type { kString, kInt, kDouble, kBool, kList };

struct SettingDef {
  absl::string_view key;
  Type type;
  absl::string_view help;
  // Stores the value into the config, or says what is wrong with it.
  std::function<absl::Status(Config&, const Value&)> apply;
  std::function<std::optional<Value>(const Config&)> read;  // for rendering
};

absl::Status SettingError(absl::string_view key, absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("setting \"", key, "\" in ", where, ": ", what));
}

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

// Keys of a [[replicable]] block.
absl::Status ParseReplicable(const toml::table& block, size_t index, const std::string& path,
                             Config& config) {
  ReplicableSpec spec;
  spec.origin = path;
  std::string where = absl::StrCat("replicable[", index, "]");
  std::string strategy = "blob";
  for (const auto& [k, node] : block) {
    std::string key(k.str());
    auto text = node.value_exact<std::string>();
    if (!text) {
      return SettingError(absl::StrCat(where, ".", key), path, "expected a string");
    }
    if (key == "name")
      spec.name = *text;
    else if (key == "title")
      spec.title = *text;
    else if (key == "strategy")
      strategy = *text;
    else if (key == "table")
      spec.model_table = *text;
    else if (key == "id_column")
      spec.id_column = *text;
    else if (key == "path_template")
      spec.path_template = *text;
    else if (key == "namespace_sql")
      spec.namespace_sql = *text;
    else if (key == "shard_sql")
      spec.shard_sql = *text;
    else if (key == "path_sql")
      spec.path_sql = *text;
    else if (key == "checksum_column")
      spec.checksum_column = *text;
    else if (key == "checksum_algorithm")
      spec.checksum_algorithm = *text;
    else
      return absl::InvalidArgumentError(
          absl::StrCat("unknown setting \"", where, ".", key, "\" in ", path));
  }
  for (auto [key, value] :
       {std::pair<const char*, std::string*>{"name", &spec.name}, {"table", &spec.model_table}}) {
    if (value->empty()) return SettingError(absl::StrCat(where, ".", key), path, "required");
  }
  if (spec.path_template.empty() && spec.path_sql.empty()) {
    return SettingError(absl::StrCat(where, ".path_template"), path,
                        "required (or path_sql, an SQL expression)");
  }
  if (!spec.path_template.empty() && !spec.path_sql.empty()) {
    return SettingError(absl::StrCat(where, ".path_sql"), path,
                        "give the path by path_template or by path_sql, not both");
  }
  if (!spec.checksum_column.empty() && spec.checksum_algorithm.empty())
    spec.checksum_algorithm = "sha256";
  bool known = false;
  std::string names;
  for (Strategy s : kStrategies) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", StrategyName(s));
    if (strategy == StrategyName(s)) {
      spec.strategy = s;
      known = true;
    }
  }
  if (!known) {
    return SettingError(absl::StrCat(where, ".strategy"), path,
                        absl::StrCat("\"", strategy, "\" is not a strategy (", names, ")"));
  }
  config.replicables.push_back(std::move(spec));
  return absl::OkStatus();
}

const std::vector<SettingDef>& Settings() {
  static const std::vector<SettingDef> defs = {
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
  return defs;
}

}  // namespace

std::string ListenUrl(const Config& config) {
  auto hp = ParseHostPort(config.http_listen);
  if (!hp.ok()) return "";
  std::string host = hp->host == "0.0.0.0" ? "127.0.0.1" : hp->host;
  return absl::StrCat(config.tls_cert.empty() ? "http://" : "https://", host, ":", hp->port);
}

namespace {

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

const SettingDef* FindDef(absl::string_view key) {
  for (const auto& d : Settings()) {
    if (d.key == key) return &d;
  }
  return nullptr;
}

// Edits between two words (Levenshtein).
size_t Distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// " (did you mean \"storage.root\"?)" for a key a few edits from a known
// one (`name` maps a setting to the form asked about: its key, or its
// environment variable); "" when none is near.
std::string DidYouMean(absl::string_view asked,
                       const std::function<std::string(const SettingDef&)>& name) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, asked.size() / 4) + 1;
  for (const auto& d : Settings()) {
    std::string candidate = name(d);
    size_t distance = Distance(absl::AsciiStrToLower(asked), absl::AsciiStrToLower(candidate));
    // The last word alone under another section counts too: "root" for storage.root.
    if (size_t dot = candidate.rfind('.');
        dot != std::string::npos && asked == absl::string_view(candidate).substr(dot + 1)) {
      distance = 1;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best.empty() ? "" : absl::StrCat(" (did you mean \"", best, "\"?)");
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

absl::StatusOr<Value> FromToml(const SettingDef& def, const toml::node& node) {
  switch (def.type) {
    case Type::kString:
      if (auto v = node.value_exact<std::string>()) return Value(*v);
      break;
    case Type::kInt:
      if (auto v = node.value_exact<int64_t>()) return Value(*v);
      break;
    case Type::kDouble:
      if (auto v = node.value_exact<double>()) return Value(*v);
      if (auto v = node.value_exact<int64_t>()) return Value(*v);
      break;
    case Type::kBool:
      if (auto v = node.value_exact<bool>()) return Value(*v);
      break;
    case Type::kList:
      if (const toml::array* a = node.as_array()) {
        List out;
        for (const auto& item : *a) {
          auto text = item.value_exact<std::string>();
          if (!text) return absl::InvalidArgumentError("expected an array of strings");
          out.push_back(*text);
        }
        return Value(out);
      }
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("expected ", TypeName(def.type)));
}

absl::StatusOr<Value> FromText(const SettingDef& def, const std::string& text) {
  switch (def.type) {
    case Type::kString:
      return Value(text);
    case Type::kInt: {
      int64_t v;
      if (absl::SimpleAtoi(text, &v)) return Value(v);
      break;
    }
    case Type::kDouble: {
      double v;
      if (absl::SimpleAtod(text, &v)) return Value(v);
      break;
    }
    case Type::kBool:
      if (text == "true") return Value(true);
      if (text == "false") return Value(false);
      break;
    case Type::kList: {
      List out;
      for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace()))
        out.emplace_back(absl::StripAsciiWhitespace(item));
      return Value(out);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not ", TypeName(def.type)));
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::vector<std::string> ProcessEnvNames() {
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view entry(*e);
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return names;
}

absl::StatusOr<Config> LoadConfig(const std::string& path, const EnvLookup& env,
                                  const std::vector<std::string>& env_names) {
  Config config;
  config.path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("config file ", path, ": not found (pass --config PATH)"));
  }
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": line ", e.source().begin.line, ", column ",
                     e.source().begin.column, ": ", std::string(e.description())));
  }

  absl::Status status = absl::OkStatus();
  auto visit = [&](absl::string_view key, const toml::node& node) {
    if (!status.ok()) return;
    const SettingDef* def = FindDef(key);
    if (def == nullptr) {
      status = absl::InvalidArgumentError(
          absl::StrCat("unknown setting \"", key, "\" in ", path,
                       DidYouMean(key, [](const SettingDef& d) { return std::string(d.key); })));
      return;
    }
    auto value = FromToml(*def, node);
    if (!value.ok()) {
      status = SettingError(key, path, value.status().message());
      return;
    }
    if (auto s = def->apply(config, *value); !s.ok()) status = SettingError(key, path, s.message());
  };
  for (const auto& [k, node] : table) {
    if (k.str() == "replicable") {
      const toml::array* blocks = node.as_array();
      if (blocks == nullptr || !blocks->is_array_of_tables()) {
        return SettingError("replicable", path, "expected [[replicable]] blocks");
      }
      for (size_t i = 0; i < blocks->size(); ++i) {
        if (auto st = ParseReplicable(*blocks->get(i)->as_table(), i, path, config); !st.ok())
          return st;
      }
      continue;
    }
    if (const toml::table* section = node.as_table()) {
      for (const auto& [sub, subnode] : *section) {
        visit(absl::StrCat(std::string(k.str()), ".", std::string(sub.str())), subnode);
      }
    } else {
      visit(std::string(k.str()), node);
    }
  }
  if (!status.ok()) return status;

  // A mistyped override must not be ignored: every GEOREP_* variable is a
  // setting (or one of the few the tools read themselves).
  for (const std::string& name : env_names) {
    // The tools' own: PostgreSQL's binaries (the demo), the configuration
    // file (every verb), the demo's S3 server.
    if (!absl::StartsWith(name, "GEOREP_") || name == "GEOREP_PG_BIN" || name == "GEOREP_CONFIG" ||
        name == "GEOREP_S3_SERVER")
      continue;
    bool known = false;
    for (const auto& def : Settings()) known = known || EnvName(def.key) == name;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable ", name,
          " is not a Georep setting (`georep serve --help` lists them): unset it or fix its "
          "name",
          DidYouMean(name, [](const SettingDef& d) { return EnvName(d.key); })));
    }
  }
  for (const auto& def : Settings()) {
    std::string name = EnvName(def.key);
    std::optional<std::string> text = env(name);
    if (!text) continue;
    auto value = FromText(def, *text);
    if (!value.ok()) return SettingError(def.key, name, value.status().message());
    if (auto s = def.apply(config, *value); !s.ok())
      return SettingError(def.key, name, s.message());
  }

  if (config.site_name.empty()) return SettingError("site_name", path, "required");
  if (config.main_database.empty()) return SettingError("database.main", path, "required");
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return SettingError(config.tls_cert.empty() ? "http.tls_cert" : "http.tls_key", path,
                        "required with the other (HTTPS needs a certificate and its key)");
  }
  if (!config.secret_access_key_file.empty()) {
    if (!config.secret_access_key.empty()) {
      return SettingError("auth.secret_access_key_file", path,
                          "set it or auth.secret_access_key, not both");
    }
    auto secret = ReadFile(config.secret_access_key_file);
    if (!secret.ok())
      return SettingError("auth.secret_access_key_file", path, secret.status().message());
    config.secret_access_key = std::string(absl::StripAsciiWhitespace(*secret));
    if (config.secret_access_key.empty())
      return SettingError("auth.secret_access_key_file", path, "the file is empty");
  }
  return config;
}

std::string RenderConfig(const Config& config) {
  toml::table root;
  for (const auto& def : Settings()) {
    std::optional<Value> v = def.read(config);
    if (!v) continue;
    // A secret read from its file stays in the file.
    if (def.key == "auth.secret_access_key" && !config.secret_access_key_file.empty()) continue;
    size_t dot = def.key.find('.');
    toml::table* target = &root;
    std::string leaf(def.key);
    if (dot != absl::string_view::npos) {
      std::string section(def.key.substr(0, dot));
      if (!root.contains(section)) root.insert(section, toml::table{});
      target = root[section].as_table();
      leaf = std::string(def.key.substr(dot + 1));
    }
    std::visit(
        [&](const auto& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, List>) {
            toml::array a;
            for (const auto& item : x) a.push_back(item);
            target->insert_or_assign(leaf, std::move(a));
          } else {
            target->insert_or_assign(leaf, x);
          }
        },
        *v);
  }
  if (!config.replicables.empty()) {
    toml::array blocks;
    for (const auto& r : config.replicables) {
      toml::table b{{"name", r.name}, {"table", r.model_table}};
      if (!r.path_template.empty()) b.insert("path_template", r.path_template);
      if (!r.path_sql.empty()) b.insert("path_sql", r.path_sql);
      if (!r.checksum_column.empty()) {
        b.insert("checksum_column", r.checksum_column);
        b.insert("checksum_algorithm", r.checksum_algorithm);
      }
      if (!r.title.empty()) b.insert("title", r.title);
      if (r.id_column != "id") b.insert("id_column", r.id_column);
      if (!r.namespace_sql.empty()) b.insert("namespace_sql", r.namespace_sql);
      if (!r.shard_sql.empty()) b.insert("shard_sql", r.shard_sql);
      if (r.strategy != Strategy::kBlob)
        b.insert("strategy", std::string(StrategyName(r.strategy)));
      blocks.push_back(std::move(b));
    }
    root.insert("replicable", std::move(blocks));
  }
  std::ostringstream out;
  out << "# Georep site configuration. Every setting can be overridden by GEOREP_<SECTION>_<KEY>.\n"
      << root << "\n";
  return out.str();
}

std::vector<std::string> DisabledReplicables(const Config& config,
                                             const std::vector<std::string>& in_row) {
  std::vector<std::string> out = config.disabled_replicables;
  out.insert(out.end(), in_row.begin(), in_row.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string SettingsReference() {
  std::string out =
      "# Configuration reference\n\n"
      "Generated by `georep config reference` from the table of settings the parser itself\n"
      "uses (`src/config/config.cc`); a test fails when this file and that table differ.\n\n"
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
