// Who may do what on the sample forge: access tokens minted by an
// administrator (POST /api/v1/sample/tokens), each for one project (by its
// id: a path can later belong to another project) or all, to read or to
// write, each with an expiry, revocable (DELETE /api/v1/sample/tokens/ID);
// a public project is readable without one. Every write route (projects,
// snippets, blobs) needs a write token for what it changes, or the admin
// token. Tokens are rows of the main database, so a secondary checks them
// against its replica and clones keep working while the primary is down.
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

// A token's row, as a request presents it.
struct TokenRow {
  std::optional<int64_t> project_id;  // none: every project
  bool write = false;
};

// The live token of an Authorization header: Unauthenticated when none is
// given, it is unknown, or it has expired.
absl::StatusOr<TokenRow> FindToken(db::Connection& main, const std::string& authorization) {
  std::string token = BasicPassword(authorization);
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "an access token is required: HTTP Basic, any user name, the token as password");
  }
  auto row = main.Exec(
      "SELECT project_id, access, expires_at <= now(), expires_at::text "
      "FROM sample.access_tokens WHERE token_sha256 = $1",
      {Sha256Hex(token)});
  if (!row.ok()) return row.status();
  if (row->rows() == 0) return absl::UnauthenticatedError("unknown or revoked access token");
  if (row->GetBool(0, 2)) {
    return absl::UnauthenticatedError(absl::StrCat("the access token expired at ", row->Get(0, 3)));
  }
  TokenRow t;
  if (!row->IsNull(0, 0)) t.project_id = row->GetInt64(0, 0);
  t.write = row->Get(0, 1) == "write";
  return t;
}

// Whether a token for `token_project` reaches `project` (none: something
// only an every-project token reaches).
absl::Status Reaches(const TokenRow& t, std::optional<int64_t> project, absl::string_view what) {
  if (!t.project_id) return absl::OkStatus();
  if (project && *project == *t.project_id) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("the token is for project ", *t.project_id, ", not for ", what));
}

constexpr int64_t kDefaultTokenSeconds = 30 * 86400;
constexpr int64_t kMaxTokenSeconds = 366 * 86400;

api::HttpResponse NoDatabase() {
  return api::HttpResponse::Error(503, "UNAVAILABLE", "main database unreachable");
}

}  // namespace

std::string ProjectOf(absl::string_view repo) {
  absl::ConsumeSuffix(&repo, ".git");
  if (!absl::ConsumeSuffix(&repo, ".wiki")) absl::ConsumeSuffix(&repo, ".design");
  if (absl::StartsWith(repo, "@") || repo.find('/') == absl::string_view::npos) return "";
  return std::string(repo);
}

absl::Status InstallAccessSchema(db::Connection& main) {
  // project_id binds a token to a project, not to a path another project
  // may take later; tokens of older demos are bound to the project their
  // path names now (or dropped when none does) and expire a year after
  // they were made.
  return main.ExecScript(R"sql(
ALTER TABLE sample.projects ADD COLUMN IF NOT EXISTS public boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS sample.access_tokens (
  id bigserial PRIMARY KEY,
  token_sha256 text NOT NULL UNIQUE,
  scope text NOT NULL,
  access text NOT NULL CHECK (access IN ('read', 'write')),
  created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE sample.access_tokens
  ADD COLUMN IF NOT EXISTS project_id bigint REFERENCES sample.projects (id) ON DELETE CASCADE,
  ADD COLUMN IF NOT EXISTS expires_at timestamptz;
UPDATE sample.access_tokens t SET project_id = p.id FROM sample.projects p
  WHERE t.project_id IS NULL AND t.scope <> '*' AND p.path = t.scope;
DELETE FROM sample.access_tokens WHERE project_id IS NULL AND scope <> '*';
UPDATE sample.access_tokens SET expires_at = created_at + interval '1 year' WHERE expires_at IS NULL;
ALTER TABLE sample.access_tokens ALTER COLUMN expires_at SET NOT NULL;
)sql");
}

absl::StatusOr<MintedToken> MintToken(db::Connection& main, const std::string& scope,
                                      const std::string& access, int64_t lifetime_seconds) {
  if (access != "read" && access != "write") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"access\" must be \"read\" or \"write\", not \"", access, "\""));
  }
  if (lifetime_seconds < 1 || lifetime_seconds > kMaxTokenSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("\"expires_in_seconds\" must be 1 to ",
                                                   kMaxTokenSeconds, " (366 days), not ",
                                                   lifetime_seconds));
  }
  std::optional<std::string> project_id;
  if (scope != "*") {
    auto project = main.Exec("SELECT id FROM sample.projects WHERE path = $1", {scope});
    if (!project.ok()) return project.status();
    if (project->rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("\"scope\": no project \"", scope, "\" (or \"*\" for every project)"));
    }
    project_id = std::string(project->Get(0, 0));
  }
  MintedToken out;
  out.token = "georep_" + RandomHex(20);
  auto r = main.Exec(
      "INSERT INTO sample.access_tokens (token_sha256, scope, access, project_id, expires_at) "
      "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) "
      "RETURNING id, expires_at::text",
      {Sha256Hex(out.token), scope, access, project_id, absl::StrCat(lifetime_seconds)});
  if (!r.ok()) return r.status();
  out.id = r->GetInt64(0, 0);
  if (project_id) (void)absl::SimpleAtoi(*project_id, &out.project_id.emplace());
  out.expires_at = std::string(r->Get(0, 1));
  return out;
}

absl::Status CheckGitAccess(db::Connection& main, const std::string& authorization,
                            const std::string& repo, bool push) {
  const std::string project = ProjectOf(repo);
  std::optional<int64_t> project_id;
  if (!project.empty()) {
    auto row = main.Exec("SELECT id, public FROM sample.projects WHERE path = $1", {project});
    if (!row.ok()) return row.status();
    if (row->rows() > 0) {
      if (!push && row->GetBool(0, 1)) return absl::OkStatus();
      project_id = row->GetInt64(0, 0);
    }
  }
  auto token = FindToken(main, authorization);
  if (!token.ok()) return token.status();
  if (auto s = Reaches(*token, project_id, repo); !s.ok()) return s;
  if (push && !token->write) return absl::PermissionDeniedError("the token may read, not push");
  return absl::OkStatus();
}

std::optional<api::HttpResponse> RefuseWrite(const RouteContext& ctx, const api::HttpRequest& req,
                                             db::Connection& main,
                                             std::optional<int64_t> project_id) {
  std::string authorization = req.Header("authorization");
  if (absl::StartsWith(authorization, "Bearer ")) {
    return api::CheckAdmin(ctx.admin, req, /*mutating=*/true);
  }
  absl::Status s;
  auto token = FindToken(main, authorization);
  if (!token.ok()) {
    s = absl::IsUnauthenticated(token.status())
            ? absl::UnauthenticatedError(absl::StrCat(
                  token.status().message(),
                  "; a write needs an access token with write access (HTTP Basic) or the admin "
                  "token (Bearer)"))
            : token.status();
  } else if (!token->write) {
    s = absl::PermissionDeniedError("the token may read, not write");
  } else {
    s = Reaches(*token, project_id,
                project_id ? absl::StrCat("project ", *project_id)
                           : "what only a token for every project (\"*\") may write");
  }
  if (s.ok()) return std::nullopt;
  return api::HttpResponse::FromStatus(s);
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
        auto lifetime = j.is_object()
                            ? j.value("expires_in_seconds", nlohmann::json(kDefaultTokenSeconds))
                            : nlohmann::json();
        if (!j.is_object() || !j.value("scope", nlohmann::json()).is_string() ||
            !j.value("access", nlohmann::json()).is_string() || !lifetime.is_number_integer()) {
          return api::HttpResponse::Error(
              400, "BAD_REQUEST",
              R"(the body must be JSON {"scope": "group/name" or "*", "access": "read" or "write"} )"
              R"(and optionally "expires_in_seconds": N (default 30 days))");
        }
        db::Connection* c = db::ThreadConnection(ctx.main_conninfo);
        if (c == nullptr) return NoDatabase();
        auto token = MintToken(*c, j["scope"], j["access"], lifetime.get<int64_t>());
        if (!token.ok()) return api::HttpResponse::FromStatus(token.status());
        nlohmann::json out = {{"id", token->id},
                              {"token", token->token},
                              {"project_id", token->project_id ? nlohmann::json(*token->project_id)
                                                               : nlohmann::json()},
                              {"expires_at", token->expires_at}};
        return api::HttpResponse::Json(201, out.dump() + "\n");
      });
  router.Add(
      "GET", "/api/v1/sample/tokens", [&ctx](const api::HttpRequest& req, const api::PathParams&) {
        if (auto refused = api::CheckAdmin(ctx.admin, req, /*mutating=*/true)) return *refused;
        db::Connection* c = db::ThreadConnection(ctx.main_conninfo);
        if (c == nullptr) return NoDatabase();
        auto r = c->Exec(
            "SELECT t.id, t.project_id, p.path, t.access, t.created_at::text, t.expires_at::text, "
            "t.expires_at <= now() FROM sample.access_tokens t "
            "LEFT JOIN sample.projects p ON p.id = t.project_id ORDER BY t.id");
        if (!r.ok()) return api::HttpResponse::FromStatus(r.status());
        nlohmann::json list = nlohmann::json::array();
        for (int i = 0; i < r->rows(); ++i) {
          list.push_back(
              {{"id", r->GetInt64(i, 0)},
               {"project_id",
                r->IsNull(i, 1) ? nlohmann::json() : nlohmann::json(r->GetInt64(i, 1))},
               {"project_path",
                r->IsNull(i, 2) ? nlohmann::json() : nlohmann::json(std::string(r->Get(i, 2)))},
               {"access", std::string(r->Get(i, 3))},
               {"created_at", std::string(r->Get(i, 4))},
               {"expires_at", std::string(r->Get(i, 5))},
               {"expired", r->GetBool(i, 6)}});
        }
        return api::HttpResponse::Json(200, list.dump(2) + "\n");
      });
  router.Add(
      "DELETE", "/api/v1/sample/tokens/{id}",
      [&ctx](const api::HttpRequest& req, const api::PathParams& p) {
        if (auto refused = api::CheckAdmin(ctx.admin, req, /*mutating=*/true)) {
          return *refused;
        }
        auto ticket = ctx.role->BeginWrite();
        if (!ticket.ok()) return api::WriteRefused(ticket.status());
        int64_t id;
        if (!absl::SimpleAtoi(p.at("id"), &id))
          return api::HttpResponse::Error(404, "NOT_FOUND", "bad id");
        db::Connection* c = db::ThreadConnection(ctx.main_conninfo);
        if (c == nullptr) return NoDatabase();
        auto r = c->Exec("DELETE FROM sample.access_tokens WHERE id = $1", {absl::StrCat(id)});
        if (!r.ok()) return api::HttpResponse::FromStatus(r.status());
        if (r->affected_rows() == 0) {
          return api::HttpResponse::Error(404, "NOT_FOUND", absl::StrCat("no access token ", id));
        }
        return api::HttpResponse::Json(200, "{\"revoked\":true}\n");
      });
}

}  // namespace georep::sample
