#include "api/router.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace georep::api {
namespace {

std::vector<std::string> Split(absl::string_view path) {
  return absl::StrSplit(path, '/', absl::SkipEmpty());
}

bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           PathParams* params) {
  if (pattern.size() != path.size()) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      (*params)[p.substr(1, p.size() - 2)] = path[i];
    } else if (p != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::Add(std::string method, std::string pattern, RouteHandler handler,
                 uint64_t body_limit) {
  routes_.push_back(
      {std::move(method), Split(pattern), std::move(handler), body_limit, default_scope_});
}

bool Router::ForPrimary(const HttpRequest& head) const {
  std::vector<std::string> path = Split(head.path);
  bool known = false;
  for (const Route& r : routes_) {
    PathParams params;
    if (!Match(r.segments, path, &params)) continue;
    known = true;
    if (r.scope == RouteScope::kApplication && head.method != "GET" && head.method != "HEAD")
      return true;
  }
  return !known;
}

const Router::Route* Router::Find(const HttpRequest& request, PathParams* params,
                                  bool* path_known) const {
  std::vector<std::string> path = Split(request.path);
  *path_known = false;
  for (const Route& r : routes_) {
    params->clear();
    if (!Match(r.segments, path, params)) continue;
    *path_known = true;
    if (r.method == request.method || (r.method == "GET" && request.method == "HEAD")) return &r;
  }
  return nullptr;
}

HttpResponse Router::NoRoute(const HttpRequest& request, bool path_known) {
  if (path_known) {
    return HttpResponse::Error(405, "METHOD_NOT_ALLOWED",
                               absl::StrCat(request.method, " is not allowed on ", request.path));
  }
  return HttpResponse::Error(404, "NOT_FOUND", absl::StrCat("no route for ", request.path));
}

HttpResponse Router::Handle(const HttpRequest& request) const {
  PathParams params;
  bool path_known = false;
  if (const Route* r = Find(request, &params, &path_known)) return r->handler(request, params);
  return NoRoute(request, path_known);
}

Admission Router::Admit(const HttpRequest& head) const {
  PathParams params;
  bool path_known = false;
  if (const Route* r = Find(head, &params, &path_known)) {
    return Admission{r->body_limit, {}, /*spool=*/r->body_limit > kSpoolAbove};
  }
  return Admission{0, NoRoute(head, path_known)};
}

}  // namespace georep::api
