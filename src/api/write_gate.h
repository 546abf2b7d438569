// The answer to a write that the site's write gate refused
// (site::LiveRole::BeginWrite): 403 READ_ONLY on a secondary (one that
// knows no primary: otherwise the write was sent there), 503
// MAINTENANCE while the primary is in maintenance mode, with the gate's
// message (which names the primary, or the maintenance reason).
#pragma once

#include "absl/status/status.h"
#include "api/http_server.h"

namespace georep::api {

inline HttpResponse WriteRefused(const absl::Status& refusal) {
  if (refusal.code() == absl::StatusCode::kFailedPrecondition) {
    return HttpResponse::Error(403, "READ_ONLY", refusal.message());
  }
  if (refusal.code() == absl::StatusCode::kUnavailable) {
    HttpResponse r = HttpResponse::Error(503, "MAINTENANCE", refusal.message());
    r.headers.push_back({"Retry-After", "60"});
    return r;
  }
  return HttpResponse::FromStatus(refusal);
}

}  // namespace georep::api
