#include "failover/routes.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/connection.h"
#include "nlohmann/json.hpp"
#include "site/fence.h"
#include "site/role.h"
#include "site/upstream.h"
#include "transport/geo_auth.h"
#include "util/logging.h"
#include "util/mutex.h"

namespace georep::failover {

using api::GeoError;
using api::GeoRouteContext;
using api::HttpRequest;
using api::HttpResponse;
using api::PathParams;
using api::RefuseGeoRequest;

namespace {

// POST /geo/maintenance
HttpResponse Maintenance(const GeoRouteContext& ctx, const HttpRequest& req) {
  auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.value("enabled", nlohmann::json()).is_boolean() ||
      !body.value("reason", nlohmann::json()).is_string()) {
    return GeoError(400, "BAD_REQUEST",
                    R"(the body must be JSON {"enabled": bool, "reason": text})");
  }
  bool enabled = body["enabled"];
  std::string reason = body["reason"];
  site::Site who;
  if (auto refused = RefuseGeoRequest(*ctx.sites, req,
                                      transport::MaintenanceRequestData(enabled, reason), &who))
    return *refused;
  // One at a time: a promotion that gave up waiting for an answer sends
  // "off" while its "on" may still be raising the fence; the "off" then
  // comes after it, and finds the fence to lift.
  static Mutex serial;
  MutexLock lock(&serial);
  db::Connection* conn = db::ThreadConnection(ctx.main_conninfo);
  if (conn == nullptr) return GeoError(503, "UNAVAILABLE", "main database unreachable");
  if (!enabled) {
    // Only the site whose promotion raised the fence may lift it, when its
    // promotion is abandoned; a fence raised for another site's promotion
    // (which may have gone through) or by an operator stays.
    auto fence = site::ReadFence(*conn);
    if (!fence.ok()) return GeoError(503, "UNAVAILABLE", fence.status().message());
    if (fence->has_value() && (*fence)->raised_by != who.name) {
      return GeoError(
          403, "FORBIDDEN",
          absl::StrCat("the database fence was raised by \"", (*fence)->raised_by, "\" (",
                       (*fence)->reason, "); site \"", who.name, "\" may not lift it"));
    }
    // The promotion was abandoned: the fence comes down with the gate.
    auto lifted = site::LiftFence(*conn);
    if (!lifted.ok()) return GeoError(503, "UNAVAILABLE", lifted.status().message());
    if (*lifted) log::Warn("database fence lifted: the promotion was abandoned", {});
  }
  if (auto s = site::SetMaintenance(*conn, enabled, reason); !s.ok())
    return GeoError(503, "UNAVAILABLE", s.message());
  // The gate closes now, not at the watcher's next read.
  site::RoleState role = ctx.role->Get();
  if (enabled && !role.maintenance) {
    // A checkpoint now, before the promotion point, lets this site be
    // re-attached later by pg_rewind from WAL it still has (its last
    // common checkpoint with the new primary is then this one).
    if (auto c = conn->Exec("CHECKPOINT"); !c.ok()) {
      log::Warn(
          "CHECKPOINT at the start of maintenance mode failed: a later `georep demote` "
          "may need a new copy instead of a rewind",
          {{"error", std::string(c.status().message())}});
    }
  }
  role.maintenance = enabled;
  role.maintenance_reason = enabled ? reason : "";
  if (!enabled) role.fence.reset();
  ctx.role->Set(role);
  nlohmann::json fence;
  if (enabled) {
    // The application's own sessions are stopped at the database before the
    // position is read: every commit it was told of is below that position.
    auto fenced = site::RaiseFence(ctx.main_conninfo, reason, who.name);
    if (!fenced.ok()) {
      log::Error("database fence failed", {{"error", std::string(fenced.status().message())}});
      return GeoError(409, "FENCE_FAILED", fenced.status().message());
    }
    if (!fenced->already_up) {
      log::Warn("maintenance mode on and database fenced: writes refused",
                {{"reason", reason},
                 {"roles_fenced", absl::StrJoin(fenced->roles_fenced, ",")},
                 {"sessions_ended", absl::StrCat(fenced->sessions_ended)}});
    }
    if (auto up = site::ReadFence(*conn); up.ok()) {
      role.fence = *up;
      ctx.role->Set(role);
    }
    fence = {{"roles_fenced", fenced->roles_fenced},
             {"sessions_ended", fenced->sessions_ended},
             {"superuser_roles", fenced->superuser_roles}};
  }
  int64_t in_flight = ctx.role->writes_in_flight();
  // The insert position: a commit acknowledged with synchronous_commit off
  // may be inserted but not yet written, above pg_current_wal_lsn().
  auto lsn = conn->Exec("SELECT pg_current_wal_insert_lsn()::text");
  if (!lsn.ok()) return GeoError(503, "UNAVAILABLE", lsn.status().message());
  nlohmann::json j = {{"maintenance", enabled},
                      {"writes_in_flight", in_flight},
                      {"current_lsn", std::string(lsn->Get(0, 0))},
                      {"fence", fence}};
  return HttpResponse::Json(200, j.dump() + "\n");
}

// POST /geo/handover
HttpResponse Handover(const GeoRouteContext& ctx, const HttpRequest& req) {
  auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.value("action", nlohmann::json()).is_string() ||
      !body.value("new_primary", nlohmann::json()).is_string() ||
      (body["action"] != "detach" && body["action"] != "reattach")) {
    return GeoError(
        400, "BAD_REQUEST",
        R"(the body must be JSON {"action": "detach"|"reattach", "new_primary": name})");
  }
  std::string action = body["action"];
  std::string new_primary = body["new_primary"];
  site::Site who;
  if (auto refused = RefuseGeoRequest(*ctx.sites, req,
                                      transport::HandoverRequestData(action, new_primary), &who))
    return *refused;
  if (who.name != new_primary) {
    return GeoError(403, "FORBIDDEN",
                    absl::StrCat("site \"", who.name, "\" may not hand over to \"", new_primary,
                                 "\", only to itself"));
  }
  db::Connection* standby = db::ThreadConnection(ctx.main_conninfo);
  db::Connection* tracking = db::ThreadConnection(ctx.tracking_conninfo);
  if (standby == nullptr || tracking == nullptr)
    return GeoError(503, "UNAVAILABLE", "database unreachable");
  nlohmann::json j = {{"action", action}};
  if (action == "detach") {
    auto reached = site::DetachUpstream(*standby, *tracking, new_primary, 10);
    if (!reached.ok()) return GeoError(503, "UNAVAILABLE", reached.status().message());
    log::Warn("standby detached from the old primary for a promotion",
              {{"new_primary", new_primary}, {"received_lsn", site::FormatLsn(*reached)}});
    j["received_lsn"] = site::FormatLsn(*reached);
  } else {
    if (auto s = site::ReattachUpstream(*standby, *tracking); !s.ok())
      return GeoError(503, "UNAVAILABLE", s.message());
    log::Warn("standby reattached to its upstream: the promotion was abandoned",
              {{"new_primary", new_primary}});
  }
  return HttpResponse::Json(200, j.dump() + "\n");
}

}  // namespace

void AddFailoverRoutes(api::Router& router, const GeoRouteContext& ctx) {
  router.Add("POST", "/geo/handover", [&ctx](const HttpRequest& req, const PathParams&) {
    if (ctx.role->primary() || ctx.tracking_conninfo.empty())
      return GeoError(404, "NOT_FOUND", "not a secondary");
    return Handover(ctx, req);
  });
  router.Add("POST", "/geo/maintenance", [&ctx](const HttpRequest& req, const PathParams&) {
    if (!ctx.role->primary()) return GeoError(404, "NOT_FOUND", "not the primary");
    return Maintenance(ctx, req);
  });
}

}  // namespace georep::failover
