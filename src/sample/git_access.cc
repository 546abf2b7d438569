// Who may use Git over HTTP on the sample forge: access tokens minted by an
// administrator (POST /api/v1/sample/tokens), each for one project or all
// ("*"), to read or to write; a public project is readable without one.
// Tokens are rows of the main database, so a secondary checks them against
// its replica and clones keep working while the primary is down.
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/admin_auth.h"
#include "api/write_gate.h"
#include "nlohmann/json.hpp"
#include "sample/sample.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep::sample {
namespace {

// The token of "Basic base64(user:token)" (any user name); "" if none.
std::string BasicPassword(const std::string& authorization) {
  absl::string_view v = absl::StripAsciiWhitespace(authorization);
  if (!absl::ConsumePrefix(&v, "Basic ") && !absl::ConsumePrefix(&v, "basic ")) return "";
  std::string decoded;
  if (!absl::Base64Unescape(absl::StripAsciiWhitespace(v), &decoded)) return "";
  size_t colon = decoded.find(':');
  return colon == std::string::npos ? "" : decoded.substr(colon + 1);
}

}  // namespace

std::string ProjectOf(absl::string_view repo) {
  absl::ConsumeSuffix(&repo, ".git");
  if (!absl::ConsumeSuffix(&repo, ".wiki")) absl::ConsumeSuffix(&repo, ".design");
  if (absl::StartsWith(repo, "@") || repo.find('/') == absl::string_view::npos) return "";
  return std::string(repo);
}

absl::Status InstallAccessSchema(db::Connection& main) {
  return main.ExecScript(R"sql(
ALTER TABLE sample.projects ADD COLUMN IF NOT EXISTS public boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS sample.access_tokens (
  id bigserial PRIMARY KEY,
  token_sha256 text NOT NULL UNIQUE,
  scope text NOT NULL,
  access text NOT NULL CHECK (access IN ('read', 'write')),
  created_at timestamptz NOT NULL DEFAULT now());
)sql");
}

absl::StatusOr<std::string> MintToken(db::Connection& main, const std::string& scope,
                                      const std::string& access) {
  if (access != "read" && access != "write") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"access\" must be \"read\" or \"write\", not \"", access, "\""));
  }
  if (scope != "*") {
    auto project = main.Exec("SELECT 1 FROM sample.projects WHERE path = $1", {scope});
    if (!project.ok()) return project.status();
    if (project->rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("\"scope\": no project \"", scope, "\" (or \"*\" for every project)"));
    }
  }
  std::string token = "georep_" + RandomHex(20);
  auto r = main.Exec(
      "INSERT INTO sample.access_tokens (token_sha256, scope, access) VALUES ($1, $2, $3)",
      {Sha256Hex(token), scope, access});
  if (!r.ok()) return r.status();
  return token;
}

absl::Status CheckGitAccess(db::Connection& main, const std::string& authorization,
                            const std::string& repo, bool push) {
  const std::string project = ProjectOf(repo);
  if (!push && !project.empty()) {
    auto pub = main.Exec("SELECT 1 FROM sample.projects WHERE path = $1 AND public", {project});
    if (!pub.ok()) return pub.status();
    if (pub->rows() > 0) return absl::OkStatus();
  }
  std::string token = BasicPassword(authorization);
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "an access token is required: HTTP Basic, any user name, the token as password");
  }
  auto row = main.Exec("SELECT scope, access FROM sample.access_tokens WHERE token_sha256 = $1",
                       {Sha256Hex(token)});
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return absl::UnauthenticatedError("unknown access token");
  std::string scope(row->Get(0, 0)), access(row->Get(0, 1));
  if (scope != "*" && scope != project) {
    return absl::PermissionDeniedError(
        absl::StrCat("the token is for \"", scope, "\", not for ", repo));
  }
  if (push && access != "write") {
    return absl::PermissionDeniedError("the token may read, not push");
  }
  return absl::OkStatus();
}

void AddTokenRoutes(api::Router& router, const RouteContext& ctx) {
  router.Add(
      "POST", "/api/v1/sample/tokens", [&ctx](const api::HttpRequest& req, const api::PathParams&) {
        if (auto refused = api::CheckAdmin(ctx.admin, req, /*mutating=*/true)) {
          return *refused;
        }
        auto ticket = ctx.role->BeginWrite();
        if (!ticket.ok()) return api::WriteRefused(ticket.status());
        auto j = nlohmann::json::parse(req.body, nullptr, false);
        if (!j.is_object() || !j.value("scope", nlohmann::json()).is_string() ||
            !j.value("access", nlohmann::json()).is_string()) {
          return api::HttpResponse::Error(
              400, "BAD_REQUEST",
              R"(the body must be JSON {"scope": "group/name" or "*", "access": "read" or "write"})");
        }
        db::Connection* c = db::ThreadConnection(ctx.main_conninfo);
        if (c == nullptr) {
          return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
        }
        auto token = MintToken(*c, j["scope"], j["access"]);
        if (!token.ok()) return api::HttpResponse::FromStatus(token.status());
        return api::HttpResponse::Json(201, nlohmann::json{{"token", *token}}.dump() + "\n");
      });
}

}  // namespace georep::sample
