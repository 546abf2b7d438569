#include "api/geo_routes.h"

#include <sys/stat.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "db/connection.h"
#include "framework/spec.h"
#include "nlohmann/json.hpp"
#include "transport/geo_auth.h"
#include "util/logging.h"

namespace georep::api {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

HttpResponse GeoError(int status, absl::string_view code, absl::string_view message) {
  nlohmann::json j = {{"error", std::string(message)}, {"geo_code", std::string(code)}};
  return HttpResponse::Json(status, j.dump() + "\n");
}

SiteDirectory::SiteDirectory(std::string main_conninfo, double ttl_seconds)
    : conninfo_(std::move(main_conninfo)), ttl_seconds_(ttl_seconds) {}

absl::Status SiteDirectory::Refresh() {
  db::Connection* conn = db::ThreadConnection(conninfo_);
  if (conn == nullptr) return absl::UnavailableError("main database unreachable");
  auto list = site::ListSites(*conn);
  if (!list.ok()) return list.status();
  std::map<std::string, site::Site> fresh;
  for (auto& s : *list) {
    auto full = site::FindSite(*conn, s.name, /*with_secret=*/true);
    if (full.ok()) fresh[full->access_key] = *full;
  }
  by_key_ = std::move(fresh);
  loaded_at_ = Now();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<site::Site>> SiteDirectory::ByAccessKey(
    const std::string& access_key) {
  std::lock_guard lock(mu_);
  if (Now() - loaded_at_ > ttl_seconds_) {
    if (auto s = Refresh(); !s.ok()) return s;
  }
  auto it = by_key_.find(access_key);
  if (it == by_key_.end()) return std::optional<site::Site>();
  return std::optional<site::Site>(it->second);
}

namespace {

HttpResponse Retrieve(const GeoRouteContext& ctx, const HttpRequest& req, const PathParams& p) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(p.at("id"), &id) || id <= 0) return GeoError(404, "NOT_FOUND", "bad id");
  if (auto refused =
          RefuseGeoRequest(*ctx.sites, req, transport::BlobRequestData(p.at("replicable"), id)))
    return *refused;
  const ReplicableSpec* spec = nullptr;
  for (const auto& s : ctx.specs) {
    if (s.name == p.at("replicable") && s.strategy == Strategy::kBlob) spec = &s;
  }
  if (spec == nullptr) return GeoError(404, "UNKNOWN_REPLICABLE", "no such replicable");

  db::Connection* conn = db::ThreadConnection(ctx.main_conninfo);
  if (conn == nullptr) return GeoError(503, "UNAVAILABLE", "main database unreachable");
  auto row = conn->Exec(absl::StrCat("SELECT ", framework::PathSql(*spec, "m"), " FROM ",
                                     framework::QuotedTable(*spec), " m WHERE m.",
                                     framework::QuotedIdColumn(*spec), " = $1"),
                        {absl::StrCat(id)});
  if (!row.ok()) return GeoError(503, "UNAVAILABLE", "main database query failed");
  if (row->rows() == 0 || row->IsNull(0, 0))
    return GeoError(404, "FILE_NOT_FOUND", "no such record");
  auto path = framework::ConfinedPath(ctx.storage_root, row->Get(0, 0));
  if (!path.ok()) {
    log::Warn(
        "refused row path",
        {{"replicable", spec->name}, {"id", id}, {"error", std::string(path.status().message())}});
    return GeoError(403, "PATH_REFUSED", "the record's path is outside the storage root");
  }
  struct stat st;
  if (stat(path->c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return GeoError(404, "FILE_NOT_FOUND", "file not found");
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.file_path = *path;
  return r;
}

}  // namespace

std::optional<HttpResponse> RefuseGeoRequest(SiteDirectory& sites, const HttpRequest& req,
                                             const std::string& data) {
  // Who is asking.
  auto creds = transport::ParseGeoAuthorization(req.Header("authorization"));
  if (!creds.ok()) return GeoError(401, "UNAUTHORIZED", creds.status().message());
  auto site = sites.ByAccessKey(creds->access_key);
  if (!site.ok()) return GeoError(503, "UNAVAILABLE", "site directory unavailable");
  if (!site->has_value()) return GeoError(401, "UNAUTHORIZED", "unknown access key");
  const site::Site& who = **site;
  if (!who.enabled) return GeoError(403, "SITE_DISABLED", "site is disabled");
  if (who.primary) return GeoError(403, "FORBIDDEN", "the primary does not replicate from itself");
  // What is asked for, exactly as the token says.
  int64_t now = static_cast<int64_t>(Now());
  if (auto s = transport::VerifyGeoToken(creds->token, who.secret_access_key, data, now); !s.ok()) {
    int status = s.code() == absl::StatusCode::kPermissionDenied ? 403 : 401;
    log::Warn("refused geo request",
              {{"site", who.name}, {"path", req.path}, {"error", std::string(s.message())}});
    return GeoError(status, status == 403 ? "FORBIDDEN" : "UNAUTHORIZED", s.message());
  }
  return std::nullopt;
}

void AddGeoRoutes(Router& router, const GeoRouteContext& ctx) {
  router.Add("GET", "/geo/retrieve/{replicable}/{id}",
             [&ctx](const HttpRequest& req, const PathParams& p) {
               HttpResponse r = Retrieve(ctx, req, p);
               if (ctx.metrics) {
                 ctx.metrics->Add(
                     "geo_retrieve_requests_total",
                     {{"replicable", p.at("replicable")}, {"status", absl::StrCat(r.status)}}, 1);
               }
               return r;
             });
}

}  // namespace georep::api
