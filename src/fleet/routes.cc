#include "fleet/routes.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/geo_routes.h"
#include "db/connection.h"
#include "fleet/reports.h"
#include "framework/registry/registry_store.h"
#include "framework/spec/states.h"
#include "nlohmann/json.hpp"
#include "site/sites.h"
#include "transport/geo_auth.h"
#include "util/sha256.h"

namespace georep::fleet {

// The API's own types and verdicts, which these routes are made of.
using api::CheckAdmin;
using api::FenceJson;
using api::FleetThresholds;
using api::Health;
using api::HealthVerdict;
using api::HoldsEventLog;
using api::HttpRequest;
using api::HttpResponse;
using api::JudgeReport;
using api::PathParams;
using api::Router;
using api::SiteContext;

namespace {

FleetThresholds Thresholds(const config::Config& c) {
  return {.report_stale_seconds = c.health_report_stale_seconds,
          .max_replay_lag_seconds = c.health_max_replay_lag_seconds,
          .max_failed_share = c.health_max_failed_share,
          .paused_is_healthy = c.health_paused_is_healthy,
          .prune_hold_seconds = c.prune_hold_seconds};
}

nlohmann::json VerdictJson(const HealthVerdict& v) {
  return {{"healthy", v.healthy}, {"reasons", v.reasons}, {"notes", v.notes}};
}

// The object of one site, as GET /api/v1/sites lists it.
nlohmann::json SiteObject(const SiteContext& ctx, const site::Site& s,
                          const std::vector<fleet::SiteReport>& reports) {
  const std::string current = ctx.role->Get().self.name;
  nlohmann::json j = {
      {"id", s.id},
      {"name", s.name},
      {"url", s.url},
      {"internal_url", s.internal_url.empty() ? nlohmann::json() : nlohmann::json(s.internal_url)},
      {"primary", s.primary},
      {"enabled", s.enabled},
      {"files_max_capacity", s.files_max_capacity},
      {"repos_max_capacity", s.repos_max_capacity},
      {"verification_max_capacity", s.verification_max_capacity},
      {"reverify_interval_seconds", s.reverify_interval_seconds
                                        ? nlohmann::json(*s.reverify_interval_seconds)
                                        : nlohmann::json()},
      {"selective_sync_type", SelectiveSyncKindName(s.selective_sync.kind)},
      {"selective_sync_namespaces", s.selective_sync.namespaces},
      {"selective_sync_shards", s.selective_sync.shards},
      {"disabled_replicables", s.disabled_replicables},
      {"current", s.name == current},
      // The fence of this site's database as replicated here: the primary's.
      {"database_fence", s.primary ? FenceJson(ctx.role->Get().fence) : nlohmann::json()},
      {"status", nullptr},
      {"report_age_seconds", nullptr},
      {"health", nullptr}};
  const fleet::SiteReport* report = nullptr;
  for (const auto& r : reports) {
    if (r.site == s.name) report = &r;
  }
  if (report != nullptr) {
    j["status"] = nlohmann::json::parse(report->report, nullptr, false);
    j["report_age_seconds"] = report->age_seconds;
  }
  if (s.primary) {
    if (s.name == current) j["health"] = VerdictJson(Health(ctx));
  } else {
    double age = report ? report->age_seconds : 0;
    j["health"] = VerdictJson(JudgeReport(j["status"], age, s.enabled, Thresholds(ctx.config)));
    j["holds_event_log"] =
        HoldsEventLog(j["status"], age, s.enabled, ctx.config.prune_hold_seconds);
  }
  return j;
}

struct Fleet {
  std::vector<site::Site> sites;
  std::vector<fleet::SiteReport> reports;
};

absl::StatusOr<Fleet> ReadFleet(db::Connection& c) {
  auto sites = site::ListSites(c);
  if (!sites.ok()) return sites.status();
  auto reports = fleet::ListReports(c);
  if (!reports.ok()) return reports.status();
  return Fleet{std::move(*sites), std::move(*reports)};
}

db::Connection* MainDb(const SiteContext& ctx) {
  return db::ThreadConnection(ctx.config.main_database);
}

HttpResponse NoMainDb() {
  return HttpResponse::Error(503, "UNAVAILABLE", "the main database is unreachable");
}

// Sites are changed on the primary (its database is the writable one).
std::optional<HttpResponse> RequirePrimary(const SiteContext& ctx) {
  const site::RoleState role = ctx.role->Get();
  if (role.self.primary) return std::nullopt;
  std::string where = role.primary ? absl::StrCat(": ", role.primary->name, " at ",
                                                  role.primary->url, "/api/v1/sites")
                                   : "";
  return HttpResponse::Error(409, "NOT_PRIMARY",
                             absl::StrCat("sites are changed on the primary", where));
}

HttpResponse ListAll(const SiteContext& ctx) {
  db::Connection* c = MainDb(ctx);
  if (c == nullptr) return NoMainDb();
  auto fleet = ReadFleet(*c);
  if (!fleet.ok()) return HttpResponse::FromStatus(fleet.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : fleet->sites) out.push_back(SiteObject(ctx, s, fleet->reports));
  return HttpResponse::Json(200, out.dump(2) + "\n");
}

HttpResponse One(const SiteContext& ctx, const std::string& name) {
  db::Connection* c = MainDb(ctx);
  if (c == nullptr) return NoMainDb();
  auto fleet = ReadFleet(*c);
  if (!fleet.ok()) return HttpResponse::FromStatus(fleet.status());
  for (const auto& s : fleet->sites) {
    if (s.name == name) return HttpResponse::Json(200, SiteObject(ctx, s, fleet->reports).dump(2));
  }
  return HttpResponse::Error(404, "NOT_FOUND", absl::StrCat("no site named \"", name, "\""));
}

// A field that must be an array of strings.
absl::StatusOr<std::vector<std::string>> Strings(const std::string& key,
                                                 const nlohmann::json& value) {
  std::vector<std::string> out;
  if (value.is_array()) {
    for (const auto& v : value) {
      if (!v.is_string()) break;
      out.push_back(v.get<std::string>());
    }
    if (out.size() == value.size()) return out;
  }
  return absl::InvalidArgumentError(absl::StrCat(key, ": expected an array of strings"));
}

// The fields of a PUT body; an unknown field or a wrong type is an error
// naming it.
absl::StatusOr<site::SiteChanges> ParseChanges(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  site::SiteChanges c;
  for (const auto& [key, value] : j.items()) {
    if (key == "enabled") {
      if (!value.is_boolean()) return absl::InvalidArgumentError("enabled: expected true or false");
      c.enabled = value.get<bool>();
    } else if (key == "files_max_capacity" || key == "repos_max_capacity" ||
               key == "verification_max_capacity") {
      if (!value.is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat(key, ": expected an integer"));
      }
      int64_t n = value.get<int64_t>();
      if (n < 1 || n > site::kMaxCapacity) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, ": ", n, " is not 1 to ", site::kMaxCapacity));
      }
      int v = static_cast<int>(n);
      if (key == "files_max_capacity") c.files_max_capacity = v;
      if (key == "repos_max_capacity") c.repos_max_capacity = v;
      if (key == "verification_max_capacity") c.verification_max_capacity = v;
    } else if (key == "reverify_interval_seconds") {
      if (value.is_null()) {
        c.clear_reverify_interval = true;
      } else if (value.is_number()) {
        c.reverify_interval_seconds = value.get<double>();
      } else {
        return absl::InvalidArgumentError(
            "reverify_interval_seconds: expected seconds, or null for the configuration's");
      }
    } else if (key == "selective_sync_type") {
      if (!value.is_string()) {
        return absl::InvalidArgumentError(
            "selective_sync_type: expected \"none\", \"namespaces\" or \"shards\"");
      }
      auto kind = site::ParseSelectiveSyncKind(value.get<std::string>());
      if (!kind.ok()) return kind.status();
      if (!c.selective_sync) c.selective_sync.emplace();
      c.selective_sync->kind = *kind;
    } else if (key == "disabled_replicables") {
      auto names = Strings(key, value);
      if (!names.ok()) return names.status();
      c.disabled_replicables = std::move(*names);
    } else if (key == "selective_sync_namespaces" || key == "selective_sync_shards") {
      auto names = Strings(key, value);
      if (!names.ok()) return names.status();
      if (!c.selective_sync) c.selective_sync.emplace();
      (key == "selective_sync_namespaces" ? c.selective_sync->namespaces
                                          : c.selective_sync->shards) = std::move(*names);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", key,
                       "\" (fields: enabled, files_max_capacity, repos_max_capacity, "
                       "verification_max_capacity, reverify_interval_seconds, "
                       "selective_sync_type, selective_sync_namespaces, selective_sync_shards, "
                       "disabled_replicables)"));
    }
  }
  // The three selective-sync fields replace the selection together; a list
  // without its type is a mistake, not a request for "none".
  if (c.selective_sync && !j.contains("selective_sync_type")) {
    return absl::InvalidArgumentError(
        "selective_sync_namespaces and selective_sync_shards need selective_sync_type");
  }
  return c;
}

HttpResponse Put(const SiteContext& ctx, const HttpRequest& req, const std::string& name) {
  if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/true)) return *refused;
  if (auto refused = RequirePrimary(ctx)) return *refused;
  auto changes = ParseChanges(req.body);
  if (!changes.ok()) return HttpResponse::FromStatus(changes.status());
  if (changes->disabled_replicables) {
    for (const auto& n : *changes->disabled_replicables) {
      bool known = std::any_of(ctx.specs.begin(), ctx.specs.end(),
                               [&](const ReplicableSpec& s) { return s.name == n; });
      if (!known) {
        return HttpResponse::Error(400, "BAD_REQUEST",
                                   absl::StrCat("disabled_replicables: no replicable \"", n,
                                                "\" (GET /api/v1/status "
                                                "lists them)"));
      }
    }
  }
  db::Connection* c = MainDb(ctx);
  if (c == nullptr) return NoMainDb();
  auto updated = site::UpdateSite(*c, name, *changes);
  if (!updated.ok()) return HttpResponse::FromStatus(updated.status());
  return One(ctx, name);
}

HttpResponse Add(const SiteContext& ctx, const HttpRequest& req) {
  if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/true)) return *refused;
  if (auto refused = RequirePrimary(ctx)) return *refused;
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (!j.is_object()) return HttpResponse::Error(400, "INVALID", "the body must be a JSON object");
  site::NewSite n;
  for (const auto& [key, value] : j.items()) {
    std::string* field = key == "name"           ? &n.name
                         : key == "url"          ? &n.url
                         : key == "internal_url" ? &n.internal_url
                                                 : nullptr;
    if (field == nullptr) {
      return HttpResponse::Error(
          400, "INVALID",
          absl::StrCat("unknown field \"", key, "\" (fields: name, url, internal_url)"));
    }
    if (!value.is_string()) {
      return HttpResponse::Error(400, "INVALID", absl::StrCat(key, ": expected a string"));
    }
    *field = value.get<std::string>();
  }
  db::Connection* c = MainDb(ctx);
  if (c == nullptr) return NoMainDb();
  auto added = site::AddSite(*c, n);
  if (!added.ok()) return HttpResponse::FromStatus(added.status());
  nlohmann::json out = SiteObject(ctx, *added, {});
  // Shown once: the new site's configuration needs them (auth.*).
  out["access_key"] = added->access_key;
  out["secret_access_key"] = added->secret_access_key;
  return HttpResponse::Json(201, out.dump(2) + "\n");
}

HttpResponse Remove(const SiteContext& ctx, const HttpRequest& req, const std::string& name) {
  if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/true)) return *refused;
  if (auto refused = RequirePrimary(ctx)) return *refused;
  db::Connection* c = MainDb(ctx);
  if (c == nullptr) return NoMainDb();
  auto s = site::FindSite(*c, name);
  if (!s.ok()) return HttpResponse::FromStatus(s.status());
  if (s->primary) {
    return HttpResponse::Error(409, "PRIMARY",
                               absl::StrCat("\"", name,
                                            "\" is the primary: promote another site "
                                            "before removing it"));
  }
  if (auto r = site::RemoveSite(*c, name); !r.ok()) return HttpResponse::FromStatus(r);
  return HttpResponse::Json(200, nlohmann::json({{"removed", name}}).dump() + "\n");
}

nlohmann::json RowJson(const framework::RegistryRow& r) {
  auto text = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  return {{"id", r.model_id},
          {"state", r.state},
          {"retry_count", r.retry_count},
          {"retry_at", text(r.retry_at)},
          {"last_synced_at", text(r.last_synced_at)},
          {"last_sync_failure", text(r.last_sync_failure)},
          {"missing_on_primary", r.missing_on_primary},
          {"local_path", text(r.local_path)},
          {"file_size", r.file_size ? nlohmann::json(*r.file_size) : nlohmann::json()},
          {"checksum", text(r.checksum)},
          {"verification_state", r.verification_state},
          {"verified_at", text(r.verified_at)},
          {"verification_failure", text(r.verification_failure)},
          {"verification_retry_count", r.verification_retry_count},
          {"created_at", text(r.created_at)}};
}

// GET /api/v1/replicables/NAME/registry
HttpResponse Registry(const SiteContext& ctx, const HttpRequest& req, const std::string& name) {
  if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/false)) return *refused;
  const ReplicableSpec* spec = nullptr;
  for (const auto& s : ctx.specs) {
    if (s.name == name) spec = &s;
  }
  if (spec == nullptr) {
    return HttpResponse::Error(404, "NOT_FOUND",
                               absl::StrCat("no replicable named \"", name, "\""));
  }
  if (ctx.role->primary()) {
    return HttpResponse::Error(
        409, "PRIMARY", "the primary keeps no registry: ask a secondary's /api/v1/replicables");
  }
  framework::RegistryFilter f;
  auto bad = [](const std::string& what) { return HttpResponse::Error(400, "INVALID", what); };
  if (std::string v = req.QueryParam("state"); !v.empty()) {
    f.state = framework::ParseSyncState(v);
    if (!f.state) return bad(absl::StrCat("state=", v, ": not pending, started, synced or failed"));
  }
  if (std::string v = req.QueryParam("verification"); !v.empty()) {
    f.verification = framework::ParseVerificationState(v);
    if (!f.verification) {
      return bad(absl::StrCat("verification=", v,
                              ": not pending, started, succeeded, failed or disabled"));
    }
  }
  auto number = [&](const char* key, int64_t lo, int64_t hi,
                    int64_t* out) -> std::optional<HttpResponse> {
    std::string v = req.QueryParam(key);
    if (v.empty()) return std::nullopt;
    if (!absl::SimpleAtoi(v, out) || *out < lo || *out > hi) {
      return bad(absl::StrCat(key, "=", v, ": not a number from ", lo, " to ", hi));
    }
    return std::nullopt;
  };
  int64_t id = 0, limit = f.limit;
  if (auto e = number("id", 1, INT64_MAX, &id)) return *e;
  if (id > 0) f.id = id;
  if (auto e = number("after", 0, INT64_MAX, &f.after)) return *e;
  if (auto e = number("limit", 1, framework::kMaxRegistryPage, &limit)) return *e;
  f.limit = static_cast<int>(limit);
  db::Connection* c = db::ThreadConnection(ctx.config.tracking_database);
  if (c == nullptr) {
    return HttpResponse::Error(503, "UNAVAILABLE", "the tracking database is unreachable");
  }
  auto rows = framework::ListRegistry(*c, *spec, f);
  if (!rows.ok()) return HttpResponse::FromStatus(rows.status());
  nlohmann::json items = nlohmann::json::array();
  for (const auto& r : *rows) items.push_back(RowJson(r));
  nlohmann::json out = {{"replicable", spec->name}, {"items", items}, {"next_after", nullptr}};
  // A full page may have more after it.
  if (static_cast<int>(rows->size()) == f.limit) out["next_after"] = rows->back().model_id;
  return HttpResponse::Json(200, out.dump(2) + "\n");
}

// POST /geo/status
HttpResponse StatusReport(const api::GeoRouteContext& ctx, const HttpRequest& req) {
  constexpr size_t kMaxReport = 1 << 20;
  if (req.body.size() > kMaxReport) {
    return api::GeoError(413, "TOO_LARGE",
                         absl::StrCat("a status report is at most ", kMaxReport, " bytes"));
  }
  site::Site who;
  if (auto refused = api::RefuseGeoRequest(
          *ctx.sites, req, transport::StatusReportRequestData(Sha256Hex(req.body)), &who))
    return *refused;
  auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object())
    return api::GeoError(400, "BAD_REQUEST", "the report must be a JSON object");
  // What the primary acts on for the fleet (event-log pruning) is checked
  // as strictly as a request.
  if (body.contains("cursor")) {
    const nlohmann::json& cursor = body["cursor"];
    const nlohmann::json need =
        cursor.is_object() ? cursor.value("oldest_needed_event_id", nlohmann::json()) : nullptr;
    if (!cursor.is_object() || !(need.is_null() || need.is_number_unsigned() ||
                                 (need.is_number_integer() && need.get<int64_t>() >= 0))) {
      return api::GeoError(400, "BAD_REQUEST",
                           "cursor.oldest_needed_event_id must be a whole number of 0 or more, "
                           "or null");
    }
  }
  db::Connection* conn = db::ThreadConnection(ctx.main_conninfo);
  if (conn == nullptr) return api::GeoError(503, "UNAVAILABLE", "main database unreachable");
  if (auto s = fleet::StoreReport(*conn, who.id, body.dump()); !s.ok())
    return api::GeoError(503, "UNAVAILABLE", s.message());
  return HttpResponse::Json(200, "{\"stored\":true}\n");
}

}  // namespace

void AddRoutes(api::Router& router, const api::SiteContext& ctx) {
  router.Add("GET", "/api/v1/sites", [&ctx](const HttpRequest& req, const PathParams&) {
    if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/false)) return *refused;
    return ListAll(ctx);
  });
  router.Add("POST", "/api/v1/sites",
             [&ctx](const HttpRequest& req, const PathParams&) { return Add(ctx, req); });
  router.Add("GET", "/api/v1/sites/{name}", [&ctx](const HttpRequest& req, const PathParams& p) {
    if (auto refused = CheckAdmin(ctx.admin, req, /*mutating=*/false)) return *refused;
    return One(ctx, p.at("name"));
  });
  router.Add("PUT", "/api/v1/sites/{name}", [&ctx](const HttpRequest& req, const PathParams& p) {
    return Put(ctx, req, p.at("name"));
  });
  router.Add("DELETE", "/api/v1/sites/{name}", [&ctx](const HttpRequest& req, const PathParams& p) {
    return Remove(ctx, req, p.at("name"));
  });
  router.Add("GET", "/api/v1/replicables/{name}/registry",
             [&ctx](const HttpRequest& req, const PathParams& p) {
               return Registry(ctx, req, p.at("name"));
             });
}

}  // namespace georep::fleet

namespace georep::fleet {

void AddStatusIntake(api::Router& router, const api::GeoRouteContext& ctx) {
  router.Add("POST", "/geo/status", [&ctx](const HttpRequest& req, const PathParams&) {
    if (!ctx.role->primary()) return api::GeoError(404, "NOT_FOUND", "not the primary");
    return StatusReport(ctx, req);
  });
}

}  // namespace georep::fleet
