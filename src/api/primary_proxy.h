// A secondary answers what it can from its replica and its verified copies,
// and sends the rest to the primary, so a user may use any site as if it
// were the primary: the application's writes and any path the secondary has
// no route for (Router::ForPrimary) are relayed, as GitLab's Geo proxying
// does, instead of being refused.
//
// The request goes to the primary's internal URL with the client's own
// headers (its credentials included: the primary decides), minus hop-by-hop
// ones, plus X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto and
// `Georep-Geo-Proxy: 1`. Its body is sent from where the server received it
// (a file mapped from the spool for a large upload), so an upload costs no
// memory of its size. The primary's status, type, Location and
// WWW-Authenticate come back, with its body up to kMaxRelayedBody (answers
// to writes are small; a larger one is a 502). An unreachable primary is a
// 502 PRIMARY_UNREACHABLE naming it and why. A request that already carries
// the marker is not relayed again (a secondary whose primary is itself a
// secondary would send it round): 508 PROXY_LOOP.
#pragma once

#include <string>

#include "api/http_server.h"

namespace georep::api {

inline constexpr char kGeoProxyHeader[] = "Georep-Geo-Proxy";
inline constexpr size_t kMaxRelayedBody = size_t{64} << 20;

// `primary_url`: the primary's internal URL, no trailing slash. `tls`: this
// site serves HTTPS (X-Forwarded-Proto).
HttpResponse RelayToPrimary(const HttpRequest& req, const std::string& primary_url, bool tls);

}  // namespace georep::api
