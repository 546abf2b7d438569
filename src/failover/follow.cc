#include "failover/follow.h"

#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cluster/pg_cluster.h"
#include "db/migrations.h"
#include "failover/peers.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/states.h"
#include "nlohmann/json.hpp"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/net.h"

namespace georep::failover {
namespace {

// The replication source the request describes, completed from `previous`
// (the upstream this site streamed from until now; empty for a former
// primary). InvalidArgument names the bad option.
absl::StatusOr<cluster::ReplicaSource> ResolveSource(const config::Config& config,
                                                     const UpstreamRequest& o,
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

// A replication connection to the new primary's PostgreSQL.
absl::StatusOr<std::unique_ptr<db::Connection>> OpenReplication(const std::string& conninfo) {
  auto replication = db::Connection::Open(conninfo + " replication=true");
  if (!replication.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot open a replication connection to the new primary's PostgreSQL (",
        replication.status().message(), "); give --primary-host, --primary-port and --user"));
  }
  return replication;
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

// Waits until the standby streams from `endpoint` and has replayed the
// promotion (geo_nodes names `primary` the primary); its position then.
absl::StatusOr<site::LocalPosition> AwaitFollowing(const config::Config& config,
                                                   db::Connection& standby,
                                                   const std::string& endpoint,
                                                   const std::string& primary, double timeout) {
  double deadline = MonotonicSeconds() + timeout;
  std::string state;
  while (true) {
    auto pos = site::ReadLocalPosition(standby);
    auto role = site::ReadRole(standby, config.site_name);
    if (pos.ok() && role.ok() && pos->streaming && pos->streaming_from == endpoint &&
        role->primary && role->primary->name == primary) {
      return *pos;
    }
    state = !pos.ok()    ? std::string(pos.status().message())
            : !role.ok() ? std::string(role.status().message())
            : !pos->streaming
                ? "its WAL receiver is not streaming"
                : absl::StrCat("geo_nodes replayed here still names \"",
                               role->primary ? role->primary->name : "no site", "\" the primary");
    if (MonotonicSeconds() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the standby does not follow \"", primary, "\" after ", timeout, " s (", state,
          "); its PostgreSQL log says why (e.g. WAL the slot did not keep: "
          "then it needs a new copy, `georep db replicate`)"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Whether `site` is disabled in the fleet the new primary's daemon lists
// (GET /api/v1/sites); nullopt when it cannot tell.
std::optional<bool> DisabledThere(const std::string& url, const std::string& site) {
  auto res =
      transport::HttpRequest(TrimTrailingSlashes(url) + "/api/v1/sites", {.timeout_seconds = 10});
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

void Progress(const UpstreamRequest& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

}  // namespace

absl::StatusOr<FollowOutcome> Follow(const config::Config& config, const UpstreamRequest& o) {
  auto dbs = OpenSecondaryDatabases(config);
  if (!dbs.ok()) return dbs.status();
  auto recovery = dbs->standby->InRecovery();
  if (!recovery.ok()) return recovery.status();
  if (!*recovery) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the main database of site \"", config.site_name, "\" (", dbs->standby->display_name(),
        ") is not a standby: a former primary rejoins with `georep demote`"));
  }
  FollowOutcome out;
  auto name = NewPrimaryName(config, o.primary_url);
  if (!name.ok()) return name.status();
  out.primary = *name;

  // Where to stream from, filled in from the previous upstream.
  auto detached = site::ReadDetached(*dbs->tracking);
  if (!detached.ok()) return detached.status();
  auto current = site::ReadUpstream(*dbs->standby);
  if (!current.ok()) return current.status();
  site::Upstream previous = detached->has_value() ? (*detached)->previous : *current;
  auto source = ResolveSource(config, o, previous);
  if (!source.ok()) return source.status();
  std::string conninfo = cluster::SourceConninfo(*source, /*with_password=*/true);
  auto replication = OpenReplication(conninfo);
  if (!replication.ok()) return replication.status();
  auto system = site::IdentifySource(**replication);
  if (!system.ok()) return system.status();
  auto local = site::ReadLocalPosition(*dbs->standby);
  if (!local.ok()) return local.status();
  out.streaming_from = absl::StrCat(source->host, ":", source->port);
  out.slot = source->slot;
  bool already = local->streaming && local->streaming_from == out.streaming_from &&
                 local->timeline == system->timeline;
  site::ForkVerdict verdict = site::CheckFork(*local, *system);
  if (!already && !verdict.can_stream) {
    return absl::FailedPreconditionError(
        absl::StrCat("the standby of site \"", config.site_name, "\" cannot follow \"", out.primary,
                     "\" by streaming: ", verdict.reason,
                     ". It needs a new copy: stop its PostgreSQL, move its data folder aside, run "
                     "`georep db replicate --config ",
                     config.path, " --primary-host ", source->host, " --primary-port ",
                     source->port, " --user ", source->user,
                     " --data-dir <its data folder>` and start it; the "
                     "registry is kept, so what this site holds is not downloaded again"));
  }
  if (!already) {
    if (auto s = site::CreatePhysicalSlot(**replication, source->slot); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("replication slot ", source->slot,
                                                 " on the new primary: ", s.message()));
    }
    if (auto s = site::SetUpstream(*dbs->standby, {conninfo, source->slot}); !s.ok()) return s;
  }
  if (auto s = site::ForgetDetached(*dbs->tracking); !s.ok()) return s;
  if (verdict.fork_point) out.fork_point = site::FormatLsn(verdict.fork_point);
  Progress(o, absl::StrCat("standby of \"", config.site_name, "\" now streams from ",
                           out.streaming_from, " (slot ", out.slot, ")",
                           out.fork_point ? absl::StrCat(", crossing to timeline ",
                                                         system->timeline, " at ", *out.fork_point)
                                          : ""));
  auto following =
      AwaitFollowing(config, *dbs->standby, out.streaming_from, out.primary, o.timeout_seconds);
  if (!following.ok()) return following.status();
  out.timeline = following->timeline;
  out.items_kept = SyncedItems(*dbs->tracking);
  return out;
}

absl::StatusOr<DemoteOutcome> Demote(const config::Config& config, const UpstreamRequest& o,
                                     const std::string& data_dir) {
  if (config.tracking_database.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a secondary needs a tracking database: set \"database.tracking\" in ", config.path,
        " to a writable database (not in the cluster being demoted, which "
        "becomes a read-only standby)"));
  }
  if (data_dir.empty() || data_dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("--data-dir must be an absolute path, not \"", data_dir, "\""));
  }
  DemoteOutcome out;
  auto name = NewPrimaryName(config, o.primary_url);
  if (!name.ok()) return name.status();
  out.primary = *name;
  auto source = ResolveSource(config, o, {});
  if (!source.ok()) return source.status();
  out.slot = source->slot;
  auto replication = OpenReplication(cluster::SourceConninfo(*source, /*with_password=*/true));
  if (!replication.ok()) return replication.status();
  if (auto s = site::CreatePhysicalSlot(**replication, source->slot); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("replication slot ", source->slot,
                                               " on the new primary: ", s.message()));
  }
  Progress(o, absl::StrCat("rewinding ", data_dir, " to the timeline of \"", out.primary, "\" (",
                           source->host, ":", source->port, ") …"));
  auto rewound = cluster::RewindToStandby(*source, data_dir);
  if (!rewound.ok()) {
    std::string hint = absl::IsUnavailable(rewound.status())
                           ? ". If it cannot be rewound, make a new copy instead: move the folder "
                             "aside and run `georep db replicate`"
                           : "";
    return absl::Status(rewound.status().code(), absl::StrCat(rewound.status().message(), hint));
  }
  out.rewound = rewound->rewound;
  // The tracking database, if it can be reached now.
  std::string tracking_note;
  auto tracking = db::Connection::Open(config.tracking_database);
  if (tracking.ok()) {
    auto migrated = db::Migrate(**tracking, db::DatabaseKind::kTracking);
    tracking_note = migrated.ok() ? "" : std::string(migrated.status().message());
  } else {
    tracking_note = std::string(tracking.status().message());
  }
  out.tracking_migrated = tracking_note.empty();
  std::optional<bool> disabled = DisabledThere(o.primary_url, config.site_name);
  out.next = {absl::StrCat("start PostgreSQL on ", data_dir, ": it streams from ", source->host,
                           ":", source->port, " through slot ", source->slot)};
  if (!tracking_note.empty()) {
    out.next.push_back(absl::StrCat("georep db migrate --config ", config.path,
                                    "   (the tracking database: ", tracking_note, ")"));
  }
  if (disabled.value_or(true)) {
    out.next.push_back(absl::StrCat("georep site enable ", config.site_name,
                                    " --config <the new primary's config>   (disabled since the "
                                    "promotion)"));
  }
  out.next.push_back(absl::StrCat("georep serve --config ", config.path,
                                  "   (restart its daemon: it syncs as a secondary, and adopts the "
                                  "files and repositories it holds that match the new primary's "
                                  "checksums instead of downloading them)"));
  return out;
}

}  // namespace georep::failover
