// Blocking HTTP requests with libcurl: the CLI asking a daemon for status,
// tests driving sites. (Blob downloads get their own streaming client.)
// Thread-safe: each call uses its own handle.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::transport {

struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_type;
  std::string location;          // Location header, if any
  std::string www_authenticate;  // WWW-Authenticate header, if any
  // Every header of the final response, names in lower case (the last of
  // a repeated one).
  std::map<std::string, std::string> headers;
};

struct RequestOptions {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  double timeout_seconds = 10;
  // When set, a 2xx response's body goes here as it arrives (return false
  // to stop the transfer: the call then fails) instead of into
  // HttpResult::body; any other answer's body is still collected there.
  std::function<bool(absl::string_view)> on_body;
  // When set, a body collected into HttpResult::body (every answer, or those
  // on_body does not take) larger than this ends the transfer: the call
  // fails with ResourceExhausted.
  size_t max_body = 0;
  // When set, sent instead of `body`, without a copy: it must outlive the
  // call (a spooled request body, say).
  std::optional<absl::string_view> body_view;
  // AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:SERVICE")
  // with `aws_credentials` ("ACCESS_KEY:SECRET"); the caller adds
  // x-amz-content-sha256.
  std::string aws_sigv4;
  std::string aws_credentials;
};

// The PEM file of CAs that an https:// peer's certificate must chain to, for
// every request of this process (this client, blob downloads, and git via
// GIT_SSL_CAINFO); "" is the system's CAs. Set at start-up, before any
// request; a peer whose certificate does not chain, or names another host,
// is refused (Unavailable, naming the TLS error).
void SetTrustedCaFile(const std::string& path);
std::string TrustedCaFile();

// Unavailable when the server cannot be reached or times out; any HTTP
// status (even 500) is a result.
absl::StatusOr<HttpResult> HttpRequest(const std::string& url, const RequestOptions& options = {});

// What a peer's HTTP error status tells its caller, as a status code: 404
// NotFound (the peer has no such thing), 401 Unauthenticated, 403
// PermissionDenied, other 4xx InvalidArgument, anything else Unavailable
// (retry later). The one mapping of HTTP answers from another site.
absl::Status StatusFromHttp(long http_status, std::string message);

// A request that reached no server at all (connection refused, host not
// resolved): Unavailable, marked so that the caller can tell it says nothing
// of the thing asked for, only of the peer.
absl::Status NotReachedError(std::string message);
bool IsNotReached(const absl::Status& status);

// libcurl's failure `rc` as a status: NotReachedError when no connection
// was made, else Unavailable.
absl::Status CurlFailure(int rc, std::string message);

// The host part of an http(s) URL (without brackets for IPv6);
// InvalidArgument naming the URL when it has none.
absl::StatusOr<std::string> UrlHost(const std::string& url);

}  // namespace georep::transport
