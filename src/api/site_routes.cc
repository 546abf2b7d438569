#include "api/site_routes.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/registry/primary_states.h"
#include "framework/registry/registry_store.h"
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
    {"georep_db_reachable", "gauge", "1 if the main database answered the last sample"},
    {"georep_db_replication_lag_seconds", "gauge",
     "Secondary: seconds the main database standby is behind the primary (0 when caught up)"},
    {"georep_db_replication_streaming", "gauge",
     "Secondary: 1 while the standby streams WAL from the primary"},
    {"georep_db_replay_backlog_bytes", "gauge", "Secondary: WAL received but not yet replayed"},
    {"georep_replication_paused", "gauge",
     "Secondary: 1 while an operator has paused its replication (georep replication pause)"},
    {"georep_db_slot_retained_bytes", "gauge",
     "Primary: WAL kept for a replication slot, by slot name"},
    {"georep_db_slot_active", "gauge", "Primary: 1 while a standby streams through the slot"},
    {"georep_registry_items", "gauge",
     "Secondary: registry rows by replicable and sync state (pending, started, synced, failed, "
     "lost: lost in a failover, not fetched)"},
    {"georep_verification_items", "gauge",
     "Secondary: registry rows by replicable and verification state (pending, started, "
     "succeeded, failed, disabled: waiting for the primary's checksum)"},
    {"georep_checksum_items", "gauge",
     "Primary: items by replicable and checksum state (pending, started, succeeded, failed)"},
    {"georep_sync_duration_seconds",
     "histogram",
     "Secondary: time to sync one item, or one batch of blobs fetched in one request, by "
     "replicable",
     {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}},
    {"georep_replication_latency_seconds",
     "histogram",
     "Secondary: from an item's event on the primary to its verified copy here, by replicable "
     "(the two sites' database clocks, uncorrected)",
     {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}},
    {"georep_cursor_last_event_id", "gauge",
     "Secondary: the last event the log cursor applied (0 before it first runs)"},
    {"georep_cursor_events_behind", "gauge",
     "Secondary: events in the replayed log the cursor has not applied yet"},
    {"georep_cursor_seconds_behind", "gauge",
     "Secondary: age of the oldest event the cursor has not applied (0 when none)"},
    {"georep_event_log_oldest_id", "gauge", "Primary: the oldest event id the event log holds"},
    {"georep_event_log_newest_id", "gauge", "Primary: the newest event id the event log holds"},
    {"georep_event_log_pruned_below", "gauge",
     "Primary: the event log is pruned below this id (0: never pruned)"},
    {"georep_event_log_pruned_total", "counter", "Primary: events pruned from the log"},
    {"georep_cursor_fallbacks_total", "counter",
     "Secondary: times the log cursor found events it needed pruned and fell back to a backfill"},
    {"georep_retrieve_requests_total", "counter",
     "Primary: blob retrieve requests from secondaries, by replicable and HTTP status"},
    {"georep_retrieve_blobs_total", "counter",
     "Primary: blobs answered to secondaries (one a request, or many in a batch), by replicable "
     "and status"},
    {"georep_git_http_requests_total", "counter",
     "Git smart HTTP requests, by service, route (user or geo) and HTTP status"},
    {"georep_lfs_actions_total", "counter",
     "Git LFS batch answers: transfer actions handed out, by operation and where they send the "
     "client (here, or the primary for objects not current here)"},
    {"georep_git_processes_total", "counter",
     "git processes this daemon started (fetches, clones, http-backend)"},
    {"georep_loop_errors_total", "counter",
     "Failed rounds of each background loop (log cursor, scheduler, verifier, ...), by loop"},
};

int64_t At(const framework::Counts& counts, const std::string& key, int state);

// The labelled count series of every replicable, from the maintained counts.
void SetCounts(MetricsRegistry& m, const std::vector<ReplicableSpec>& specs, bool primary,
               const framework::Counts& counts) {
  for (const char* name :
       {"georep_registry_items", "georep_verification_items", "georep_checksum_items"}) {
    m.Clear(name);
  }
  for (const auto& spec : specs) {
    if (primary) {
      for (int state : {framework::kVerificationPending, framework::kVerificationStarted,
                        framework::kVerificationSucceeded, framework::kVerificationFailed}) {
        m.Set("georep_checksum_items",
              {{"replicable", spec.name}, {"state", framework::VerificationShortName(state)}},
              static_cast<double>(At(counts, spec.name, state)));
      }
      continue;
    }
    for (int state = 0; state <= static_cast<int>(framework::SyncState::kLost); ++state) {
      m.Set("georep_registry_items",
            {{"replicable", spec.name}, {"state", framework::SyncStateName(state)}},
            static_cast<double>(At(counts, spec.name, state)));
    }
    for (int state : {framework::kVerificationPending, framework::kVerificationStarted,
                      framework::kVerificationSucceeded, framework::kVerificationFailed,
                      framework::kVerificationDisabled}) {
      m.Set("georep_verification_items",
            {{"replicable", spec.name}, {"state", framework::VerificationShortName(state)}},
            static_cast<double>(At(counts, spec.name + ":verification", state)));
    }
  }
}

void UpdateMetrics(const SiteContext& ctx, const site::ReplicationSnapshot& snap) {
  const site::Site self = ctx.role->Get().self;
  MetricsRegistry& m = *ctx.metrics;
  m.Set("georep_git_processes_total", {}, static_cast<double>(git::GitProcessesStarted()));
  if (ctx.registry_counts) {
    auto counts = ctx.registry_counts(self.primary);
    if (counts.ok()) SetCounts(m, ctx.specs, self.primary, *counts);
  }
  for (const auto& [loop, errors] : LoopErrorCounts()) {
    m.Set("georep_loop_errors_total", {{"loop", loop}}, static_cast<double>(errors));
  }
  m.Set("georep_up", {}, 1);
  m.Clear("georep_site_info");
  m.Set("georep_site_info", {{"site", self.name}, {"role", std::string(self.Role())}}, 1);
  m.Set("georep_uptime_seconds", {}, WallSeconds() - ctx.started_at);
  m.Set("georep_db_reachable", {}, snap.database_reachable ? 1 : 0);
  if (!self.primary) {
    m.Set("georep_db_replication_lag_seconds", {}, snap.replay_lag_seconds);
    m.Set("georep_db_replication_streaming", {}, snap.streaming ? 1 : 0);
    m.Set("georep_db_replay_backlog_bytes", {}, static_cast<double>(snap.replay_backlog_bytes));
    m.Set("georep_replication_paused", {}, ctx.paused && ctx.paused() ? 1 : 0);
    if (ctx.event_backlog) {
      auto b = ctx.event_backlog();
      if (b.ok()) {
        m.Set("georep_cursor_last_event_id", {}, static_cast<double>(b->cursor));
        m.Set("georep_cursor_events_behind", {}, static_cast<double>(b->not_applied));
        m.Set("georep_cursor_seconds_behind", {}, b->oldest_unapplied_seconds);
        m.Set("georep_cursor_fallbacks_total", {}, static_cast<double>(b->fallbacks));
      }
    }
  } else {
    m.Clear("georep_db_slot_retained_bytes");
    m.Clear("georep_db_slot_active");
    for (const auto& s : snap.standbys) {
      m.Set("georep_db_slot_retained_bytes", {{"slot", s.slot_name}},
            static_cast<double>(s.retained_bytes));
      m.Set("georep_db_slot_active", {{"slot", s.slot_name}}, s.active ? 1 : 0);
    }
    if (ctx.event_log_span) {
      auto span = ctx.event_log_span();
      if (span.ok()) {
        m.Set("georep_event_log_oldest_id", {}, static_cast<double>(span->oldest));
        m.Set("georep_event_log_newest_id", {}, static_cast<double>(span->newest));
        m.Set("georep_event_log_pruned_below", {}, static_cast<double>(span->pruned_below));
        m.Set("georep_event_log_pruned_total", {}, static_cast<double>(span->events_pruned));
      }
    }
  }
}

}  // namespace

std::vector<MetricDef> SiteMetricDefs() {
  return std::vector<MetricDef>(std::begin(kMetrics), std::end(kMetrics));
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
  for (int state = 0; state <= static_cast<int>(framework::SyncState::kLost); ++state) {
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

nlohmann::json FenceJson(const std::optional<site::Fence>& fence) {
  if (!fence) return nullptr;
  return {{"since", fence->since}, {"reason", fence->reason}, {"raised_by", fence->raised_by}};
}

HealthVerdict Health(const SiteContext& ctx) {
  const site::RoleState role = ctx.role->Get();
  site::ReplicationSnapshot snap = ctx.monitor->Latest();
  HealthInputs in{.primary = role.self.primary,
                  .maintenance = role.maintenance,
                  .fenced_since = role.fence ? role.fence->since : "",
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
  // A type this site does not replicate says so and is not counted.
  const std::vector<std::string> disabled =
      config::DisabledReplicables(ctx.config, self.disabled_replicables);
  auto is_disabled = [&](const std::string& name) {
    return std::find(disabled.begin(), disabled.end(), name) != disabled.end();
  };
  absl::StatusOr<framework::Counts> counts = absl::UnavailableError("no counts");
  if (ctx.registry_counts) counts = ctx.registry_counts(self.primary);
  for (const auto& spec : ctx.specs) {
    nlohmann::json r = {{"name", spec.name}, {"title", spec.title}};
    if (is_disabled(spec.name)) {
      r["disabled"] = true;
    } else if (counts.ok()) {
      r.update(ReplicableCounts(self.primary, *counts, spec.name));
    }
    replicables.push_back(r);
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
    // What this secondary holds: its counts are of that, not of everything.
    j["selective_sync"] = {{"type", SelectiveSyncKindName(self.selective_sync.kind)},
                           {"namespaces", self.selective_sync.namespaces},
                           {"shards", self.selective_sync.shards}};
    j["cursor"] = nullptr;
    if (ctx.event_backlog) {
      auto b = ctx.event_backlog();
      if (b.ok()) {
        j["cursor"] = {{"started", b->started},
                       {"last_event_id", b->cursor},
                       {"newest_event_id", b->last_event},
                       {"events_behind", b->not_applied},
                       {"seconds_behind", b->oldest_unapplied_seconds},
                       {"oldest_needed_event_id",
                        b->started ? nlohmann::json(b->oldest_needed) : nlohmann::json()},
                       {"log_pruned_below", b->pruned_below},
                       {"needs_pruned_events", b->needs_pruned_events},
                       {"fallbacks", b->fallbacks}};
      }
    }
    j["paused"] = ctx.paused && ctx.paused();
    std::string detached = ctx.detached_for ? ctx.detached_for() : "";
    j["detached_for"] = detached.empty() ? nlohmann::json() : nlohmann::json(detached);
  }
  HealthVerdict health = Health(ctx);
  j["health"] = {{"healthy", health.healthy}, {"reasons", health.reasons}, {"notes", health.notes}};
  if (self.primary) {
    j["event_log"] = nullptr;
    if (ctx.event_log_span) {
      auto span = ctx.event_log_span();
      if (span.ok()) {
        j["event_log"] = {{"oldest_id", span->oldest},
                          {"newest_id", span->newest},
                          {"pruned_below", span->pruned_below},
                          {"events_pruned", span->events_pruned},
                          {"pruned_seconds_ago", span->pruned_seconds_ago < 0
                                                     ? nlohmann::json()
                                                     : nlohmann::json(span->pruned_seconds_ago)}};
      }
    }
    j["maintenance"] = role.maintenance;
    j["writes_in_flight"] = ctx.role->writes_in_flight();
  }
  // On a secondary too: the primary's fence, replicated, during a promotion.
  j["fence"] = FenceJson(role.fence);
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
