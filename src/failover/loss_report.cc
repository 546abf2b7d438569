#include "failover/loss_report.h"

#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "transport/http_client.h"

namespace georep::failover {
namespace {

std::string Iso(double epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The primary's WAL position, from its daemon's status (sampled every
// monitor interval there).
absl::StatusOr<std::string> PrimaryPosition(const site::Site& primary) {
  std::string url = primary.InternalUrl();
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto res = transport::HttpRequest(url + "/api/v1/status", {.timeout_seconds = 5});
  if (!res.ok()) return res.status();
  if (res->status != 200) return absl::UnavailableError(absl::StrCat("HTTP ", res->status));
  auto status = nlohmann::json::parse(res->body, nullptr, false);
  // Whatever the answer holds, only a string WAL position is used (a
  // malformed one is refused by PostgreSQL's pg_lsn).
  if (!status.is_object() || !status.contains("database") || !status["database"].is_object() ||
      !status["database"].value("current_lsn", nlohmann::json()).is_string()) {
    return absl::UnavailableError("the primary's status names no WAL position");
  }
  return status["database"]["current_lsn"].get<std::string>();
}

// The database leg: WAL the primary has and this standby has not replayed
// (from the primary's daemon, which samples its WAL position every
// monitor interval), or, when the primary cannot be asked, the time of the
// last commit replayed here.
nlohmann::json DatabaseLeg(db::Connection& standby, const std::optional<site::Site>& primary,
                           const std::optional<std::string>& known_primary_lsn) {
  nlohmann::json db;
  auto here = standby.Exec(
      "SELECT pg_last_wal_replay_lsn()::text, "
      "extract(epoch FROM pg_last_xact_replay_timestamp())::float8");
  if (!here.ok()) {
    db["error"] = std::string(here.status().message());
    return db;
  }
  db["replay_lsn"] = here->IsNull(0, 0) ? nlohmann::json() : nlohmann::json(here->Get(0, 0));
  db["last_replayed_commit"] =
      here->IsNull(0, 1) ? nlohmann::json() : nlohmann::json(Iso(here->GetDouble(0, 1)));
  db["primary_reachable"] = false;
  std::string primary_lsn;
  if (known_primary_lsn) {
    primary_lsn = *known_primary_lsn;
  } else {
    if (!primary) return db;
    auto asked = PrimaryPosition(*primary);
    if (!asked.ok()) {
      db["primary_error"] = std::string(asked.status().message());
      return db;
    }
    primary_lsn = *asked;
  }
  if (here->IsNull(0, 0)) {
    db["primary_error"] = "nothing replayed here yet";
    return db;
  }
  auto diff = standby.Exec("SELECT greatest(pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn), 0)::bigint",
                           {primary_lsn, std::string(here->Get(0, 0))});
  if (!diff.ok()) {
    db["primary_error"] = std::string(diff.status().message());
    return db;
  }
  db["primary_reachable"] = true;
  db["primary_lsn"] = primary_lsn;
  db["unreplayed_bytes"] = diff->GetInt64(0, 0);
  return db;
}
}  // namespace

absl::StatusOr<LossReport> ComputeLoss(const std::string& site_name, db::Connection& standby,
                                       db::Connection& tracking,
                                       const std::vector<ReplicableSpec>& specs,
                                       const std::optional<site::Site>& primary,
                                       const std::optional<std::string>& primary_lsn) {
  LossReport r;
  r.site = site_name;
  r.database = DatabaseLeg(standby, primary, primary_lsn);
  auto events = framework::UnappliedEvents(standby, tracking);
  if (!events.ok()) return events.status();
  r.events = *events;
  // What this site holds: its selective sync, from its own row.
  auto self = site::FindSite(standby, site_name);
  if (!self.ok()) return self.status();
  r.selective_sync = self->selective_sync;
  for (const auto& spec : specs) {
    auto loss = framework::UnverifiedItems(standby, tracking, spec, r.selective_sync);
    if (!loss.ok()) {
      return absl::Status(loss.status().code(),
                          absl::StrCat(spec.name, ": ", loss.status().message()));
    }
    r.missing_items += static_cast<int64_t>(loss->missing.size());
    r.lost_items += static_cast<int64_t>(loss->lost.size());
    r.not_held_items += loss->not_held;
    r.replicables.push_back(std::move(*loss));
  }
  auto failovers = framework::ReadLostFailovers(standby);
  if (!failovers.ok()) return failovers.status();
  r.failovers = std::move(*failovers);
  r.primary_position_known = r.database.value("primary_reachable", false);
  r.unreplayed_bytes = r.primary_position_known ? r.database["unreplayed_bytes"].get<int64_t>() : 0;
  r.would_lose_data = r.missing_items > 0 || r.events.not_applied > 0 || r.unreplayed_bytes > 0 ||
                      r.events.needs_pruned_events || !r.primary_position_known;
  return r;
}

nlohmann::json LossReport::Json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& loss : replicables) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : loss.missing)
      items.push_back({{"id", m.id}, {"path", m.path}, {"reason", m.reason}});
    nlohmann::json lost = nlohmann::json::array();
    for (const auto& m : loss.lost)
      lost.push_back({{"id", m.id}, {"path", m.path}, {"reason", m.reason}});
    list.push_back({{"name", loss.name},
                    {"items", loss.items},
                    {"missing", items},
                    {"lost_in_failover", lost},
                    {"not_held", loss.not_held}});
  }
  nlohmann::json failover_list = nlohmann::json::array();
  for (const auto& f : failovers) {
    failover_list.push_back({{"old_primary", f.old_primary},
                             {"new_primary", f.new_primary},
                             {"failover_at", f.failover_at},
                             {"items", f.items},
                             {"total", f.total}});
  }
  return {{"site", site},
          {"database", database},
          {"events",
           {{"cursor", events.cursor},
            {"cursor_started", events.started},
            {"last_event", events.last_event},
            {"not_applied", events.not_applied},
            {"pruned_below", events.pruned_below},
            {"needs_pruned_events", events.needs_pruned_events}}},
          {"replicables", list},
          {"missing_items", missing_items},
          {"lost_in_failover_items", lost_items},
          {"lost_in_failover", failover_list},
          {"selective_sync",
           {{"type", SelectiveSyncKindName(selective_sync.kind)},
            {"namespaces", selective_sync.namespaces},
            {"shards", selective_sync.shards}}},
          {"not_held_items", not_held_items},
          {"would_lose_data", would_lose_data}};
}

std::string LossReport::Summary() const {
  return absl::StrCat(primary_position_known ? absl::StrCat(unreplayed_bytes, " bytes of WAL")
                                             : std::string("WAL position of the primary unknown"),
                      ", ", events.not_applied, " events, ", missing_items,
                      " items not yet synced and verified");
}

void LossReport::Print(FILE* out) const {
  std::fprintf(out, "Data loss if site \"%s\" were promoted now\n", site.c_str());
  if (primary_position_known) {
    std::fprintf(out, "database: %lld bytes of WAL not replayed (primary at %s, replayed %s)\n",
                 static_cast<long long>(unreplayed_bytes),
                 database["primary_lsn"].get<std::string>().c_str(),
                 database["replay_lsn"].get<std::string>().c_str());
  } else {
    std::fprintf(
        out, "database: unknown, the primary cannot be asked (%s); last commit replayed here: %s\n",
        database.value("primary_error", std::string("no primary in geo_nodes")).c_str(),
        database["last_replayed_commit"].is_string()
            ? database["last_replayed_commit"].get<std::string>().c_str()
            : "none");
  }
  if (events.started) {
    std::fprintf(out, "events: %lld not applied (cursor at %lld, last event %lld)\n",
                 static_cast<long long>(events.not_applied), static_cast<long long>(events.cursor),
                 static_cast<long long>(events.last_event));
  } else {
    std::fprintf(
        out, "events: %lld not applied (the log cursor has not started; last event %lld)\n",
        static_cast<long long>(events.not_applied), static_cast<long long>(events.last_event));
  }
  if (events.needs_pruned_events) {
    std::fprintf(out,
                 "events: the primary pruned events below %lld that this site still needed (from "
                 "%lld): its log cursor falls back to a backfill; the count above cannot include "
                 "them\n",
                 static_cast<long long>(events.pruned_below),
                 static_cast<long long>(events.oldest_needed));
  }
  for (const auto& loss : replicables) {
    if (loss.missing.empty()) continue;
    std::fprintf(out, "%s: %zu of %lld items not synced and verified\n", loss.name.c_str(),
                 loss.missing.size(), static_cast<long long>(loss.items));
    for (const auto& m : loss.missing) {
      std::fprintf(out, "  %lld\t%s\t%s\n", static_cast<long long>(m.id), m.path.c_str(),
                   m.reason.c_str());
    }
  }
  std::fprintf(out, "total: %lld items not synced and verified, %lld events not applied\n",
               static_cast<long long>(missing_items), static_cast<long long>(events.not_applied));
  for (const auto& f : failovers) {
    std::fprintf(out,
                 "lost in failover: %lld items lost in the failover from \"%s\" to \"%s\" at %s, "
                 "not on any site; recoverable from the old primary's storage\n",
                 static_cast<long long>(f.total), f.old_primary.c_str(), f.new_primary.c_str(),
                 f.failover_at.c_str());
  }
  for (const auto& loss : replicables) {
    if (loss.lost.empty()) continue;
    std::fprintf(out, "%s: %zu items lost in failover (not fetched; not this site's loss)\n",
                 loss.name.c_str(), loss.lost.size());
    for (const auto& m : loss.lost) {
      std::fprintf(out, "  %lld\t%s\n", static_cast<long long>(m.id), m.path.c_str());
    }
  }
  if (not_held_items > 0) {
    std::fprintf(out,
                 "selective sync (%s): %lld items of the primary are outside this site's "
                 "selection and not held here; as primary it would not have them\n",
                 SelectiveSyncKindName(selective_sync.kind),
                 static_cast<long long>(not_held_items));
  }
  std::fputs(would_lose_data ? "verdict: promoting now would lose data (or cannot rule it out)\n"
                             : "verdict: nothing would be lost\n",
             out);
}

}  // namespace georep::failover
