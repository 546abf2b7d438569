#include "api/primary_proxy.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "transport/http_client.h"
#include "util/logging.h"

namespace georep::api {
namespace {

// Headers that describe one connection, not the request (RFC 9110 §7.6.1),
// and those libcurl sets for the new one.
bool HopByHop(const std::string& lower) {
  static const std::set<std::string> kNames = {
      "connection",        "keep-alive", "proxy-authorization",
      "proxy-connection",  "te",         "trailer",
      "transfer-encoding", "upgrade",    "host",
      "content-length",    "expect"};
  return kNames.contains(lower);
}

}  // namespace

HttpResponse RelayToPrimary(const HttpRequest& req, const std::string& primary_url, bool tls) {
  if (!req.Header("georep-geo-proxy").empty()) {
    return HttpResponse::Error(
        508, "PROXY_LOOP",
        "this request was already sent on by a secondary, and this site is not the primary "
        "either (a failover in progress?)");
  }
  transport::RequestOptions o{.method = req.method};
  o.body_view = req.Body();
  // Headers the client's Connection header names are this connection's too.
  std::set<std::string> named;
  for (absl::string_view n : absl::StrSplit(req.Header("connection"), ',')) {
    named.insert(absl::AsciiStrToLower(absl::StripAsciiWhitespace(n)));
  }
  for (const auto& [name, value] : req.headers) {
    // The client's own Forwarded and X-Forwarded-* are replaced by what
    // this site saw, not passed on for the primary to believe.
    if (HopByHop(name) || named.contains(name) || name == "forwarded" ||
        name == "x-forwarded-for" || name == "x-forwarded-host" || name == "x-forwarded-proto") {
      continue;
    }
    o.headers.push_back(absl::StrCat(name, ": ", value));
  }
  std::string forwarded_for = req.Header("x-forwarded-for");
  o.headers.push_back(absl::StrCat("X-Forwarded-For: ", forwarded_for,
                                   forwarded_for.empty() ? "" : ", ", req.remote_address));
  if (std::string host = req.Header("host"); !host.empty())
    o.headers.push_back(absl::StrCat("X-Forwarded-Host: ", host));
  o.headers.push_back(absl::StrCat("X-Forwarded-Proto: ", tls ? "https" : "http"));
  o.headers.push_back(absl::StrCat(kGeoProxyHeader, ": 1"));
  o.headers.push_back("Expect:");  // no 100-continue round trip
  if (req.Header("content-type").empty() && !req.Body().empty())
    o.headers.push_back("Content-Type:");  // not libcurl's form type
  o.timeout_seconds = 3600;                // a large upload on a slow link
  o.max_body = kMaxRelayedBody;            // an error answer too is held whole
  std::string body;
  bool too_large = false;
  o.on_body = [&](absl::string_view piece) {
    if (body.size() + piece.size() > kMaxRelayedBody) {
      too_large = true;
      return false;
    }
    body.append(piece.data(), piece.size());
    return true;
  };
  auto r = transport::HttpRequest(absl::StrCat(primary_url, req.target), o);
  // Logged without its query string: tokens can travel there.
  const std::string to = absl::StrCat(primary_url, req.path);
  if (!r.ok()) {
    if (too_large || absl::IsResourceExhausted(r.status())) {
      return HttpResponse::Error(
          502, "RESPONSE_TOO_LARGE",
          absl::StrCat("the primary's answer is larger than ", kMaxRelayedBody >> 20,
                       " MiB; ask the primary directly"));
    }
    // The transport's message names the URL: its query string is left out.
    std::string why(r.status().message());
    absl::StrReplaceAll({{req.target, req.path}}, &why);
    log::Warn("a request sent on to the primary failed", {{"to", to}, {"error", why}});
    return HttpResponse::Error(
        502, "PRIMARY_UNREACHABLE",
        absl::StrCat("this secondary sends ", req.method,
                     " requests here to the primary, which is unreachable: ", why));
  }
  HttpResponse out;
  out.status = static_cast<int>(r->status);
  out.content_type = r->content_type;
  out.body = r->status / 100 == 2 ? std::move(body) : std::move(r->body);
  if (!r->location.empty()) out.headers.emplace_back("Location", r->location);
  if (!r->www_authenticate.empty())
    out.headers.emplace_back("WWW-Authenticate", r->www_authenticate);
  out.headers.emplace_back(kGeoProxyHeader, "1");
  return out;
}

}  // namespace georep::api
