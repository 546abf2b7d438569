// dataloss: what this secondary would lack if it were promoted now;
// replication pause|resume: an operator's pause of a secondary.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/verbs.h"
#include "framework/dataloss.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "site/pause.h"
#include "site/sites.h"
#include "transport/http_client.h"

namespace georep::cli {
namespace {

std::string Iso(double epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The database leg: WAL the primary has and this standby has not replayed
// (from the primary's daemon, which samples its WAL position every
// monitor interval), or, when the primary cannot be asked, the time of the
// last commit replayed here.
nlohmann::json DatabaseLeg(db::Connection& standby, const std::optional<site::Site>& primary) {
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
  if (!primary) return db;
  std::string url = primary->InternalUrl();
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto res = transport::HttpRequest(url + "/api/v1/status", {.timeout_seconds = 5});
  if (!res.ok() || res->status != 200) {
    db["primary_error"] =
        res.ok() ? absl::StrCat("HTTP ", res->status) : std::string(res.status().message());
    return db;
  }
  auto status = nlohmann::json::parse(res->body, nullptr, false);
  // Whatever the answer holds, only a string WAL position is used (a
  // malformed one is refused by PostgreSQL's pg_lsn below).
  if (!status.is_object() || !status.contains("database") || !status["database"].is_object() ||
      !status["database"].value("current_lsn", nlohmann::json()).is_string() ||
      here->IsNull(0, 0)) {
    db["primary_error"] = "the primary's status names no WAL position";
    return db;
  }
  std::string primary_lsn = status["database"]["current_lsn"];
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

// A secondary's standby and tracking database; a verb run with the
// primary's configuration is refused (exit 2), an unreachable database is
// exit 1. Returns 0 when both are open.
struct SecondaryDatabases {
  std::unique_ptr<db::Connection> standby;
  std::unique_ptr<db::Connection> tracking;
};
int OpenSecondary(const site::Config& config, const char* verb, SecondaryDatabases* out) {
  if (config.tracking_database.empty()) {
    return Fail(2, verb,
                absl::StrCat("runs on a secondary (setting \"database.tracking\" in ", config.path,
                             " is not set: this is the primary's configuration)"));
  }
  auto standby = OpenMain(config);
  if (!standby.ok()) return Fail(1, verb, standby.status().message());
  auto tracking = db::Connection::Open(config.tracking_database);
  if (!tracking.ok()) return Fail(1, verb, tracking.status().message());
  out->standby = std::move(*standby);
  out->tracking = std::move(*tracking);
  return 0;
}

int RunDataloss(const site::Config& config, bool json) {
  const char* verb = "dataloss";
  SecondaryDatabases dbs;
  if (int code = OpenSecondary(config, verb, &dbs); code != 0) return code;
  auto& standby = dbs.standby;
  auto& tracking = dbs.tracking;
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Fail(2, verb, specs.status().message());
  auto sites = site::ListSites(*standby);
  if (!sites.ok()) return Fail(1, verb, sites.status().message());
  std::optional<site::Site> primary;
  for (const auto& s : *sites) {
    if (s.primary && s.name != config.site_name) primary = s;
  }

  nlohmann::json db = DatabaseLeg(*standby, primary);
  auto events = framework::UnappliedEvents(*standby, *tracking);
  if (!events.ok()) return Fail(1, verb, events.status().message());
  nlohmann::json replicables = nlohmann::json::array();
  int64_t missing_items = 0;
  std::vector<framework::ReplicableLoss> losses;
  for (const auto& spec : *specs) {
    auto loss = framework::UnverifiedItems(*standby, *tracking, spec);
    if (!loss.ok()) return Fail(1, verb, absl::StrCat(spec.name, ": ", loss.status().message()));
    missing_items += static_cast<int64_t>(loss->missing.size());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : loss->missing)
      items.push_back({{"id", m.id}, {"path", m.path}, {"reason", m.reason}});
    replicables.push_back({{"name", spec.name}, {"items", loss->items}, {"missing", items}});
    losses.push_back(std::move(*loss));
  }
  bool db_known = db.value("primary_reachable", false);
  int64_t wal_bytes = db_known ? db["unreplayed_bytes"].get<int64_t>() : 0;
  bool lose = missing_items > 0 || events->not_applied > 0 || wal_bytes > 0 || !db_known;

  if (json) {
    nlohmann::json out = {{"site", config.site_name},
                          {"database", db},
                          {"events",
                           {{"cursor", events->cursor},
                            {"last_event", events->last_event},
                            {"not_applied", events->not_applied}}},
                          {"replicables", replicables},
                          {"missing_items", missing_items},
                          {"would_lose_data", lose}};
    std::puts(out.dump(2).c_str());
    return lose ? 1 : 0;
  }
  std::printf("Data loss if site \"%s\" were promoted now\n", config.site_name.c_str());
  if (db_known) {
    std::printf("database: %lld bytes of WAL not replayed (primary at %s, replayed %s)\n",
                static_cast<long long>(wal_bytes), db["primary_lsn"].get<std::string>().c_str(),
                db["replay_lsn"].get<std::string>().c_str());
  } else {
    std::printf(
        "database: unknown, the primary cannot be asked (%s); last commit replayed here: %s\n",
        db.value("primary_error", std::string("no primary in geo_nodes")).c_str(),
        db["last_replayed_commit"].is_string()
            ? db["last_replayed_commit"].get<std::string>().c_str()
            : "none");
  }
  std::printf("events: %lld not applied (cursor at %lld, last event %lld)\n",
              static_cast<long long>(events->not_applied), static_cast<long long>(events->cursor),
              static_cast<long long>(events->last_event));
  for (const auto& loss : losses) {
    if (loss.missing.empty()) continue;
    std::printf("%s: %zu of %lld items not synced and verified\n", loss.name.c_str(),
                loss.missing.size(), static_cast<long long>(loss.items));
    for (const auto& m : loss.missing) {
      std::printf("  %lld\t%s\t%s\n", static_cast<long long>(m.id), m.path.c_str(),
                  m.reason.c_str());
    }
  }
  std::printf("total: %lld items not synced and verified, %lld events not applied\n",
              static_cast<long long>(missing_items), static_cast<long long>(events->not_applied));
  std::puts(lose ? "verdict: promoting now would lose data (or cannot rule it out)"
                 : "verdict: nothing would be lost");
  return lose ? 1 : 0;
}

// Who paused: user@host, for the status.
std::string Operator() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const char* user = std::getenv("USER");
  return absl::StrCat(user == nullptr ? "unknown" : user, "@", host);
}

int RunPause(const site::Config& config, bool pause) {
  const char* verb = pause ? "replication pause" : "replication resume";
  SecondaryDatabases dbs;
  if (int code = OpenSecondary(config, verb, &dbs); code != 0) return code;
  auto& standby = dbs.standby;
  auto& tracking = dbs.tracking;
  absl::Status s = pause ? site::PauseReplication(*tracking, *standby, Operator())
                         : site::ResumeReplication(*tracking, *standby);
  if (!s.ok()) return Fail(CodeFor(s), verb, s.message());
  if (pause) {
    std::printf(
        "site \"%s\" paused: WAL replay stopped; sync and verification stop within %g s and "
        "stay stopped across restarts until `georep replication resume`\n",
        config.site_name.c_str(), config.monitor_interval_seconds);
  } else {
    std::printf("site \"%s\" resumed: replay, sync and verification continue\n",
                config.site_name.c_str());
  }
  return 0;
}

}  // namespace

void AddDisasterRecoveryVerbs(CLI::App& app, VerbContext& ctx) {
  CLI::App* replication = app.add_subcommand("replication", "Pause or resume a secondary");
  replication->require_subcommand(1);
  for (bool pause : {true, false}) {
    CLI::App* sub = replication->add_subcommand(
        pause ? "pause" : "resume",
        pause ? "Secondary: pause WAL replay and all sync and verification work (kept across "
                "restarts of the daemon and of the standby until resumed)"
              : "Secondary: resume what `replication pause` stopped; nothing is lost, nothing "
                "fetched twice");
    AddConfig(sub, ctx);
    sub->callback([&ctx, pause] {
      auto config = LoadConfigOrFail(ctx);
      if (config) ctx.exit_code = RunPause(*config, pause);
    });
  }

  CLI::App* dataloss = app.add_subcommand(
      "dataloss",
      "Secondary: what it would lack if promoted now: WAL not replayed (asked of the primary; "
      "when it cannot be reached, the last commit replayed here), events not applied, and every "
      "item not synced and verified, by id. Exit 0 when nothing would be lost, 1 otherwise.");
  AddConfig(dataloss, ctx);
  auto json = std::make_shared<bool>(false);
  dataloss->add_flag("--json", *json, "Print JSON");
  dataloss->callback([&ctx, json] {
    auto config = LoadConfigOrFail(ctx);
    if (config) ctx.exit_code = RunDataloss(*config, *json);
  });
}

}  // namespace georep::cli
