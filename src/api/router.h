// Maps (method, path pattern) to handlers. Patterns are literal segments and
// `{name}` placeholders: "/api/v1/replicables/{name}/{id}/resync".
// Unknown paths answer 404, known paths with another method 405, both JSON.
// Routes are added before serving starts; Handle is then thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "api/http_server.h"

namespace georep::api {

using PathParams = std::map<std::string, std::string>;
using RouteHandler = std::function<HttpResponse(const HttpRequest&, const PathParams&)>;

// A route's request body is at most this, unless it says otherwise.
constexpr uint64_t kDefaultBodyLimit = uint64_t{1} << 20;
// Uploads: a blob, a Git push.
constexpr uint64_t kUploadBodyLimit = uint64_t{1} << 30;
// A route allowing bodies larger than this receives them on disk
// (HttpRequest::spooled), never in memory.
constexpr uint64_t kSpoolAbove = uint64_t{16} << 20;

// Whose a route is. Georep's own routes (status, sites, registry, Geo) are
// answered by the site asked. The application's (the sample forge's) are
// served locally on a secondary when they read, and sent to the primary when
// they write (api/primary_proxy.h).
enum class RouteScope { kGeorep, kApplication };

class Router {
 public:
  // `scope`: the router's default (SetDefaultScope) unless given.
  void Add(std::string method, std::string pattern, RouteHandler handler,
           uint64_t body_limit = kDefaultBodyLimit);
  // The scope of the routes added from now on.
  void SetDefaultScope(RouteScope scope) { default_scope_ = scope; }
  // On a secondary, whether `head` is the primary's to answer: a write
  // (not GET or HEAD) to an application route, or a path no route knows.
  bool ForPrimary(const HttpRequest& head) const;
  HttpResponse Handle(const HttpRequest& request) const;
  // On the header alone: the matching route's body limit, or the 404/405
  // Handle would answer, refused before any body is read.
  Admission Admit(const HttpRequest& head) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    RouteHandler handler;
    uint64_t body_limit;
    RouteScope scope;
  };
  // The route `request` names, or null with *path_known saying whether
  // another method would match.
  const Route* Find(const HttpRequest& request, PathParams* params, bool* path_known) const;
  static HttpResponse NoRoute(const HttpRequest& request, bool path_known);
  std::vector<Route> routes_;
  RouteScope default_scope_ = RouteScope::kGeorep;
};

}  // namespace georep::api
