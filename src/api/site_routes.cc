#include "api/site_routes.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/primary_states.h"
#include "framework/registry_store.h"
#include "git/repository.h"
#include "nlohmann/json.hpp"
#include "util/clock.h"
#include "util/loop.h"

namespace georep::api {
namespace {

const MetricDef kMetrics[] = {
    {"georep_up", "gauge", "1 while the site daemon is serving"},
    {"georep_site_info", "gauge", "Always 1; labels name this site and its role"},
    {"georep_uptime_seconds", "gauge", "Seconds since the daemon started"},
    {"geo_db_reachable", "gauge", "1 if the main database answered the last sample"},
    {"geo_db_replication_lag_seconds", "gauge",
     "Secondary: seconds the main database standby is behind the primary (0 when caught up)"},
    {"geo_db_replication_streaming", "gauge",
     "Secondary: 1 while the standby streams WAL from the primary"},
    {"geo_db_replay_backlog_bytes", "gauge", "Secondary: WAL received but not yet replayed"},
    {"geo_replication_paused", "gauge",
     "Secondary: 1 while an operator has paused its replication (georep replication pause)"},
    {"geo_db_slot_retained_bytes", "gauge",
     "Primary: WAL kept for a replication slot, by slot name"},
    {"geo_db_slot_active", "gauge", "Primary: 1 while a standby streams through the slot"},
    {"geo_retrieve_requests_total", "counter",
     "Primary: blob retrieve requests from secondaries, by replicable and HTTP status"},
    {"geo_retrieve_blobs_total", "counter",
     "Primary: blobs answered to secondaries (one a request, or many in a batch), by replicable "
     "and status"},
    {"geo_git_http_requests_total", "counter",
     "Git smart HTTP requests, by service, route (user or geo) and HTTP status"},
    {"geo_git_processes_total", "counter",
     "git processes this daemon started (fetches, clones, http-backend)"},
    {"georep_loop_errors_total", "counter",
     "Failed rounds of each background loop (log cursor, scheduler, verifier, ...), by loop"},
};

// geo_<plural of the name>: geo_upload*s*, geo_project_repositor*ies*.
std::string MetricPrefix(const ReplicableSpec& spec) {
  const std::string& n = spec.name;
  if (!n.empty() && n.back() == 'y') return absl::StrCat("geo_", n.substr(0, n.size() - 1), "ies");
  return absl::StrCat("geo_", n, "s");
}

nlohmann::json ReplicableCounts(bool primary, const framework::Counts& counts,
                                const std::string& name);

void UpdateMetrics(const SiteContext& ctx, const site::ReplicationSnapshot& snap) {
  const site::Site self = ctx.role->Get().self;
  ctx.metrics->Set("geo_git_processes_total", {}, static_cast<double>(git::GitProcessesStarted()));
  MetricsRegistry& m = *ctx.metrics;
  if (ctx.registry_counts) {
    auto counts = ctx.registry_counts(self.primary);
    if (counts.ok()) {
      for (const auto& spec : ctx.specs) {
        nlohmann::json c = ReplicableCounts(self.primary, *counts, spec.name);
        for (const auto& [key, value] : c.items()) {
          m.Set(absl::StrCat(MetricPrefix(spec), "_", key), {}, value.get<double>());
        }
      }
    }
  }
  for (const auto& [loop, errors] : LoopErrorCounts()) {
    m.Set("georep_loop_errors_total", {{"loop", loop}}, static_cast<double>(errors));
  }
  m.Set("georep_up", {}, 1);
  m.Clear("georep_site_info");
  m.Set("georep_site_info", {{"site", self.name}, {"role", std::string(self.Role())}}, 1);
  m.Set("georep_uptime_seconds", {}, WallSeconds() - ctx.started_at);
  m.Set("geo_db_reachable", {}, snap.database_reachable ? 1 : 0);
  if (!self.primary) {
    m.Set("geo_db_replication_lag_seconds", {}, snap.replay_lag_seconds);
    m.Set("geo_db_replication_streaming", {}, snap.streaming ? 1 : 0);
    m.Set("geo_db_replay_backlog_bytes", {}, static_cast<double>(snap.replay_backlog_bytes));
    m.Set("geo_replication_paused", {}, ctx.paused && ctx.paused() ? 1 : 0);
  } else {
    m.Clear("geo_db_slot_retained_bytes");
    m.Clear("geo_db_slot_active");
    for (const auto& s : snap.standbys) {
      m.Set("geo_db_slot_retained_bytes", {{"slot", s.slot_name}},
            static_cast<double>(s.retained_bytes));
      m.Set("geo_db_slot_active", {{"slot", s.slot_name}}, s.active ? 1 : 0);
    }
  }
}

}  // namespace

constexpr const char* kCountNames[] = {"registry", "pending", "started", "synced", "failed"};
constexpr const char* kPrimaryNames[] = {"checksummed", "checksum_failed", "checksum_pending"};

std::vector<MetricDef> SiteMetricDefs(const std::vector<ReplicableSpec>& specs) {
  std::vector<MetricDef> defs(std::begin(kMetrics), std::end(kMetrics));
  for (const auto& spec : specs) {
    for (const char* what : kCountNames) {
      std::string help = std::string(what) == "registry"
                             ? absl::StrCat("Secondary: registry rows of ", spec.title, " items")
                             : absl::StrCat("Secondary: ", spec.title, " items in state ", what);
      defs.push_back({absl::StrCat(MetricPrefix(spec), "_", what), "gauge", help});
    }
    defs.push_back(
        {absl::StrCat(MetricPrefix(spec), "_verified"), "gauge",
         absl::StrCat("Secondary: ", spec.title, " copies whose checksum matched the primary's")});
    defs.push_back(
        {absl::StrCat(MetricPrefix(spec), "_verification_disabled"), "gauge",
         absl::StrCat("Secondary: ", spec.title, " copies waiting for the primary's checksum")});
    defs.push_back(
        {absl::StrCat(MetricPrefix(spec), "_verification_failed"), "gauge",
         absl::StrCat("Secondary: ", spec.title, " copies whose checksum did not match")});
    for (const char* what : kPrimaryNames) {
      defs.push_back({absl::StrCat(MetricPrefix(spec), "_", what), "gauge",
                      absl::StrCat("Primary: ", spec.title, " items ", what)});
    }
  }
  return defs;
}

namespace {
int64_t At(const framework::Counts& counts, const std::string& key, int state) {
  auto it = counts.find(key);
  if (it == counts.end()) return 0;
  auto st = it->second.find(state);
  return st == it->second.end() ? 0 : st->second;
}

// What /api/v1/status shows of one replicable: on a secondary its registry
// and verification counts, on the primary its checksum counts.
nlohmann::json ReplicableCounts(bool primary, const framework::Counts& counts,
                                const std::string& name) {
  if (primary) {
    return {{"checksummed", At(counts, name, 2)},
            {"checksum_failed", At(counts, name, 3)},
            {"checksum_pending", At(counts, name, 0) + At(counts, name, 1)}};
  }
  nlohmann::json j;
  int64_t total = 0;
  for (int state = 0; state <= 3; ++state) {
    j[framework::SyncStateName(state)] = At(counts, name, state);
    total += At(counts, name, state);
  }
  j["registry"] = total;
  std::string v = name + ":verification";
  j["verified"] = At(counts, v, framework::kVerificationSucceeded);
  j["verification_failed"] = At(counts, v, framework::kVerificationFailed);
  j["verification_disabled"] = At(counts, v, framework::kVerificationDisabled);
  return j;
}

}  // namespace

HealthVerdict Health(const SiteContext& ctx) {
  const site::RoleState role = ctx.role->Get();
  site::ReplicationSnapshot snap = ctx.monitor->Latest();
  HealthInputs in{.primary = role.self.primary,
                  .maintenance = role.maintenance,
                  .sampled = snap.sampled,
                  .database_reachable = snap.database_reachable,
                  .database_error = snap.error,
                  .streaming = snap.streaming,
                  .replay_lag_seconds = snap.replay_lag_seconds,
                  .uptime_seconds = WallSeconds() - ctx.started_at};
  if (!role.self.primary) {
    if (ctx.registry_counts) {
      auto counts = ctx.registry_counts(false);
      if (!counts.ok()) {
        in.tracking_reachable = false;
        in.tracking_error = std::string(counts.status().message());
      }
    }
    in.paused = ctx.paused && ctx.paused();
    if (ctx.detached_for) in.detached_for = ctx.detached_for();
    if (ctx.seconds_since_report) in.seconds_since_report = ctx.seconds_since_report();
  }
  return JudgeHealth(in);
}

std::string StatusJson(const SiteContext& ctx) {
  const site::RoleState role = ctx.role->Get();
  const site::Site& self = role.self;
  site::ReplicationSnapshot snap = ctx.monitor->Latest();
  nlohmann::json db = {{"reachable", snap.database_reachable}};
  if (!snap.error.empty()) db["error"] = snap.error;
  if (!self.primary) {
    db["streaming"] = snap.streaming;
    db["receive_lsn"] =
        snap.receive_lsn.empty() ? nlohmann::json() : nlohmann::json(snap.receive_lsn);
    db["replay_lsn"] = snap.replay_lsn.empty() ? nlohmann::json() : nlohmann::json(snap.replay_lsn);
    db["replay_backlog_bytes"] = snap.replay_backlog_bytes;
    db["replay_lag_seconds"] = snap.replay_lag_seconds;
    db["last_replay_time"] =
        snap.last_replay_time ? nlohmann::json(*snap.last_replay_time) : nlohmann::json();
  } else {
    db["current_lsn"] = snap.current_lsn;
    nlohmann::json standbys = nlohmann::json::array();
    for (const auto& s : snap.standbys) {
      standbys.push_back(
          {{"slot", s.slot_name},
           {"active", s.active},
           {"client", s.client},
           {"state", s.state},
           {"retained_bytes", s.retained_bytes},
           {"replay_lag_bytes",
            s.replay_lag_bytes < 0 ? nlohmann::json() : nlohmann::json(s.replay_lag_bytes)}});
    }
    db["standbys"] = standbys;
  }
  nlohmann::json replicables = nlohmann::json::array();
  if (ctx.registry_counts) {
    auto counts = ctx.registry_counts(self.primary);
    for (const auto& spec : ctx.specs) {
      nlohmann::json r = {{"name", spec.name}, {"title", spec.title}};
      if (counts.ok()) r.update(ReplicableCounts(self.primary, *counts, spec.name));
      replicables.push_back(r);
    }
  } else {
    for (const auto& spec : ctx.specs)
      replicables.push_back({{"name", spec.name}, {"title", spec.title}});
  }
  nlohmann::json j = {
      {"site", self.name},
      {"replicables", replicables},
      {"role", self.Role()},
      {"primary", role.primary ? nlohmann::json(role.primary->name) : nlohmann::json()},
      {"url", self.url},
      {"enabled", self.enabled},
      {"engine", ctx.engine ? nlohmann::json(ctx.engine()) : nlohmann::json()},
      {"uptime_seconds", WallSeconds() - ctx.started_at},
      {"sampled_at", snap.sampled_at},
      {"database", db}};
  if (!self.primary) {
    j["paused"] = ctx.paused && ctx.paused();
    std::string detached = ctx.detached_for ? ctx.detached_for() : "";
    j["detached_for"] = detached.empty() ? nlohmann::json() : nlohmann::json(detached);
  }
  HealthVerdict health = Health(ctx);
  j["health"] = {{"healthy", health.healthy}, {"reasons", health.reasons}, {"notes", health.notes}};
  if (self.primary) {
    j["maintenance"] = role.maintenance;
    j["writes_in_flight"] = ctx.role->writes_in_flight();
  }
  return j.dump(2) + "\n";
}

namespace {

// POST /api/v1/replicables/<name>/<id>/(resync|reverify)
HttpResponse Operate(const SiteContext& ctx, const PathParams& p, const std::string& action) {
  const ReplicableSpec* spec = nullptr;
  for (const auto& s : ctx.specs) {
    if (s.name == p.at("name")) spec = &s;
  }
  if (spec == nullptr) return HttpResponse::Error(404, "NOT_FOUND", "no such replicable");
  framework::Selection sel;
  if (!absl::SimpleAtoi(p.at("id"), &sel.id) || sel.id <= 0) {
    return HttpResponse::Error(404, "NOT_FOUND", "bad id");
  }
  absl::StatusOr<int64_t> changed = int64_t{0};
  if (ctx.role->primary()) {
    if (action == "resync") {
      return HttpResponse::Error(400, "PRIMARY",
                                 "resync runs on a secondary; the primary has the data");
    }
    db::Connection* c = db::ThreadConnection(ctx.config.main_database);
    if (c == nullptr) return HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
    changed = framework::ReverifyPrimary(*c, *spec, sel);
  } else {
    db::Connection* c = db::ThreadConnection(ctx.config.tracking_database);
    if (c == nullptr)
      return HttpResponse::Error(503, "UNAVAILABLE", "tracking database unreachable");
    changed = action == "resync" ? framework::Resync(*c, *spec, sel)
                                 : framework::ReverifySecondary(*c, *spec, sel);
  }
  if (!changed.ok()) return HttpResponse::Error(500, "INTERNAL", changed.status().message());
  if (*changed == 0) {
    return HttpResponse::Error(
        404, "NOT_FOUND",
        absl::StrCat(spec->name, " ", sel.id, " has no row here that can be ", action, "ed"));
  }
  nlohmann::json j = {
      {"replicable", spec->name}, {"id", sel.id}, {"action", action}, {"queued", true}};
  return HttpResponse::Json(202, j.dump() + "\n");
}

}  // namespace

void AddSiteRoutes(Router& router, const SiteContext& ctx) {
  for (const char* action : {"resync", "reverify"}) {
    router.Add("POST", absl::StrCat("/api/v1/replicables/{name}/{id}/", action),
               [&ctx, action = std::string(action)](const HttpRequest& req, const PathParams& p) {
                 if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/true)) return *refused;
                 return Operate(ctx, p, action);
               });
  }
  router.Add("GET", "/api/v1/health", [&ctx](const HttpRequest&, const PathParams&) {
    const site::Site self = ctx.role->Get().self;
    HealthVerdict v = Health(ctx);
    nlohmann::json j = {{"status", v.healthy ? "ok" : "unhealthy"},
                        {"site", self.name},
                        {"role", self.Role()},
                        {"reasons", v.reasons},
                        {"notes", v.notes}};
    return HttpResponse::Json(v.healthy ? 200 : 503, j.dump() + "\n");
  });
  router.Add("GET", "/api/v1/status", [&ctx](const HttpRequest& req, const PathParams&) {
    if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/false)) return *refused;
    return HttpResponse::Json(200, StatusJson(ctx));
  });
  router.Add("GET", "/metrics", [&ctx](const HttpRequest& req, const PathParams&) {
    if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/false)) return *refused;
    UpdateMetrics(ctx, ctx.monitor->Latest());
    HttpResponse r = HttpResponse::Text(200, ctx.metrics->Render());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
}

}  // namespace georep::api
