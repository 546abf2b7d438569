// The HTTP server (api/http_server.h): its listener and I/O threads, the
// connection limits applied as connections arrive, and the response
// helpers. Each connection is a session (http_session.cc).
#include "api/http_server.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/http_server_internal.h"
#include "nlohmann/json.hpp"
#include "util/mutex.h"

namespace georep::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using http_internal::Shared;

OpenFile::~OpenFile() {
  if (fd_ >= 0) close(fd_);
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  return HttpResponse{status, "application/json", {}, std::move(body)};
}
HttpResponse HttpResponse::Text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", {}, std::move(body)};
}
HttpResponse HttpResponse::Error(int status, absl::string_view code, absl::string_view message) {
  nlohmann::json j = {{"error", message}, {"code", code}};
  // A message may quote the request (its path): bytes that are not UTF-8
  // are replaced, not thrown on (which would answer 500).
  return Json(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
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

struct HttpServer::Impl {
  Shared shared;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> workers;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;

  void Accept() {
    acceptor->async_accept(
        asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            Begin(std::move(socket));
          } else if (ec == asio::error::no_descriptors) {
            // Out of file descriptors: wait a little rather than spin.
            auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
            timer->async_wait([this, timer](beast::error_code) {
              if (acceptor->is_open()) Accept();
            });
            return;
          }
          if (acceptor->is_open()) Accept();
        });
  }

  void Begin(tcp::socket socket) {
    beast::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    std::string client = ec ? "" : ep.address().to_string();
    if (!shared.Admit(client)) {
      // Past a limit: a short answer if the socket takes it now, and close.
      static constexpr char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
          "Content-Length: 20\r\nConnection: close\r\n\r\ntoo many connections";
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(kBusy, sizeof kBusy - 1), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    http_internal::StartSession(shared, client, std::move(socket));
  }
};

HttpServer::HttpServer(HttpHandler handler, int threads)
    : HttpServer(std::move(handler), HttpServerOptions{.threads = threads}) {}

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.handler = std::move(handler);
  impl_->shared.options = std::move(options);
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Listen(const std::string& host, int port) {
  const HttpServerOptions& o = impl_->shared.options;
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty())
      return absl::InvalidArgumentError("TLS needs both a certificate and a key");
    auto& tls = impl_->shared.tls.emplace(asio::ssl::context::tls_server);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    beast::error_code ec;
    tls.use_certificate_chain_file(o.tls_cert, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS certificate \"", o.tls_cert, "\": ", ec.message()));
    }
    tls.use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS key \"", o.tls_key, "\": ", ec.message()));
    }
  }
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
  for (int i = 0; i < std::max(1, impl_->shared.options.threads); ++i) {
    impl_->workers.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpServer::Stop() {
  if (!impl_ || impl_->workers.empty()) return;
  // Producers of streamed responses are told the client is gone, and
  // waited for: they touch the sessions they feed.
  {
    Shared& shared = impl_->shared;
    MutexLock l(&shared.mu);
    shared.stopping = true;
    for (auto& weak : shared.pipes) {
      if (auto pipe = weak.lock()) pipe->Fail();
    }
    shared.pipes.clear();
    auto idle = [&] {
      shared.mu.AssertReaderHeld();
      return shared.streams == 0;
    };
    shared.mu.Await(absl::Condition(&idle));
  }
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
