#include "api/admin_page.h"

#include <string>

namespace georep::api {
namespace {

std::string ContentType(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  return "text/css; charset=utf-8";
}

HttpResponse Asset(std::string_view name, std::string_view content) {
  HttpResponse r{200, ContentType(name), {}, std::string(content)};
  r.headers.push_back({"Cache-Control", "no-cache"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Content-Security-Policy",
                       "default-src 'self'; style-src 'self'; script-src 'self'; "
                       "frame-ancestors 'none'"});
  return r;
}

}  // namespace

void AddAdminPage(Router& router) {
  for (const auto& [name, content] : AdminAssets()) {
    std::string path = name == "index.html" ? "/admin" : "/admin/" + std::string(name);
    router.Add("GET", path,
               [name = name, content = content](const HttpRequest&, const PathParams&) {
                 return Asset(name, content);
               });
  }
}

}  // namespace georep::api
