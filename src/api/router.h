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

class Router {
 public:
  void Add(std::string method, std::string pattern, RouteHandler handler);
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace georep::api
