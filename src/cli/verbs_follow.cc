// follow: a secondary re-points to a new primary after a promotion; its
// standby streams from it without a new base backup when it can, and its
// registry is kept, so nothing it holds is downloaded again.
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "cluster/pg_cluster.h"
#include "db/migrations.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/states.h"
#include "nlohmann/json.hpp"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"

namespace georep::cli {
namespace {

// Where a site re-attached to a new primary streams from.
struct UpstreamOptions {
  std::string primary_url;
  std::string host;  // default: the URL's host
  int port = 5432;
  std::string user;  // default: the previous upstream's, else "replicator"
  std::string slot;  // default: the previous upstream's, else the site name
  std::string password_file;
  double timeout_seconds = 120;
  bool json = false;
};

void AddUpstreamOptions(CLI::App* verb, UpstreamOptions& o) {
  verb->add_option("--primary", o.primary_url, "URL of the new primary's daemon")->required();
  verb->add_option("--primary-host", o.host,
                   "Its PostgreSQL host (default: the host of --primary)");
  verb->add_option("--primary-port", o.port, "Its PostgreSQL port")->capture_default_str();
  verb->add_option("--user", o.user,
                   "Its PostgreSQL role (default: the one used until now, else replicator)");
  verb->add_option("--slot", o.slot,
                   "Physical replication slot there, created if missing (default: the one used "
                   "until now, else the site name)");
  verb->add_option("--password-file", o.password_file,
                   "File whose first line is the password (default: the one used until now, "
                   "else PGPASSFILE or ~/.pgpass)");
  verb->add_flag("--json", o.json, "Print the outcome as JSON");
}

// The replication source the options describe, completed from `previous`
// (the upstream this site streamed from until now; empty for a former
// primary). InvalidArgument names the bad option.
absl::StatusOr<cluster::ReplicaSource> ResolveSource(const config::Config& config,
                                                     const UpstreamOptions& o,
                                                     const site::Upstream& previous) {
  cluster::ReplicaSource source{.host = o.host,
                                .port = o.port,
                                .user = o.user,
                                .slot = o.slot,
                                .sslmode = db::ConninfoValue(config.main_database, "sslmode"),
                                .password = db::ConninfoValue(previous.conninfo, "password"),
                                .application_name = config.site_name};
  if (source.host.empty()) {
    auto host = transport::UrlHost(o.primary_url);
    if (!host.ok()) return host.status();
    source.host = *host;
  }
  if (source.user.empty()) source.user = db::ConninfoValue(previous.conninfo, "user");
  if (source.user.empty()) source.user = "replicator";
  if (source.slot.empty()) source.slot = previous.slot;
  if (source.slot.empty()) {
    source.slot = absl::AsciiStrToLower(config.site_name);
    for (char& c : source.slot) {
      if (c == '-' || c == '.') c = '_';
    }
  }
  for (char c : source.slot) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') {
      return absl::InvalidArgumentError(absl::StrCat(
          "--slot \"", source.slot, "\": a slot name is lower-case letters, digits and _"));
    }
  }
  if (!o.password_file.empty()) {
    auto text = ReadFile(o.password_file);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--password-file ", o.password_file, ": ", text.status().message()));
    }
    source.password = text->substr(0, text->find('\n'));
  }
  return source;
}

std::string Trimmed(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The new primary's daemon, by its status: its site name.
absl::StatusOr<std::string> PrimaryName(const std::string& url) {
  auto res = transport::HttpRequest(Trimmed(url) + "/api/v1/status", {.timeout_seconds = 10});
  if (!res.ok()) return res.status();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || !j.is_object() || !j.value("site", nlohmann::json()).is_string()) {
    return absl::UnavailableError(
        absl::StrCat(url, "/api/v1/status answered HTTP ", res->status, ", not a site's status"));
  }
  if (j.value("role", "") != "primary") {
    return absl::FailedPreconditionError(absl::StrCat(
        "site \"", j["site"].get<std::string>(), "\" at ", url,
        " is not the primary (its role: ", j.value("role", "?"), "); promote it first"));
  }
  return j["site"].get<std::string>();
}

int64_t SyncedItems(db::Connection& tracking) {
  auto counts = framework::ReadCounts(tracking);
  if (!counts.ok()) return -1;
  int64_t n = 0;
  for (const auto& [name, by_state] : *counts) {
    if (name.find(':') != std::string::npos) continue;  // verification counts
    auto it = by_state.find(static_cast<int>(framework::SyncState::kSynced));
    if (it != by_state.end()) n += it->second;
  }
  return n;
}

int RunFollow(const config::Config& config, const UpstreamOptions& o) {
  const char* verb = "follow";
  SecondaryDatabases dbs;
  if (int code = OpenSecondary(config, verb, &dbs); code != 0) return code;
  auto recovery = dbs.standby->InRecovery();
  if (!recovery.ok()) return Fail(1, verb, recovery.status().message());
  if (!*recovery) {
    return Fail(2, verb,
                absl::StrCat("the main database of site \"", config.site_name, "\" (",
                             dbs.standby->display_name(),
                             ") is not a standby: a former primary rejoins with `georep demote`"));
  }
  auto name = PrimaryName(o.primary_url);
  if (!name.ok()) return Fail(1, verb, name.status().message());
  if (*name == config.site_name) {
    return Fail(2, verb, absl::StrCat(o.primary_url, " is this site"));
  }

  // Where to stream from, filled in from the previous upstream.
  auto detached = site::ReadDetached(*dbs.tracking);
  if (!detached.ok()) return Fail(1, verb, detached.status().message());
  auto current = site::ReadUpstream(*dbs.standby);
  if (!current.ok()) return Fail(1, verb, current.status().message());
  site::Upstream previous = detached->has_value() ? (*detached)->previous : *current;
  auto resolved = ResolveSource(config, o, previous);
  if (!resolved.ok()) return Fail(2, verb, resolved.status().message());
  const cluster::ReplicaSource& source = *resolved;
  std::string conninfo = cluster::SourceConninfo(source, /*with_password=*/true);
  auto replication = db::Connection::Open(conninfo + " replication=true");
  if (!replication.ok()) {
    return Fail(1, verb,
                absl::StrCat("cannot open a replication connection to the new primary's "
                             "PostgreSQL (",
                             replication.status().message(),
                             "); give --primary-host, "
                             "--primary-port and --user"));
  }
  auto system = site::IdentifySource(**replication);
  if (!system.ok()) return Fail(1, verb, system.status().message());
  auto local = site::ReadLocalPosition(*dbs.standby);
  if (!local.ok()) return Fail(1, verb, local.status().message());
  std::string endpoint = absl::StrCat(source.host, ":", source.port);
  bool already =
      local->streaming && local->streaming_from == endpoint && local->timeline == system->timeline;
  site::ForkVerdict verdict = site::CheckFork(*local, *system);
  if (!already && !verdict.can_stream) {
    return Fail(
        1, verb,
        absl::StrCat("the standby of site \"", config.site_name, "\" cannot follow \"", *name,
                     "\" by streaming: ", verdict.reason,
                     ". It needs a new copy: stop its PostgreSQL, move its data folder aside, run "
                     "`georep db replicate --config ",
                     config.path, " --primary-host ", source.host, " --primary-port ", source.port,
                     " --user ", source.user,
                     " --data-dir <its data folder>` and start it; the "
                     "registry is kept, so what this site holds is not downloaded again"));
  }
  if (!already) {
    if (auto s = site::CreatePhysicalSlot(**replication, source.slot); !s.ok()) {
      return Fail(
          1, verb,
          absl::StrCat("replication slot ", source.slot, " on the new primary: ", s.message()));
    }
    if (auto s = site::SetUpstream(*dbs.standby, {conninfo, source.slot}); !s.ok())
      return Fail(1, verb, s.message());
  }
  if (auto s = site::ForgetDetached(*dbs.tracking); !s.ok()) return Fail(1, verb, s.message());
  if (!o.json) {
    std::fprintf(stderr, "standby of \"%s\" now streams from %s (slot %s)%s\n",
                 config.site_name.c_str(), endpoint.c_str(), source.slot.c_str(),
                 verdict.fork_point ? absl::StrCat(", crossing to timeline ", system->timeline,
                                                   " at ", site::FormatLsn(verdict.fork_point))
                                          .c_str()
                                    : "");
  }

  // Done when the standby streams from the new primary and has replayed its
  // promotion (geo_nodes names it the primary).
  double deadline = MonotonicSeconds() + o.timeout_seconds;
  std::string state;
  while (true) {
    auto pos = site::ReadLocalPosition(*dbs.standby);
    auto role = site::ReadRole(*dbs.standby, config.site_name);
    if (pos.ok() && role.ok() && pos->streaming && pos->streaming_from == endpoint &&
        role->primary && role->primary->name == *name) {
      local = pos;
      break;
    }
    state = !pos.ok()    ? std::string(pos.status().message())
            : !role.ok() ? std::string(role.status().message())
            : !pos->streaming
                ? "its WAL receiver is not streaming"
                : absl::StrCat("geo_nodes replayed here still names \"",
                               role->primary ? role->primary->name : "no site", "\" the primary");
    if (MonotonicSeconds() > deadline) {
      return Fail(1, verb,
                  absl::StrCat("the standby does not follow \"", *name, "\" after ",
                               o.timeout_seconds, " s (", state,
                               "); its PostgreSQL log says why (e.g. WAL the slot did not keep: "
                               "then it needs a new copy, `georep db replicate`)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int64_t kept = SyncedItems(*dbs.tracking);
  if (o.json) {
    nlohmann::json j = {
        {"site", config.site_name},
        {"primary", *name},
        {"streaming_from", endpoint},
        {"slot", source.slot},
        {"timeline", local->timeline},
        {"fork_point", verdict.fork_point ? nlohmann::json(site::FormatLsn(verdict.fork_point))
                                          : nlohmann::json()},
        {"items_kept", kept}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf(
        "site \"%s\" follows \"%s\": its standby streams from %s on timeline %d, without a new "
        "base backup; the %lld items it holds synced are kept, not downloaded again. Its daemon "
        "fetches from the new primary within a second.\n",
        config.site_name.c_str(), name->c_str(), endpoint.c_str(), local->timeline,
        static_cast<long long>(kept));
  }
  return 0;
}

// Whether `site` is disabled in the fleet the new primary's daemon lists
// (GET /api/v1/sites); nullopt when it cannot tell.
std::optional<bool> DisabledThere(const std::string& url, const std::string& site) {
  auto res = transport::HttpRequest(Trimmed(url) + "/api/v1/sites", {.timeout_seconds = 10});
  if (!res.ok() || res->status != 200) return std::nullopt;
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (!j.is_array()) return std::nullopt;
  for (const auto& s : j) {
    if (s.is_object() && s.value("name", "") == site &&
        s.value("enabled", nlohmann::json()).is_boolean())
      return !s["enabled"].get<bool>();
  }
  return std::nullopt;
}

int RunDemote(const config::Config& config, const UpstreamOptions& o, const std::string& data_dir) {
  const char* verb = "demote";
  if (config.tracking_database.empty()) {
    return Fail(2, verb,
                absl::StrCat("a secondary needs a tracking database: set \"database.tracking\" in ",
                             config.path,
                             " to a writable database (not in the cluster being demoted, which "
                             "becomes a read-only standby)"));
  }
  if (data_dir.empty() || data_dir.front() != '/') {
    return Fail(2, verb,
                absl::StrCat("--data-dir must be an absolute path, not \"", data_dir, "\""));
  }
  auto name = PrimaryName(o.primary_url);
  if (!name.ok()) return Fail(1, verb, name.status().message());
  if (*name == config.site_name) return Fail(2, verb, absl::StrCat(o.primary_url, " is this site"));
  auto resolved = ResolveSource(config, o, {});
  if (!resolved.ok()) return Fail(2, verb, resolved.status().message());
  const cluster::ReplicaSource& source = *resolved;
  auto replication = db::Connection::Open(cluster::SourceConninfo(source, /*with_password=*/true) +
                                          " replication=true");
  if (!replication.ok()) {
    return Fail(1, verb,
                absl::StrCat("cannot open a replication connection to the new primary's "
                             "PostgreSQL (",
                             replication.status().message(),
                             "); give --primary-host, --primary-port and --user"));
  }
  if (auto s = site::CreatePhysicalSlot(**replication, source.slot); !s.ok()) {
    return Fail(
        1, verb,
        absl::StrCat("replication slot ", source.slot, " on the new primary: ", s.message()));
  }
  if (!o.json) {
    std::fprintf(stderr, "rewinding %s to the timeline of \"%s\" (%s:%d) …\n", data_dir.c_str(),
                 name->c_str(), source.host.c_str(), source.port);
  }
  auto rewound = cluster::RewindToStandby(source, data_dir);
  if (!rewound.ok()) {
    std::string hint = absl::IsUnavailable(rewound.status())
                           ? ". If it cannot be rewound, make a new copy instead: move the folder "
                             "aside and run `georep db replicate`"
                           : "";
    return Fail(CodeFor(rewound.status()), verb, absl::StrCat(rewound.status().message(), hint));
  }
  // The tracking database, if it can be reached now.
  std::string tracking_note;
  auto tracking = db::Connection::Open(config.tracking_database);
  if (tracking.ok()) {
    auto migrated = db::Migrate(**tracking, db::DatabaseKind::kTracking);
    tracking_note = migrated.ok() ? "" : std::string(migrated.status().message());
  } else {
    tracking_note = std::string(tracking.status().message());
  }
  std::optional<bool> disabled = DisabledThere(o.primary_url, config.site_name);
  std::vector<std::string> next = {absl::StrCat("start PostgreSQL on ", data_dir,
                                                ": it streams from ", source.host, ":", source.port,
                                                " through slot ", source.slot)};
  if (!tracking_note.empty()) {
    next.push_back(absl::StrCat("georep db migrate --config ", config.path,
                                "   (the tracking database: ", tracking_note, ")"));
  }
  if (disabled.value_or(true)) {
    next.push_back(absl::StrCat("georep site enable ", config.site_name,
                                " --config <the new primary's config>   (disabled since the "
                                "promotion)"));
  }
  next.push_back(absl::StrCat("georep serve --config ", config.path,
                              "   (restart its daemon: it syncs as a secondary, and adopts the "
                              "files and repositories it holds that match the new primary's "
                              "checksums instead of downloading them)"));
  if (o.json) {
    nlohmann::json j = {{"site", config.site_name},
                        {"primary", *name},
                        {"data_dir", data_dir},
                        {"rewound", rewound->rewound},
                        {"slot", source.slot},
                        {"tracking_migrated", tracking_note.empty()},
                        {"next", next}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf("site \"%s\" is a standby of \"%s\" now (%s)\nNext:\n", config.site_name.c_str(),
                name->c_str(),
                rewound->rewound ? "rewound: what it wrote after the promotion is discarded"
                                 : "it had not gone past the promotion: nothing to rewind");
    for (size_t i = 0; i < next.size(); ++i) std::printf("  %zu. %s\n", i + 1, next[i].c_str());
  }
  return 0;
}

}  // namespace

void AddFollowVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* follow = app.add_subcommand(
      "follow",
      "Secondary: follow a newly promoted primary. Its standby streams from the new primary's "
      "PostgreSQL (a slot made there, the new timeline crossed) without a new base backup when "
      "it received nothing of the old primary past the promotion point (a planned promotion "
      "sees to that); otherwise it says so and what to do. The registry is kept: nothing this "
      "site holds is downloaded again. Needs ALTER SYSTEM on the standby.");
  AddConfig(follow, ctx);
  auto o = std::make_shared<UpstreamOptions>();
  AddUpstreamOptions(follow, *o);
  follow
      ->add_option("--timeout", o->timeout_seconds,
                   "Seconds to wait for the standby to stream from the new primary (default 120)")
      ->check(CLI::PositiveNumber);
  follow->callback([&ctx, o] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunFollow(*config, *o);
  });
}

void AddDemoteVerb(CLI::App& app, VerbContext& ctx) {
  CLI::App* demote = app.add_subcommand(
      "demote",
      "Former primary: become a secondary of the new one. With its PostgreSQL stopped, "
      "pg_rewind brings its data folder onto the new primary's timeline (what it wrote after "
      "the promotion is discarded) and writes it as a standby streaming through a slot made "
      "there; its tracking database (\"database.tracking\", which must be set) is migrated. "
      "Then start PostgreSQL, enable the site on the new primary and restart the daemon: files "
      "and repositories it holds that match the new primary's checksums are adopted, not "
      "downloaded. The --user role needs a superuser or EXECUTE on pg_ls_dir, pg_stat_file and "
      "pg_read_binary_file; wal_log_hints or data checksums must have been on.");
  AddConfig(demote, ctx);
  auto o = std::make_shared<UpstreamOptions>();
  AddUpstreamOptions(demote, *o);
  auto data_dir = std::make_shared<std::string>();
  demote->add_option("--data-dir", *data_dir, "Its PostgreSQL data folder (stopped)")->required();
  demote->callback([&ctx, o, data_dir] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunDemote(*config, *o, *data_dir);
  });
}

}  // namespace georep::cli
