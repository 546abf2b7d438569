// Admin authentication of the site API: `Authorization: Bearer TOKEN`, the
// token read from the file of setting admin.token_file.
//
// Mutating routes (resync, reverify, sites PUT/POST/DELETE) always need the
// token; a site without one configured refuses them, saying how to set it.
// Reads (status, sites, registry, metrics) need it as admin.reads says:
// "open", "loopback" (open to clients on this host, the token from
// elsewhere) or "token". GET /api/v1/health is always open: load balancers
// probe it.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "api/http_server.h"

namespace georep::api {

struct AdminAuth {
  std::string token;               // empty: none configured
  std::string reads = "loopback";  // open | loopback | token
};

// Reads the token file (one line; surrounding white space ignored). An
// empty path gives no token. A missing, unreadable, too-short (under 16
// characters) or group/world-readable file is an error naming the file.
absl::StatusOr<AdminAuth> LoadAdminAuth(const std::string& token_file, const std::string& reads);

// nullopt when `req` may proceed; else the 401 to answer.
std::optional<HttpResponse> CheckAdmin(const AdminAuth& auth, const HttpRequest& req,
                                       bool mutating);

bool IsLoopbackAddress(const std::string& address);

}  // namespace georep::api
