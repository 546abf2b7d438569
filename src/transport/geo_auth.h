// Authentication of requests between sites.
//
// A secondary signs each request to the primary with
//   Authorization: GL-Geo <access_key>:<JWT>
// where the JWT is HS256 with the site's secret and carries iat, exp and a
// `data` claim: a JSON string naming exactly what is asked for, e.g.
// {"replicable_name":"upload","replicable_id":42}. The primary finds the
// site by access key and checks, in VerifyGeoToken and nowhere else: the
// header's alg is exactly HS256, the signature, iat not in the future, exp
// not past and nbf (if any) reached (each with a small leeway for clock
// skew), a lifetime (exp − iat) of at most 10 minutes, and that `data`
// equals what the URL asks for. libjwt checks only the signature; the rest
// is done here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::transport {

inline constexpr int64_t kGeoTokenLifetimeSeconds = 60;
inline constexpr int64_t kGeoClockLeewaySeconds = 60;
// A token valid for longer is refused (exp − iat): a stolen one is of use
// for minutes at most. Checked when a request starts, so a long Git fetch
// outlives its token.
inline constexpr int64_t kGeoTokenMaxLifetimeSeconds = 600;

// The Authorization header value. `data_json` must be a JSON object.
std::string MakeGeoAuthorization(const std::string& access_key, const std::string& secret,
                                 const std::string& data_json, int64_t now_unix,
                                 int64_t lifetime_seconds = kGeoTokenLifetimeSeconds);

struct GeoCredentials {
  std::string access_key;
  std::string token;
};
// Splits "GL-Geo key:token"; Unauthenticated if the header is not of that form.
absl::StatusOr<GeoCredentials> ParseGeoAuthorization(absl::string_view header);

// Unauthenticated (401) for a bad, expired or not-yet-valid token;
// PermissionDenied (403) when `data` is not what the request asks for.
absl::Status VerifyGeoToken(const std::string& token, const std::string& secret,
                            const std::string& expected_data_json, int64_t now_unix,
                            int64_t leeway_seconds = kGeoClockLeewaySeconds);

// {"replicable_name": name, "replicable_id": id}
std::string BlobRequestData(const std::string& replicable, int64_t id);
// The `data` claim of a batch of blobs: {"replicable_name": …, "replicable_ids": [...]}.
std::string BlobBatchRequestData(const std::string& replicable, const std::vector<int64_t>& ids);
// The `data` claim of a Git fetch: {"scope": <repository path without .git>}.
std::string RepositoryRequestData(const std::string& scope);
// The `data` claim of a push a secondary sends on for a user it has
// authenticated (over SSH): {"scope": …, "push": true}. A fetch token
// cannot push.
std::string RepositoryPushRequestData(const std::string& scope);
// The `data` claim of a maintenance-mode request to the primary (POST
// /geo/maintenance): {"enabled": …, "reason": …}.
std::string MaintenanceRequestData(bool enabled, const std::string& reason);
// The `data` claim of a secondary's status report (POST /geo/status): the
// SHA-256 of the body it signs, {"status_sha256": …}.
std::string StatusReportRequestData(const std::string& body_sha256);
// The `data` claim of a handover request from a secondary being promoted to
// another secondary (POST /geo/handover): {"action": "detach"|"reattach",
// "new_primary": …}.
std::string HandoverRequestData(const std::string& action, const std::string& new_primary);

}  // namespace georep::transport
