// follow: a secondary re-points to a new primary after a promotion; its
// standby streams from it without a new base backup when it can, and its
// registry is kept, so nothing it holds is downloaded again.
#include <cstdio>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "cluster/pg_cluster.h"
#include "framework/registry_store.h"
#include "framework/states.h"
#include "nlohmann/json.hpp"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"

namespace georep::cli {
namespace {

struct FollowOptions {
  std::string primary_url;
  std::string host;  // default: the URL's host
  int port = 5432;
  std::string user;  // default: the user of the previous upstream, else "replicator"
  std::string slot;  // default: the previous upstream's slot, else the site name
  std::string password_file;
  double timeout_seconds = 120;
  bool json = false;
};

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

int RunFollow(const site::Config& config, const FollowOptions& o) {
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
  cluster::ReplicaSource source{.port = o.port,
                                .user = o.user,
                                .slot = o.slot,
                                .sslmode = db::ConninfoValue(config.main_database, "sslmode"),
                                .password = db::ConninfoValue(previous.conninfo, "password"),
                                .application_name = config.site_name};
  if (o.host.empty()) {
    auto host = transport::UrlHost(o.primary_url);
    if (!host.ok()) return Fail(2, verb, host.status().message());
    source.host = *host;
  } else {
    source.host = o.host;
  }
  if (source.user.empty()) source.user = db::ConninfoValue(previous.conninfo, "user");
  if (source.user.empty()) source.user = "replicator";
  if (source.slot.empty()) source.slot = previous.slot;
  if (source.slot.empty()) {
    source.slot = config.site_name;
    for (char& c : source.slot) {
      if (c == '-' || c == '.') c = '_';
    }
  }
  if (!o.password_file.empty()) {
    auto text = ReadFile(o.password_file);
    if (!text.ok()) {
      return Fail(2, verb,
                  absl::StrCat("--password-file ", o.password_file, ": ", text.status().message()));
    }
    source.password = text->substr(0, text->find('\n'));
  }
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
        {"base_backup", false},
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
  auto o = std::make_shared<FollowOptions>();
  follow->add_option("--primary", o->primary_url, "URL of the new primary's daemon")->required();
  follow->add_option("--primary-host", o->host,
                     "Its PostgreSQL host (default: the host of --primary)");
  follow->add_option("--primary-port", o->port, "Its PostgreSQL port")->capture_default_str();
  follow->add_option("--user", o->user,
                     "A role with REPLICATION there (default: the one used until now, else "
                     "replicator)");
  follow->add_option("--slot", o->slot,
                     "Physical replication slot there, created if missing (default: the one used "
                     "until now, else the site name)");
  follow->add_option("--password-file", o->password_file,
                     "File whose first line is the password (default: the one used until now, "
                     "else PGPASSFILE or ~/.pgpass)");
  follow
      ->add_option("--timeout", o->timeout_seconds,
                   "Seconds to wait for the standby to stream from the new primary (default 120)")
      ->check(CLI::PositiveNumber);
  follow->add_flag("--json", o->json, "Print the outcome as JSON");
  follow->callback([&ctx, o] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunFollow(*config, *o);
  });
}

}  // namespace georep::cli
