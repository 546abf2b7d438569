#include "api/git_routes.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/router.h"
#include "api/write_gate.h"
#include "db/connection.h"
#include "framework/spec/spec.h"
#include "framework/sync/repository/repository_sync.h"
#include "git/http_backend.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/logging.h"

namespace georep::api {
namespace {

constexpr absl::string_view kGeoPrefix = "/geo/git/";

struct GitPath {
  bool geo = false;
  std::string repo;     // "group/project.git"
  std::string suffix;   // "/info/refs", "/git-upload-pack", "/git-receive-pack"
  std::string service;  // "git-upload-pack" or "git-receive-pack"
};

std::optional<GitPath> ParseGitPath(const HttpRequest& req) {
  GitPath out;
  absl::string_view path = req.path;
  if (absl::StartsWith(path, kGeoPrefix)) {
    out.geo = true;
    path.remove_prefix(kGeoPrefix.size() - 1);
  }
  if (!absl::StartsWith(path, "/")) return std::nullopt;
  for (absl::string_view suffix : {"/info/refs", "/git-upload-pack", "/git-receive-pack"}) {
    if (!absl::EndsWith(path, suffix)) continue;
    absl::string_view repo = path.substr(1, path.size() - suffix.size() - 1);
    if (!PlainRepoPath(repo)) return std::nullopt;
    out.repo = std::string(repo);
    out.suffix = std::string(suffix);
    out.service =
        suffix == "/info/refs" ? req.QueryParam("service") : std::string(suffix.substr(1));
    return out;
  }
  return std::nullopt;
}

// To the same repository and service on the primary, built from the
// configured primary URL and the checked path, never from the raw target.
std::string PrimaryTarget(const std::string& primary_url, const GitPath& gp) {
  std::string to = absl::StrCat(primary_url, "/", gp.repo, gp.suffix);
  if (gp.suffix == "/info/refs") absl::StrAppend(&to, "?service=", gp.service);
  return to;
}

// The first pkt-line of a receive-pack request asks for side-band-64k: an
// error can then be told to the user on band 3.
bool WantsSideBand(absl::string_view body) {
  int n = 0;
  if (body.size() < 4 || !absl::SimpleHexAtoi(body.substr(0, 4), &n) || n < 4 ||
      static_cast<size_t>(n) > body.size())
    return false;
  return absl::StrContains(body.substr(4, static_cast<size_t>(n) - 4), "side-band");
}

// The request's body, and what keeps it alive after the handler returns
// (the git process or the primary reads it from another thread).
std::pair<absl::string_view, std::shared_ptr<const void>> KeepBody(const HttpRequest& req) {
  if (req.spooled) return {req.spooled->view(), req.spooled};
  auto copy = std::make_shared<const std::string>(req.body);
  return {*copy, copy};
}

// A request a secondary cannot serve itself (a push; a read of a copy not
// yet current), sent on to the primary with the user's own credentials:
// git does not send them to another host after a redirect. The primary
// decides. Its answer to the advertisement (a 401 with its challenge
// included) comes back as it is; the answer to a POST (a pack, a push's
// report) is relayed as it arrives from a thread of its own, so a long
// transfer holds no I/O thread.
HttpResponse ProxyToPrimary(const HttpRequest& req, const GitPath& gp, const std::string& to) {
  auto [body, body_owner] = KeepBody(req);
  transport::RequestOptions o{.method = req.method};
  o.body_view = body;
  for (const auto& [lower, name] :
       std::vector<std::pair<std::string, std::string>>{{"authorization", "Authorization"},
                                                        {"content-type", "Content-Type"},
                                                        {"content-encoding", "Content-Encoding"},
                                                        {"accept", "Accept"},
                                                        {"git-protocol", "Git-Protocol"},
                                                        {"user-agent", "User-Agent"}}) {
    std::string v = req.Header(lower);
    if (!v.empty()) o.headers.push_back(absl::StrCat(name, ": ", v));
  }
  o.headers.push_back("Expect:");
  HttpResponse out;
  out.headers.emplace_back("Cache-Control", "no-cache, max-age=0, must-revalidate");
  if (req.method == "GET") {
    o.timeout_seconds = 60;
    auto r = transport::HttpRequest(to, o);
    if (!r.ok()) {
      return HttpResponse::Error(
          502, "PRIMARY_UNREACHABLE",
          absl::StrCat("the primary, which serves this request, is unreachable: ",
                       r.status().message()));
    }
    out.status = static_cast<int>(r->status);
    out.content_type = r->content_type;
    out.body = std::move(r->body);
    if (!r->www_authenticate.empty())
      out.headers.emplace_back("WWW-Authenticate", r->www_authenticate);
    return out;
  }
  o.timeout_seconds = 3600;
  const bool side_band = gp.service == "git-receive-pack" && WantsSideBand(body);
  out.content_type = absl::StrCat("application/x-", gp.service, "-result");
  out.stream = [o = std::move(o), owner = body_owner, to,
                side_band](const HttpResponse::Writer& write) mutable {
    bool started = false;
    o.on_body = [&](absl::string_view piece) {
      started = true;
      return write(piece);
    };
    auto r = transport::HttpRequest(to, o);
    if (r.ok() && r->status / 100 == 2) return;
    std::string why = r.ok() ? absl::StrCat("the primary answered HTTP ", r->status)
                             : absl::StrCat("the primary: ", r.status().message());
    log::Warn("a Git request sent on to the primary failed", {{"to", to}, {"error", why}});
    // Once bytes have gone, or without a side band, only a cut says so.
    if (started || !side_band) throw std::runtime_error(why);
    std::string message = absl::StrCat("\x03", "georep: ", why, "\n");
    write(absl::StrCat(absl::Hex(message.size() + 4, absl::kZeroPad4), message, "0000"));
  };
  return out;
}

HttpResponse Serve(const GitRouteContext& ctx, const HttpRequest& req, const GitPath& gp,
                   const ReplicableSpec* spec, int64_t id, bool primary) {
  // The folder is opened once, beneath the root and through no link; git
  // is started in it, so what is served is what was checked.
  auto dir = OpenFolderBeneath(ctx.repository_root, gp.repo);
  if (dir.status().code() == absl::StatusCode::kNotFound)
    return HttpResponse::Error(404, "REPOSITORY_NOT_FOUND", "the repository has no folder here");
  if (!dir.ok()) return HttpResponse::Error(403, "PATH_REFUSED", dir.status().message());
  ScopedFd folder(*dir);
  bool push = gp.service == "git-receive-pack";
  // A push is a write: refused in maintenance mode, and counted in flight
  // until git has finished, so a planned promotion waits for it.
  std::shared_ptr<site::LiveRole::WriteTicket> ticket;
  if (push && primary) {
    auto t = ctx.role->BeginWrite();
    if (!t.ok()) return WriteRefused(t.status());
    ticket = std::make_shared<site::LiveRole::WriteTicket>(std::move(*t));
  }
  git::CgiRequest cgi{req.method,
                      gp.suffix,
                      req.query,
                      req.Header("content-type"),
                      req.Header("content-encoding"),
                      req.Header("git-protocol"),
                      req.remote_address,
                      /*allow_push=*/push && primary,
                      {}};
  std::tie(cgi.body, cgi.body_owner) = KeepBody(req);
  auto backend = git::RunHttpBackend(folder.get(), cgi);
  if (!backend.ok()) {
    log::Error("git http-backend", {{"error", std::string(backend.status().message())}});
    return HttpResponse::Error(500, "GIT_FAILED", "git http-backend failed");
  }
  HttpResponse r;
  r.status = (*backend)->status;
  r.content_type = (*backend)->content_type;
  r.headers = (*backend)->headers;
  bool notify = push && req.method == "POST" && ctx.on_push != nullptr;
  r.stream = [backend = *backend, notify, spec, id, &ctx,
              ticket](const HttpResponse::Writer& write) {
    int code = backend->Pump(write);
    if (notify && code == 0) {
      if (auto s = ctx.on_push(*spec, id); !s.ok()) {
        log::Error("push accepted but its event was not published",
                   {{"replicable", spec->name}, {"id", id}, {"error", std::string(s.message())}});
      }
    }
  };
  return r;
}

HttpResponse Handle(const GitRouteContext& ctx, const HttpRequest& req, const GitPath& gp) {
  if (gp.service != "git-upload-pack" && gp.service != "git-receive-pack") {
    return HttpResponse::Error(403, "SMART_HTTP_ONLY",
                               "only Git's smart HTTP protocol is served (git ≥ 1.6.6)");
  }
  bool refs = gp.suffix == "/info/refs";
  if (req.method != (refs ? "GET" : "POST"))
    return HttpResponse::Error(405, "METHOD_NOT_ALLOWED", "method not allowed");
  bool push = gp.service == "git-receive-pack";
  const site::RoleState role = ctx.role->Get();
  const bool primary = role.self.primary;
  std::string primary_url = role.primary ? role.primary->url : "";
  while (!primary_url.empty() && primary_url.back() == '/') primary_url.pop_back();
  if (gp.geo) {
    if (!primary) return HttpResponse::Error(404, "NOT_FOUND", "not the primary");
    // A secondary fetches; it pushes only what a user it authenticated
    // (over SSH) pushed to it, with a token that says so.
    const std::string scope = framework::GitScope(gp.repo);
    if (auto refused = RefuseGeoRequest(*ctx.sites, req,
                                        push ? transport::RepositoryPushRequestData(scope)
                                             : transport::RepositoryRequestData(scope)))
      return *refused;
  }
  if (!gp.geo && (primary || !push)) {
    if (!ctx.access) {
      return HttpResponse::Error(403, "GIT_HTTP_DISABLED",
                                 "this site's application grants no Git access over HTTP");
    }
    absl::Status allowed = ctx.access(req, gp.repo, push);
    if (absl::IsUnauthenticated(allowed)) {
      HttpResponse r = HttpResponse::Error(401, "UNAUTHORIZED", allowed.message());
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Georep\"");
      return r;
    }
    if (absl::IsPermissionDenied(allowed)) {
      return HttpResponse::Error(403, "FORBIDDEN", allowed.message());
    }
    if (!allowed.ok()) return HttpResponse::Error(503, "UNAVAILABLE", allowed.message());
  }
  // On a secondary a push never touches the local copy: it goes on to the
  // primary, which checks the user's credentials itself.
  if (!primary && push) {
    if (primary_url.empty()) {
      return HttpResponse::Error(503, "NO_PRIMARY", "this secondary knows no primary to push to");
    }
    return ProxyToPrimary(req, gp, PrimaryTarget(primary_url, gp));
  }

  db::Connection* main = db::ThreadConnection(ctx.main_conninfo);
  if (main == nullptr) return HttpResponse::Error(503, "UNAVAILABLE", "database unreachable");
  auto found = framework::FindRepository(*main, ctx.specs, gp.repo);
  if (!found.ok()) return HttpResponse::Error(503, "UNAVAILABLE", found.status().message());
  if (!found->has_value())
    return HttpResponse::Error(404, "REPOSITORY_NOT_FOUND", "no such repository: " + gp.repo);
  const auto& repo = **found;
  if (!primary) {
    db::Connection* tracking = db::ThreadConnection(ctx.tracking_conninfo);
    auto current = tracking == nullptr
                       ? absl::StatusOr<bool>(false)
                       : framework::CopyIsCurrent(*main, *tracking, *repo.spec, repo.id);
    if (!current.ok() || !*current) {
      if (primary_url.empty()) {
        return HttpResponse::Error(503, "NOT_CURRENT",
                                   "this secondary's copy is not current and it knows no primary");
      }
      return ProxyToPrimary(req, gp, PrimaryTarget(primary_url, gp));
    }
  }
  return Serve(ctx, req, gp, repo.spec, repo.id, primary);
}

}  // namespace

bool PlainRepoPath(absl::string_view repo) {
  if (!absl::EndsWith(repo, ".git") || repo.size() <= 4) return false;
  for (absl::string_view segment : absl::StrSplit(repo, '/')) {
    if (segment.empty() || segment == "." || segment == ".." || segment[0] == '.') return false;
    for (char c : segment) {
      // '@' as in hashed storage (@hashed/…, @snippets/…).
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
          c != '@') {
        return false;
      }
    }
  }
  return true;
}

std::optional<Admission> AdmitGit(const HttpRequest& head) {
  auto gp = ParseGitPath(head);
  if (!gp) return std::nullopt;
  if (gp->suffix == "/git-receive-pack") return Admission{kUploadBodyLimit, {}, /*spool=*/true};
  if (gp->suffix == "/git-upload-pack") return Admission{kGitNegotiationLimit, {}, true};
  return Admission{0, {}};
}

std::optional<HttpResponse> HandleGit(const GitRouteContext& ctx, const HttpRequest& req) {
  auto gp = ParseGitPath(req);
  if (!gp) return std::nullopt;
  HttpResponse r = Handle(ctx, req, *gp);
  if (ctx.metrics) {
    ctx.metrics->Add(
        "georep_git_http_requests_total",
        {{"service", gp->service == "git-receive-pack" ? "receive-pack" : "upload-pack"},
         {"route", gp->geo ? "geo" : "user"},
         {"status", absl::StrCat(r.status)}},
        1);
  }
  return r;
}

}  // namespace georep::api
