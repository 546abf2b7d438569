// An HTTP/1.1 server (Boost.Beast on Asio) that hands each request to one
// handler function. Beast stays inside the server's files (http_server.cc,
// http_session.cc, http_request.cc); callers see plain request and response
// structs.
//
// Keep-alive, TCP_NODELAY on every connection (without it small responses
// wait ~40 ms for a delayed ACK). The handler runs on one of `threads` I/O
// threads and may block briefly (a database query). Start/Stop are called from
// one thread; the handler must be thread-safe.
//
// A slow or hostile client cannot stall it (docs/design/hardening.md):
// - every read and write is asynchronous and timed: a header must arrive
//   within `header_timeout_seconds` of the connection or of the previous
//   response, and each step of a body or a response must move within
//   `stall_timeout_seconds`, else the connection is closed;
// - a streamed response is produced on a thread of its own, into a bounded
//   buffer the I/O threads drain as the client reads, so a client that stops
//   reading holds only its own producer, never an I/O thread;
// - connections are limited in total and per client address; past either
//   limit a connection is answered 503 and closed at once;
// - the request's header is admitted (`admit`) before any body is read: an
//   unknown route is refused without reading its body, and each route has
//   its own body limit.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace georep::api {

// A file descriptor a response owns: closed when its last copy goes.
class OpenFile {
 public:
  explicit OpenFile(int fd) : fd_(fd) {}
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// A request body received into an unlinked temporary file, mapped
// read-only: its pages are the file's, not the daemon's heap.
class SpooledBody {
 public:
  SpooledBody(int fd, uint64_t size);  // maps fd (owned) whole
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;
  bool ok() const { return size_ == 0 || addr_ != nullptr; }
  absl::string_view view() const {
    return absl::string_view(static_cast<const char*>(addr_), addr_ ? size_ : 0);
  }

 private:
  int fd_;
  void* addr_ = nullptr;
  uint64_t size_;
};

struct HttpRequest {
  std::string method;                          // "GET", …
  std::string target;                          // as sent: path and query
  std::string path;                            // percent-decoding is left to the route
  std::string query;                           // after '?', without it
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // empty when the body was spooled
  // Set when the route asked for its body on disk (Admission::spool).
  std::shared_ptr<const SpooledBody> spooled;
  std::string remote_address;

  // The body, wherever it was received.
  absl::string_view Body() const { return spooled ? spooled->view() : absl::string_view(body); }
  std::string Header(const std::string& lower_name) const;
  std::string QueryParam(const std::string& name) const;  // "" if absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the body is this open file from its start, with the size it
  // has now: served from the descriptor, so what was checked is what is sent.
  std::shared_ptr<const OpenFile> file;
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

// What the server may do with a request whose header has arrived (the
// request has no body yet): refuse it at once, or read a body of at most
// `body_limit` bytes (larger: 413 and close).
struct Admission {
  uint64_t body_limit = uint64_t{1} << 20;
  std::optional<HttpResponse> refuse;
  // Receive the body into a temporary file in HttpServerOptions::spool_dir
  // rather than memory (large uploads, Git packs): HttpRequest::spooled.
  bool spool = false;
};
using AdmitFunction = std::function<Admission(const HttpRequest& head)>;

struct HttpServerOptions {
  int threads = 4;
  int max_connections = 1024;
  int max_connections_per_client = 128;
  int max_streams = 64;  // streamed responses in flight; past it, 503
  double header_timeout_seconds = 60;
  double stall_timeout_seconds = 60;
  AdmitFunction admit;  // unset: every request admitted, bodies up to 1 GiB
  // Where spooled bodies are received (unlinked at once); "" is $TMPDIR or /tmp.
  std::string spool_dir;
  // HTTPS when both are set: PEM files, the certificate chain and its key.
  std::string tls_cert;
  std::string tls_key;
};

// Parses one request from `raw` as a session does: Beast's parser with its
// header limits, then the framing rules (InvalidArgument naming what is
// wrong) and the body limit (OutOfRange). For tests and fuzzing.
absl::StatusOr<HttpRequest> ParseRequest(absl::string_view raw, uint64_t body_limit);

class HttpServer {
 public:
  HttpServer(HttpHandler handler, int threads);
  HttpServer(HttpHandler handler, HttpServerOptions options);
  ~HttpServer();

  // Binds host:port (port 0: any free port); returns the bound port. With
  // TLS options, loads the certificate and key first (InvalidArgument
  // naming the file that does not load).
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
