// An HTTP/1.1 server (Boost.Beast on Asio) that hands each request to one
// handler function. Beast stays inside http_server.cc; callers see plain
// request and response structs.
//
// Keep-alive, TCP_NODELAY on every connection (without it small responses
// wait ~40 ms for a delayed ACK). The handler runs on one of `threads` I/O
// threads and may block briefly (a database query). Start/Stop are called from
// one thread; the handler must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::api {

struct HttpRequest {
  std::string method;                          // "GET", …
  std::string target;                          // as sent: path and query
  std::string path;                            // percent-decoding is left to the route
  std::string query;                           // after '?', without it
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string remote_address;

  std::string Header(const std::string& lower_name) const;
  std::string QueryParam(const std::string& name) const;  // "" if absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the body is this file, streamed from disk (never held whole in
  // memory); a file that cannot be opened answers 404.
  std::string file_path;
  // When set, the body is produced by this function, sent chunked as it
  // comes: it calls `write` for each piece (false: the client is gone). It
  // runs on the I/O thread, like the handler.
  using Writer = std::function<bool(absl::string_view)>;
  std::function<void(const Writer& write)> stream;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body);
  // {"error": message, "code": code}
  static HttpResponse Error(int status, absl::string_view code, absl::string_view message);
  // The error of a failed operation: the one mapping of status codes to HTTP
  // for the whole API (NotFound 404, InvalidArgument 400, AlreadyExists and
  // FailedPrecondition 409, PermissionDenied 403, Unauthenticated 401,
  // Unavailable and ResourceExhausted 503, DeadlineExceeded 504, else 500).
  static HttpResponse FromStatus(const absl::Status& status);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer(HttpHandler handler, int threads);
  ~HttpServer();

  // Binds host:port (port 0: any free port); returns the bound port.
  absl::StatusOr<int> Listen(const std::string& host, int port);
  // Starts the I/O threads; returns at once.
  void Start();
  // Stops accepting, closes connections, joins the threads.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace georep::api
