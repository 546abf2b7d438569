// Reading a request safely: its framing judged on the header, its body in
// memory or in an unlinked file; ParseRequest, which does it as a session
// does; and HttpRequest's and SpooledBody's own functions.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "api/http_server.h"
#include "api/http_server_internal.h"

namespace georep::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::QueryParam(const std::string& name) const {
  for (absl::string_view part : absl::StrSplit(query, '&')) {
    size_t eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == absl::string_view::npos ? "" : std::string(part.substr(eq + 1));
  }
  return "";
}

SpooledBody::SpooledBody(int fd, uint64_t size) : fd_(fd), size_(size) {
  if (size_ > 0) {
    void* a = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (a != MAP_FAILED) addr_ = a;
  }
}

SpooledBody::~SpooledBody() {
  if (addr_ != nullptr) munmap(addr_, size_);
  if (fd_ >= 0) close(fd_);
}

namespace http_internal {

int OpenSpoolFile(const std::string& dir_option) {
  std::string dir = dir_option;
  if (dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  std::string tmpl = dir + "/georep-body-XXXXXX";
  fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd >= 0) unlink(tmpl.c_str());
  return fd;
}

std::string FramingError(const http::request_header<>& h) {
  int transfer_encodings = 0, lengths = 0, authorizations = 0, hosts = 0;
  std::string coding;
  for (const auto& field : h) {
    switch (field.name()) {
      case http::field::transfer_encoding:
        ++transfer_encodings;
        coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(
            absl::string_view(field.value().data(), field.value().size())));
        break;
      case http::field::content_length:
        ++lengths;
        break;
      case http::field::authorization:
        ++authorizations;
        break;
      case http::field::host:
        ++hosts;
        break;
      default:
        break;
    }
  }
  if (transfer_encodings > 0) {
    if (h.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    if (lengths > 0) return "both Transfer-Encoding and Content-Length";
    if (transfer_encodings > 1 || coding != "chunked") {
      return "Transfer-Encoding other than exactly \"chunked\"";
    }
  }
  // Origin form only: "@evil.example/x" or "http://…" is no path of ours.
  if (h.target().empty() || h.target()[0] != '/') {
    return "the request target is not a path starting with /";
  }
  if (lengths > 1) return "more than one Content-Length";
  if (authorizations > 1) return "more than one Authorization header";
  if (hosts > 1) return "more than one Host header";
  return "";
}

}  // namespace http_internal

absl::StatusOr<HttpRequest> ParseRequest(absl::string_view raw, uint64_t body_limit) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(http_internal::kUnadmittedBodyLimit);
  parser.eager(false);
  beast::error_code ec;
  size_t used = 0;
  while (!parser.is_header_done()) {
    size_t n = parser.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::need_more || (!ec && n == 0)) {
      return absl::InvalidArgumentError("incomplete header");
    }
    if (ec) return absl::InvalidArgumentError(ec.message());
  }
  std::string bad = http_internal::FramingError(parser.get());
  if (!bad.empty()) return absl::InvalidArgumentError(bad);
  if (auto length = parser.content_length(); length && *length > body_limit) {
    return absl::OutOfRangeError("the request body is too large for this route");
  }
  parser.body_limit(body_limit);
  parser.eager(true);
  while (!parser.is_done()) {
    size_t n = parser.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::body_limit || parser.get().body().size() > body_limit) {
      return absl::OutOfRangeError("the request body is too large for this route");
    }
    if (ec == http::error::need_more || (!ec && n == 0)) {
      return absl::InvalidArgumentError("incomplete body");
    }
    if (ec) return absl::InvalidArgumentError(ec.message());
  }
  HttpRequest request = http_internal::Head(parser.get(), "");
  request.body = std::move(parser.get().body());
  return request;
}

}  // namespace georep::api
