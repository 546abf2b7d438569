#include "api/admin_auth.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/fs.h"

namespace georep::api {

absl::StatusOr<AdminAuth> LoadAdminAuth(const std::string& token_file, const std::string& reads) {
  AdminAuth auth{.reads = reads};
  if (token_file.empty()) return auth;
  struct stat st;
  if (stat(token_file.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("admin token file ", token_file, " (setting \"admin.token_file\"): missing"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("admin token file ", token_file,
                     " (setting \"admin.token_file\"): readable by others; chmod 600 it"));
  }
  auto text = ReadFile(token_file);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("admin token file ", token_file, ": ",
                                                           text.status().message()));
  }
  auth.token = std::string(absl::StripAsciiWhitespace(*text));
  if (auth.token.size() < 16 || auth.token.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "admin token file ", token_file,
        " (setting \"admin.token_file\"): the token must be one word of 16 characters or more"));
  }
  return auth;
}

bool IsLoopbackAddress(const std::string& address) {
  return absl::StartsWith(address, "127.") || address == "::1" ||
         absl::StartsWith(address, "::ffff:127.");
}

namespace {

HttpResponse Refuse(absl::string_view message) {
  HttpResponse r = HttpResponse::Error(401, "UNAUTHENTICATED", message);
  r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"georep admin\""});
  return r;
}

}  // namespace

std::optional<HttpResponse> CheckAdmin(const AdminAuth& auth, const HttpRequest& req,
                                       bool mutating) {
  if (!mutating) {
    if (auth.reads == "open") return std::nullopt;
    if (auth.reads == "loopback" && IsLoopbackAddress(req.remote_address)) return std::nullopt;
  }
  if (auth.token.empty()) {
    return Refuse(
        mutating ? "this site has no admin token: set \"admin.token_file\" in its configuration"
                 : "reads from other hosts need the admin token, and this site has none: set "
                   "\"admin.token_file\" in its configuration");
  }
  std::string header = req.Header("authorization");
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(header, kBearer)) {
    return Refuse("send the admin token as \"Authorization: Bearer TOKEN\"");
  }
  absl::string_view given = absl::string_view(header).substr(kBearer.size());
  if (given.size() != auth.token.size() ||
      CRYPTO_memcmp(given.data(), auth.token.data(), given.size()) != 0) {
    return Refuse("wrong admin token");
  }
  return std::nullopt;
}

}  // namespace georep::api
