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

class Router {
 public:
  void Add(std::string method, std::string pattern, RouteHandler handler,
           uint64_t body_limit = kDefaultBodyLimit);
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
  };
  // The route `request` names, or null with *path_known saying whether
  // another method would match.
  const Route* Find(const HttpRequest& request, PathParams* params, bool* path_known) const;
  static HttpResponse NoRoute(const HttpRequest& request, bool path_known);
  std::vector<Route> routes_;
};

}  // namespace georep::api
