#include "api/http_server.h"

// Beast's file body reads in blocks of this size (default 4 KiB, too small
// for fast blob serving). Only this file includes Beast.
#define BOOST_BEAST_FILE_BUFFER_SIZE (256 * 1024)
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "util/logging.h"

namespace georep::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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

HttpResponse HttpResponse::Json(int status, std::string body) {
  return HttpResponse{status, "application/json", {}, std::move(body)};
}
HttpResponse HttpResponse::Text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", {}, std::move(body)};
}
HttpResponse HttpResponse::Error(int status, absl::string_view code, absl::string_view message) {
  nlohmann::json j = {{"error", message}, {"code", code}};
  return Json(status, j.dump() + "\n");
}

HttpResponse HttpResponse::FromStatus(const absl::Status& status) {
  struct Mapping {
    int http;
    const char* code;
  };
  auto map = [](absl::StatusCode c) -> Mapping {
    switch (c) {
      case absl::StatusCode::kNotFound:
        return {404, "NOT_FOUND"};
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kOutOfRange:
        return {400, "BAD_REQUEST"};
      case absl::StatusCode::kAlreadyExists:
      case absl::StatusCode::kFailedPrecondition:
        return {409, "CONFLICT"};
      case absl::StatusCode::kPermissionDenied:
        return {403, "FORBIDDEN"};
      case absl::StatusCode::kUnauthenticated:
        return {401, "UNAUTHORIZED"};
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kResourceExhausted:
        return {503, "UNAVAILABLE"};
      case absl::StatusCode::kDeadlineExceeded:
        return {504, "TIMEOUT"};
      default:
        return {500, "INTERNAL"};
    }
  };
  Mapping m = map(status.code());
  return Error(m.http, m.code, status.message());
}

namespace {

constexpr uint64_t kBodyLimit = uint64_t{1} << 30;
constexpr auto kIdleTimeout = std::chrono::seconds(75);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // The framing is judged on the header, before any body is read: what a
  // proxy in front could frame differently is refused and the connection
  // closed (RFC 9112 §6.1, §6.3), so no second request can be smuggled.
  void OnHeader(beast::error_code ec) {
    if (ec) {
      OnRead(ec);
      return;
    }
    std::string bad = FramingError(parser_->get());
    if (!bad.empty()) {
      auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request,
                                                                     parser_->get().version());
      HttpResponse out = HttpResponse::Error(400, "BAD_REQUEST", bad);
      Prepare(*res, out, /*keep_alive=*/false);
      res->body() = std::move(out.body);
      res->prepare_payload();
      Send(res);
      return;
    }
    if (parser_->is_done()) {
      OnRead(ec);
      return;
    }
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  static std::string FramingError(const http::request_header<>& h) {
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

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    auto& req = parser_->get();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    size_t q = request.target.find('?');
    request.path = request.target.substr(0, q);
    if (q != std::string::npos) request.query = request.target.substr(q + 1);
    for (const auto& field : req) {
      request.headers[absl::AsciiStrToLower(absl::string_view(
          field.name_string().data(), field.name_string().size()))] = std::string(field.value());
    }
    request.body = std::move(req.body());
    beast::error_code ep_ec;
    auto ep = stream_.socket().remote_endpoint(ep_ec);
    if (!ep_ec) request.remote_address = ep.address().to_string();

    HttpResponse out;
    try {
      out = handler_(request);
    } catch (const std::exception& e) {
      log::Error("request handler threw", {{"path", request.path}, {"error", e.what()}});
      out = HttpResponse::Error(500, "INTERNAL", "internal error");
    }
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    if (out.stream) {
      SendStream(out, keep_alive, version);
      return;
    }
    if (!out.file_path.empty()) {
      http::file_body::value_type file;
      beast::error_code fec;
      file.open(out.file_path.c_str(), beast::file_mode::scan, fec);
      if (!fec) {
        auto res = std::make_shared<http::response<http::file_body>>(
            static_cast<http::status>(out.status), version);
        Prepare(*res, out, keep_alive);
        res->body() = std::move(file);
        res->prepare_payload();
        Send(res);
        return;
      }
      out = HttpResponse::Error(404, "FILE_NOT_FOUND", "file not found");
      out.body = R"({"error":"file not found","geo_code":"FILE_NOT_FOUND"})"
                 "\n";
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(out.status), version);
    Prepare(*res, out, keep_alive);
    res->body() = std::move(out.body);
    res->prepare_payload();
    Send(res);
  }

  // A chunked body produced by out.stream, written synchronously: the
  // producer (a git process) paces it.
  void SendStream(const HttpResponse& out, bool keep_alive, unsigned version) {
    http::response<http::empty_body> res{static_cast<http::status>(out.status), version};
    Prepare(res, out, keep_alive);
    res.chunked(true);
    stream_.expires_never();
    beast::error_code ec;
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(stream_, sr, ec);
    bool ok = !ec;
    out.stream([&](absl::string_view piece) {
      if (!ok) return false;
      if (piece.empty()) return true;
      asio::write(stream_, http::make_chunk(asio::buffer(piece.data(), piece.size())), ec);
      ok = !ec;
      return ok;
    });
    if (ok) asio::write(stream_, http::make_chunk_last(), ec);
    if (!ok || ec || !keep_alive) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    Read();
  }

  template <typename Response>
  static void Prepare(Response& res, const HttpResponse& out, bool keep_alive) {
    res.set(http::field::server, "georep");
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    res.keep_alive(keep_alive);
  }

  template <typename Response>
  void Send(std::shared_ptr<Response> res) {
    bool close = res->need_eof();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, close](beast::error_code ec, size_t) {
                        if (ec) return;
                        if (close) {
                          beast::error_code ignored;
                          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                          return;
                        }
                        self->Read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
};

}  // namespace

struct HttpServer::Impl {
  HttpHandler handler;
  int threads;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> workers;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;

  void Accept() {
    acceptor->async_accept(asio::make_strand(ioc),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec == asio::error::operation_aborted) return;
                             if (!ec) {
                               beast::error_code ignored;
                               socket.set_option(tcp::no_delay(true), ignored);
                               std::make_shared<Session>(std::move(socket), handler)->Run();
                             }
                             if (acceptor->is_open()) Accept();
                           });
  }
};

HttpServer::HttpServer(HttpHandler handler, int threads) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->threads = threads;
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Listen(const std::string& host, int port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", host, "\": ", ec.message()));
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  auto& acc = impl_->acceptor.emplace(impl_->ioc);
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("listen on ", host, ":", port, ": ", ec.message()));
  }
  return acc.local_endpoint().port();
}

void HttpServer::Start() {
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->Accept();
  for (int i = 0; i < impl_->threads; ++i) {
    impl_->workers.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpServer::Stop() {
  if (!impl_ || impl_->workers.empty()) return;
  impl_->guard.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  // No thread runs now: close the listening socket so new connections are
  // refused rather than left waiting in the backlog.
  beast::error_code ignored;
  if (impl_->acceptor) impl_->acceptor->close(ignored);
}

}  // namespace georep::api
