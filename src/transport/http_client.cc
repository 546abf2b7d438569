#include "transport/http_client.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace georep::transport {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct BodySink {
  CURL* curl;
  std::string* body;
  const std::function<bool(absl::string_view)>* on_body;
  size_t max_body = 0;  // 0: no cap
  bool exceeded = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  if (*sink->on_body) {
    long code = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code / 100 == 2) return (*sink->on_body)(absl::string_view(data, size * n)) ? size * n : 0;
  }
  if (sink->max_body > 0 && sink->body->size() + size * n > sink->max_body) {
    sink->exceeded = true;
    return 0;
  }
  sink->body->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  absl::string_view line(data, size * n);
  auto* result = static_cast<HttpResult*>(user);
  if (absl::StartsWithIgnoreCase(line, "HTTP/")) {
    result->location.clear();  // a new response (after a 100 Continue)
    result->www_authenticate.clear();
    result->headers.clear();
    return size * n;
  }
  if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    result->headers[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  if (absl::StartsWithIgnoreCase(line, "location:")) {
    result->location = std::string(absl::StripAsciiWhitespace(line.substr(9)));
  } else if (absl::StartsWithIgnoreCase(line, "www-authenticate:")) {
    result->www_authenticate = std::string(absl::StripAsciiWhitespace(line.substr(17)));
  }
  return size * n;
}

std::mutex ca_mu;
std::string& CaFile() {
  static std::string* path = new std::string;
  return *path;
}

}  // namespace

void SetTrustedCaFile(const std::string& path) {
  std::lock_guard<std::mutex> l(ca_mu);
  CaFile() = path;
}

std::string TrustedCaFile() {
  std::lock_guard<std::mutex> l(ca_mu);
  return CaFile();
}

absl::StatusOr<HttpResult> HttpRequest(const std::string& url, const RequestOptions& options) {
  GlobalInit();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  HttpResult result;
  curl_slist* headers = nullptr;
  for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_seconds * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  std::string ca = TrustedCaFile();
  if (!ca.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, options.method.c_str());
  if (options.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  const absl::string_view body = options.body_view ? *options.body_view : options.body;
  if (!body.empty() || options.method == "POST" || options.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  }
  if (!options.aws_sigv4.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, options.aws_sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, options.aws_credentials.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  BodySink sink{curl, &result.body, &options.on_body, options.max_body};
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result);
  CURLcode rc = curl_easy_perform(curl);
  absl::Status status = absl::OkStatus();
  if (rc != CURLE_OK && sink.exceeded) {
    status = absl::ResourceExhaustedError(absl::StrCat(
        options.method, " ", url, ": the answer is larger than ", options.max_body, " bytes"));
  } else if (rc != CURLE_OK) {
    status = CurlFailure(rc, absl::StrCat(options.method, " ", url, ": ", curl_easy_strerror(rc)));
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    char* ct = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) result.content_type = ct;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (!status.ok()) return status;
  return result;
}

namespace {
constexpr char kNotReached[] = "georep/not-reached";
}  // namespace

absl::Status NotReachedError(std::string message) {
  absl::Status s = absl::UnavailableError(std::move(message));
  s.SetPayload(kNotReached, absl::Cord());
  return s;
}

bool IsNotReached(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         status.GetPayload(kNotReached).has_value();
}

absl::Status CurlFailure(int rc, std::string message) {
  switch (static_cast<CURLcode>(rc)) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return NotReachedError(std::move(message));
    default:
      return absl::UnavailableError(std::move(message));
  }
}

absl::Status StatusFromHttp(long http_status, std::string message) {
  if (http_status == 404) return absl::NotFoundError(message);
  if (http_status == 401) return absl::UnauthenticatedError(message);
  if (http_status == 403) return absl::PermissionDeniedError(message);
  if (http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429)
    return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

}  // namespace georep::transport

namespace georep::transport {

absl::StatusOr<std::string> UrlHost(const std::string& url) {
  CURLU* h = curl_url();
  if (h == nullptr) return absl::ResourceExhaustedError("libcurl: out of memory");
  char* host = nullptr;
  std::string out;
  if (curl_url_set(h, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK && host != nullptr) {
    out = host;
  }
  if (host) curl_free(host);
  curl_url_cleanup(h);
  if (out.size() > 2 && out.front() == '[' && out.back() == ']')
    out = out.substr(1, out.size() - 2);
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("no host in URL \"", url, "\""));
  return out;
}

}  // namespace georep::transport
