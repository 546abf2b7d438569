#include "api/lfs_routes.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "api/primary_proxy.h"
#include "framework/spec/spec.h"
#include "framework/sync/repository/repository_sync.h"
#include "nlohmann/json.hpp"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/sha256.h"

namespace georep::api {
namespace {

using nlohmann::json;

constexpr absl::string_view kObjects = "/info/lfs/objects/";
constexpr char kLfsType[] = "application/vnd.git-lfs+json";
// Objects in one batch request (git-lfs sends 100 at most by default).
constexpr size_t kMaxBatchObjects = 1000;

struct LfsPath {
  std::string repo;  // "group/name.git"
  std::string oid;   // empty: the batch endpoint
};

bool IsOid(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

std::optional<LfsPath> ParseLfsPath(absl::string_view path) {
  size_t at = path.rfind(kObjects);
  if (!absl::StartsWith(path, "/") || at == absl::string_view::npos || at < 2) return std::nullopt;
  absl::string_view repo = path.substr(1, at - 1);
  absl::string_view rest = path.substr(at + kObjects.size());
  if (!PlainRepoPath(repo)) return std::nullopt;
  if (rest == "batch") return LfsPath{std::string(repo), ""};
  if (IsOid(rest)) return LfsPath{std::string(repo), std::string(rest)};
  return std::nullopt;
}

// The LFS error body: {"message": …}, which git-lfs shows to the user.
HttpResponse LfsError(int status, absl::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = kLfsType;
  r.body = json{{"message", std::string(message)}}.dump() + "\n";
  return r;
}

// The application's answer to "may this request read (push: write) the
// repository's objects?", as an HTTP refusal; nullopt when it may.
std::optional<HttpResponse> Refuse(const LfsRouteContext& ctx, const HttpRequest& req,
                                   const std::string& repo, bool push) {
  if (!ctx.access) return LfsError(403, "this site's application grants no Git access over HTTP");
  absl::Status allowed = ctx.access(req, repo, push);
  if (allowed.ok()) return std::nullopt;
  if (absl::IsUnauthenticated(allowed)) {
    HttpResponse r = LfsError(401, allowed.message());
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Georep\"");
    r.headers.emplace_back("LFS-Authenticate", "Basic realm=\"Georep\"");
    return r;
  }
  if (absl::IsPermissionDenied(allowed)) return LfsError(403, allowed.message());
  return LfsError(503, allowed.message());
}

std::string WithoutTrailingSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string ObjectHref(const std::string& base, const std::string& repo, const std::string& oid) {
  return absl::StrCat(base, "/", repo, kObjects, oid);
}

// A transfer action: the href, with the client's own credentials.
json Action(const std::string& href, const std::string& authorization) {
  json a = {{"href", href}};
  if (!authorization.empty()) a["header"] = {{"Authorization", authorization}};
  return a;
}

struct WantedObject {
  std::string oid;
  int64_t size = 0;
};
struct BatchRequest {
  bool upload = false;
  std::vector<WantedObject> objects;
};

// The request, or the error to answer (422 for what the spec calls a
// validation error, 409 for a hash algorithm other than SHA-256).
absl::StatusOr<BatchRequest> ParseBatch(absl::string_view body, int* code) {
  *code = 422;
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("the batch request is not a JSON object");
  BatchRequest out;
  const json op = j.value("operation", json());
  if (op != "download" && op != "upload") {
    return absl::InvalidArgumentError("\"operation\" must be \"download\" or \"upload\"");
  }
  out.upload = op == "upload";
  if (j.contains("transfers")) {
    const json& t = j["transfers"];
    if (!t.is_array() || std::find(t.begin(), t.end(), json("basic")) == t.end()) {
      return absl::InvalidArgumentError("only the \"basic\" transfer adapter is served");
    }
  }
  if (j.contains("hash_algo") && j["hash_algo"] != "sha256") {
    *code = 409;
    return absl::InvalidArgumentError("objects are named by SHA-256 here (\"hash_algo\")");
  }
  const json objects = j.value("objects", json());
  if (!objects.is_array() || objects.size() > kMaxBatchObjects) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"objects\" must be an array of at most ", kMaxBatchObjects, " objects"));
  }
  for (const auto& o : objects) {
    if (!o.is_object() || !o.value("oid", json()).is_string() ||
        !IsOid(o["oid"].get<std::string>())) {
      return absl::InvalidArgumentError("each object's \"oid\" must be 64 lowercase hex digits");
    }
    const json size = o.value("size", json());
    if (!size.is_number_integer() || size.get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("object ", o["oid"].get<std::string>(),
                                                     ": \"size\" must be an integer, at least 0"));
    }
    out.objects.push_back({o["oid"].get<std::string>(), size.get<int64_t>()});
  }
  return out;
}

json Missing(const WantedObject& o, int code, const std::string& message) {
  return {{"oid", o.oid}, {"size", o.size}, {"error", {{"code", code}, {"message", message}}}};
}

void Count(const LfsRouteContext& ctx, bool upload, absl::string_view to, int64_t n) {
  if (ctx.metrics == nullptr || n == 0) return;
  ctx.metrics->Add("georep_lfs_actions_total",
                   {{"operation", upload ? "upload" : "download"}, {"to", std::string(to)}}, n);
}

// Secondary: asks the primary (its internal URL) about the objects this
// site cannot serve, with the client's credentials; its answers name the
// primary. Unreachable: an error for each.
absl::StatusOr<json> AskPrimary(const std::string& primary_url, const HttpRequest& req,
                                const std::string& repo, const std::vector<WantedObject>& wanted,
                                HttpResponse* refused) {
  json body = {{"operation", "download"}, {"transfers", {"basic"}}, {"objects", json::array()}};
  for (const auto& o : wanted) body["objects"].push_back({{"oid", o.oid}, {"size", o.size}});
  transport::RequestOptions opts{.method = "POST", .body = body.dump()};
  opts.headers = {absl::StrCat("Content-Type: ", kLfsType), absl::StrCat("Accept: ", kLfsType),
                  absl::StrCat(kGeoProxyHeader, ": 1"), "Expect:"};
  if (std::string auth = req.Header("authorization"); !auth.empty())
    opts.headers.push_back("Authorization: " + auth);
  opts.timeout_seconds = 60;
  auto r = transport::HttpRequest(absl::StrCat(primary_url, "/", repo, kObjects, "batch"), opts);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    // The primary's refusal (a token revoked there, say) is the answer.
    refused->status = static_cast<int>(r->status);
    refused->content_type = r->content_type;
    refused->body = r->body;
    if (!r->www_authenticate.empty())
      refused->headers.emplace_back("WWW-Authenticate", r->www_authenticate);
    return absl::FailedPreconditionError("refused");
  }
  auto answer = json::parse(r->body, nullptr, false);
  if (!answer.is_object() || !answer.value("objects", json()).is_array()) {
    return absl::UnavailableError("the primary's batch answer is not what the LFS API says");
  }
  return answer["objects"];
}

HttpResponse Batch(const LfsRouteContext& ctx, const HttpRequest& req, const LfsPath& lp) {
  if (req.method != "POST") return LfsError(405, "the batch endpoint takes POST");
  int code = 0;
  auto batch = ParseBatch(req.Body(), &code);
  if (!batch.ok()) return LfsError(code, batch.status().message());
  const site::RoleState role = ctx.role->Get();
  const bool primary = role.self.primary;
  if (!primary && batch->upload) {
    // Uploads are the primary's: it answers with itself as the place to send them.
    if (!role.primary) return LfsError(503, "this secondary knows no primary to upload to");
    return RelayToPrimary(req, WithoutTrailingSlash(role.primary->InternalUrl()), ctx.tls);
  }
  if (auto refused = Refuse(ctx, req, lp.repo, batch->upload)) return *refused;
  db::Connection* main = db::ThreadConnection(ctx.main_conninfo);
  if (main == nullptr) return LfsError(503, "the database is unreachable");
  db::Connection* tracking = primary ? nullptr : db::ThreadConnection(ctx.tracking_conninfo);
  if (!primary && tracking == nullptr) return LfsError(503, "the tracking database is unreachable");
  const std::string here = WithoutTrailingSlash(role.self.url);
  const std::string authorization = req.Header("authorization");
  json objects = json::array();
  std::vector<WantedObject> elsewhere;  // secondary: the primary's to answer
  int64_t actions = 0;
  for (const auto& want : batch->objects) {
    auto found = ctx.store.find(*main, lp.repo, want.oid);
    if (!found.ok()) return LfsError(503, found.status().message());
    if (!primary) {
      std::optional<std::string> copy;
      if (*found) {
        auto current = framework::CurrentCopyPath(*main, *tracking, *ctx.spec, (*found)->id);
        if (!current.ok()) return LfsError(503, current.status().message());
        copy = *current;
      }
      if (!copy) {
        elsewhere.push_back(want);
        continue;
      }
    }
    if (batch->upload && *found) {
      objects.push_back({{"oid", want.oid}, {"size", (*found)->size}});  // nothing to send
    } else if (*found || batch->upload) {
      const char* verb = batch->upload ? "upload" : "download";
      objects.push_back(
          {{"oid", want.oid},
           {"size", *found ? (*found)->size : want.size},
           {"authenticated", true},
           {"actions", {{verb, Action(ObjectHref(here, lp.repo, want.oid), authorization)}}}});
      ++actions;
    } else {
      objects.push_back(Missing(want, 404, "no such object"));
    }
  }
  Count(ctx, batch->upload, "here", actions);
  if (!elsewhere.empty()) {
    HttpResponse refused;
    absl::StatusOr<json> theirs =
        role.primary
            ? AskPrimary(WithoutTrailingSlash(role.primary->InternalUrl()), req, lp.repo, elsewhere,
                         &refused)
            : absl::StatusOr<json>(absl::UnavailableError("this secondary knows no primary"));
    if (!theirs.ok() && absl::IsFailedPrecondition(theirs.status())) return refused;
    if (!theirs.ok()) {
      log::Warn("LFS objects not current here, and the primary cannot be asked",
                {{"repository", lp.repo}, {"error", std::string(theirs.status().message())}});
      for (const auto& want : elsewhere) {
        objects.push_back(Missing(want, 503,
                                  absl::StrCat("not yet replicated to this site, and the primary "
                                               "is unreachable: ",
                                               theirs.status().message())));
      }
    } else {
      int64_t sent = 0;
      for (auto& o : *theirs) {
        if (o.is_object() && o.contains("actions")) ++sent;
        objects.push_back(std::move(o));
      }
      Count(ctx, false, "primary", sent);
    }
  }
  HttpResponse r;
  r.content_type = kLfsType;
  r.body =
      json{{"transfer", "basic"}, {"objects", std::move(objects)}, {"hash_algo", "sha256"}}.dump() +
      "\n";
  return r;
}

// The relative path of a model row.
absl::StatusOr<std::string> ModelPath(const LfsRouteContext& ctx, db::Connection& main,
                                      int64_t id) {
  auto rows = main.Exec(absl::StrCat("SELECT ", framework::PathSql(*ctx.spec, "m"), " FROM ",
                                     framework::QuotedTable(*ctx.spec), " m WHERE m.",
                                     framework::QuotedIdColumn(*ctx.spec), " = $1"),
                        {absl::StrCat(id)});
  if (!rows.ok()) return rows.status();
  if (rows->rows() == 0 || rows->IsNull(0, 0)) return absl::NotFoundError("no such object");
  return std::string(rows->Get(0, 0));
}

// The blob at `location` of the site's store, served: a file from its
// descriptor, an object streamed as it is read.
HttpResponse FromStore(const LfsRouteContext& ctx, const LfsPath& lp, const std::string& location) {
  if (auto fd = ctx.blobs->OpenFile(location)) {
    if (!fd->ok()) {
      if (absl::IsNotFound(fd->status())) return LfsError(404, "the object's file is missing");
      log::Warn("LFS object's path refused", {{"repository", lp.repo},
                                              {"oid", lp.oid},
                                              {"error", std::string(fd->status().message())}});
      return LfsError(403, "the object's path is refused");
    }
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.file = std::make_shared<const OpenFile>(**fd);
    return r;
  }
  auto size = ctx.blobs->Size(location);
  if (!size.ok()) {
    return LfsError(absl::IsNotFound(size.status()) ? 404 : 503, size.status().message());
  }
  if (!size->has_value()) return LfsError(404, "the object is missing from the store");
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.stream = [blobs = ctx.blobs, location](const HttpResponse::Writer& write) {
    auto got = blobs->Read(location, write);
    // Once bytes have gone, only a cut says the copy could not be read.
    if (!got.ok()) throw std::runtime_error(std::string(got.status().message()));
  };
  return r;
}

HttpResponse Download(const LfsRouteContext& ctx, const HttpRequest& req, const LfsPath& lp) {
  if (auto refused = Refuse(ctx, req, lp.repo, /*push=*/false)) return *refused;
  const site::RoleState role = ctx.role->Get();
  db::Connection* main = db::ThreadConnection(ctx.main_conninfo);
  if (main == nullptr) return LfsError(503, "the database is unreachable");
  auto found = ctx.store.find(*main, lp.repo, lp.oid);
  if (!found.ok()) return LfsError(503, found.status().message());
  if (role.self.primary) {
    if (!*found) return LfsError(404, "no such object");
    auto rel = ModelPath(ctx, *main, (*found)->id);
    if (!rel.ok())
      return LfsError(absl::IsNotFound(rel.status()) ? 404 : 503, rel.status().message());
    auto where = framework::ItemLocation(*ctx.spec, *ctx.blobs, ctx.repository_root, *rel);
    if (!where.ok()) {
      log::Warn("LFS object's path refused", {{"repository", lp.repo},
                                              {"oid", lp.oid},
                                              {"error", std::string(where.status().message())}});
      return LfsError(403, "the object's path is refused");
    }
    return FromStore(ctx, lp, *where);
  }
  std::optional<std::string> copy;
  db::Connection* tracking = db::ThreadConnection(ctx.tracking_conninfo);
  if (*found && tracking != nullptr) {
    auto current = framework::CurrentCopyPath(*main, *tracking, *ctx.spec, (*found)->id);
    if (current.ok()) copy = *current;
  }
  if (!copy) {
    // Not current here (it changed since the batch answer): the primary has it.
    if (!role.primary) return LfsError(404, "this site holds no current copy of the object");
    HttpResponse r = LfsError(307, "not current on this site: ask the primary");
    r.headers.emplace_back("Location",
                           ObjectHref(WithoutTrailingSlash(role.primary->url), lp.repo, lp.oid));
    return r;
  }
  return FromStore(ctx, lp, *copy);
}

HttpResponse Upload(const LfsRouteContext& ctx, const HttpRequest& req, const LfsPath& lp) {
  const site::RoleState role = ctx.role->Get();
  if (!role.self.primary) {
    if (!role.primary) return LfsError(503, "this secondary knows no primary to upload to");
    return RelayToPrimary(req, WithoutTrailingSlash(role.primary->InternalUrl()), ctx.tls);
  }
  if (auto refused = Refuse(ctx, req, lp.repo, /*push=*/true)) return *refused;
  // A write: refused in maintenance mode, and counted in flight until stored.
  auto ticket = ctx.role->BeginWrite();
  if (!ticket.ok()) return LfsError(503, ticket.status().message());
  absl::string_view bytes = req.Body();
  if (std::string sha = Sha256Hex(bytes); sha != lp.oid) {
    return LfsError(422, absl::StrCat("the bytes sent have SHA-256 ", sha, ", not ", lp.oid));
  }
  db::Connection* main = db::ThreadConnection(ctx.main_conninfo);
  if (main == nullptr) return LfsError(503, "the database is unreachable");
  absl::Status s = ctx.store.store(*main, *ctx.blobs, lp.repo, lp.oid, bytes);
  if (absl::IsNotFound(s)) return LfsError(404, s.message());
  if (!s.ok()) {
    log::Error("LFS upload not stored",
               {{"repository", lp.repo}, {"oid", lp.oid}, {"error", std::string(s.message())}});
    return LfsError(absl::IsResourceExhausted(s) ? 507 : 503, s.message());
  }
  HttpResponse r;
  r.content_type = kLfsType;
  r.body = "{}\n";
  return r;
}

}  // namespace

std::optional<Admission> AdmitLfs(const HttpRequest& head) {
  auto lp = ParseLfsPath(head.path);
  if (!lp) return std::nullopt;
  if (lp->oid.empty()) return Admission{kLfsBatchLimit, {}};
  if (head.method == "PUT") return Admission{kUploadBodyLimit, {}, /*spool=*/true};
  return Admission{0, {}};
}

std::optional<HttpResponse> HandleLfs(const LfsRouteContext& ctx, const HttpRequest& req) {
  if (ctx.spec == nullptr || !ctx.store.find) return std::nullopt;
  auto lp = ParseLfsPath(req.path);
  if (!lp) return std::nullopt;
  if (lp->oid.empty()) return Batch(ctx, req, *lp);
  if (req.method == "GET") return Download(ctx, req, *lp);
  if (req.method == "PUT") return Upload(ctx, req, *lp);
  return LfsError(405, "an object takes GET or PUT");
}

}  // namespace georep::api
