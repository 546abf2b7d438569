#include "transport/geo_auth.h"

#include <jwt.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace georep::transport {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;

}  // namespace

std::string MakeGeoAuthorization(const std::string& access_key, const std::string& secret,
                                 const std::string& data_json, int64_t now_unix,
                                 int64_t lifetime_seconds) {
  jwt_t* raw = nullptr;
  jwt_new(&raw);
  JwtPtr j(raw);
  jwt_add_grant(j.get(), "data", data_json.c_str());
  jwt_add_grant_int(j.get(), "iat", now_unix);
  jwt_add_grant_int(j.get(), "exp", now_unix + lifetime_seconds);
  jwt_set_alg(j.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
              static_cast<int>(secret.size()));
  char* token = jwt_encode_str(j.get());
  std::string out = absl::StrCat("GL-Geo ", access_key, ":", token ? token : "");
  free(token);  // libjwt 1.10 allocates with malloc
  return out;
}

absl::StatusOr<GeoCredentials> ParseGeoAuthorization(absl::string_view header) {
  constexpr absl::string_view kScheme = "GL-Geo ";
  if (!absl::StartsWith(header, kScheme)) {
    return absl::UnauthenticatedError(
        "missing \"Authorization: GL-Geo <access_key>:<token>\" header");
  }
  absl::string_view rest = header.substr(kScheme.size());
  size_t colon = rest.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    return absl::UnauthenticatedError("malformed GL-Geo authorization header");
  }
  return GeoCredentials{std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
}

absl::Status VerifyGeoToken(const std::string& token, const std::string& secret,
                            const std::string& expected_data_json, int64_t now_unix,
                            int64_t leeway_seconds) {
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(secret.data()),
                      static_cast<int>(secret.size()));
  JwtPtr j(raw);
  if (rc != 0 || !j) return absl::UnauthenticatedError("invalid token signature");
  // libjwt reads the header's alg without regard to case ("hs256"): the
  // header must say exactly HS256 (RFC 7515 names are case-sensitive).
  std::string header;
  size_t dot = token.find('.');
  if (dot == std::string::npos ||
      !absl::WebSafeBase64Unescape(absl::string_view(token).substr(0, dot), &header)) {
    return absl::UnauthenticatedError("malformed token header");
  }
  auto head = nlohmann::json::parse(header, nullptr, false);
  if (!head.is_object() || !head.contains("alg") || head["alg"] != "HS256" ||
      (head.contains("typ") && head["typ"] != "JWT") || head.contains("crit")) {
    return absl::UnauthenticatedError("token algorithm is not HS256");
  }
  if (jwt_get_alg(j.get()) != JWT_ALG_HS256)
    return absl::UnauthenticatedError("token algorithm is not HS256");
  errno = 0;
  long iat = jwt_get_grant_int(j.get(), "iat");
  bool has_iat = errno == 0;
  errno = 0;
  long exp = jwt_get_grant_int(j.get(), "exp");
  bool has_exp = errno == 0;
  if (!has_iat || !has_exp) return absl::UnauthenticatedError("token lacks iat or exp");
  // Compared without sums that could overflow (a claim may be any integer).
  if (iat > now_unix + leeway_seconds) {
    return absl::UnauthenticatedError("token issued in the future (check the sites' clocks)");
  }
  if (exp < now_unix - leeway_seconds)
    return absl::UnauthenticatedError("token expired (check the sites' clocks)");
  if (exp < iat) return absl::UnauthenticatedError("token expires before it was issued");
  if (iat < now_unix - leeway_seconds - kGeoTokenMaxLifetimeSeconds) {
    return absl::UnauthenticatedError(
        "token issued longer ago than a token may live (check the sites' clocks)");
  }
  // Both are within a lifetime and a leeway of now: the difference is small.
  if (exp - iat > kGeoTokenMaxLifetimeSeconds) {
    return absl::UnauthenticatedError(absl::StrCat("token lifetime of ", exp - iat,
                                                   " s is over the ", kGeoTokenMaxLifetimeSeconds,
                                                   " s allowed"));
  }
  errno = 0;
  long nbf = jwt_get_grant_int(j.get(), "nbf");
  if (errno == 0 && nbf > now_unix + leeway_seconds) {
    return absl::UnauthenticatedError("token not valid yet (nbf; check the sites' clocks)");
  }
  const char* data = jwt_get_grant(j.get(), "data");
  if (data == nullptr) return absl::PermissionDeniedError("token has no data claim");
  auto got = nlohmann::json::parse(data, nullptr, false);
  auto want = nlohmann::json::parse(expected_data_json, nullptr, false);
  if (got.is_discarded() || want.is_discarded() || got != want) {
    return absl::PermissionDeniedError("token is not valid for this request");
  }
  return absl::OkStatus();
}

std::string BlobRequestData(const std::string& replicable, int64_t id) {
  return nlohmann::json{{"replicable_name", replicable}, {"replicable_id", id}}.dump();
}

std::string BlobBatchRequestData(const std::string& replicable, const std::vector<int64_t>& ids) {
  return nlohmann::json{{"replicable_name", replicable}, {"replicable_ids", ids}}.dump();
}

std::string RepositoryRequestData(const std::string& scope) {
  return nlohmann::json{{"scope", scope}}.dump();
}

std::string RepositoryPushRequestData(const std::string& scope) {
  return nlohmann::json{{"scope", scope}, {"push", true}}.dump();
}

std::string StatusReportRequestData(const std::string& body_sha256) {
  return nlohmann::json{{"status_sha256", body_sha256}}.dump();
}

std::string HandoverRequestData(const std::string& action, const std::string& new_primary) {
  return nlohmann::json{{"action", action}, {"new_primary", new_primary}}.dump();
}

std::string MaintenanceRequestData(bool enabled, const std::string& reason) {
  return nlohmann::json{{"enabled", enabled}, {"reason", reason}}.dump();
}

}  // namespace georep::transport
