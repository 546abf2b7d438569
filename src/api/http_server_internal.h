// What the parts of the HTTP server (api/http_server.h) share: the request
// body type the sessions read into, the framing check, the request head
// taken from Beast's, and the state every session shares with its server.
// Private to src/api/ (http_server.cc, http_session.cc, http_request.cc).
#pragma once

#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange
// Boost.Asio and Beast.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "api/http_server.h"
#include "util/mutex.h"

namespace georep::api::http_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr uint64_t kUnadmittedBodyLimit = uint64_t{1} << 30;

// A request body kept in memory, or written to a file once the route has
// asked for that (Admission::spool) by setting `fd` before the body is read.
struct SpoolBody {
  struct value_type {
    std::string memory;
    int fd = -1;          // not owned
    uint64_t size = 0;    // bytes received
    int write_errno = 0;  // the file could not take them
  };
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        const char* p = static_cast<const char*>(b.data());
        if (body_.fd < 0) {
          body_.memory.append(p, b.size());
          n += b.size();
          continue;
        }
        for (size_t off = 0; off < b.size();) {
          ssize_t w = write(body_.fd, p + off, b.size() - off);
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            body_.write_errno = w < 0 ? errno : EIO;
            body_.size += n + off;
            ec = beast::error_code(body_.write_errno, beast::system_category());
            return n + off;
          }
          off += static_cast<size_t>(w);
        }
        n += b.size();
      }
      body_.size += n;
      ec = {};
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// An unlinked file to receive a body in; -1 with errno set if none.
int OpenSpoolFile(const std::string& dir_option);

// The framing is judged on the header, before any body is read: what a
// proxy in front could frame differently is refused (RFC 9112 §6.1, §6.3).
// "" when the header is sound.
std::string FramingError(const http::request_header<>& h);

// The request as the handler sees it, from Beast's (its body left out).
template <class Body>
HttpRequest Head(const http::request<Body>& req, const std::string& client) {
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
  request.remote_address = client;
  return request;
}

// The buffer between a streamed response's producer (its own thread) and
// the session that writes it (an I/O thread).
struct Pipe {
  Mutex mu;
  std::deque<std::string> chunks ABSL_GUARDED_BY(mu);
  size_t buffered ABSL_GUARDED_BY(mu) = 0;
  bool done ABSL_GUARDED_BY(mu) = false;     // the producer has returned
  bool gone ABSL_GUARDED_BY(mu) = false;     // the client is gone, or the server stops
  bool writing ABSL_GUARDED_BY(mu) = false;  // the session is draining

  void Fail() {
    MutexLock l(&mu);
    gone = true;
  }
  // Marks the session as draining; true if it was not (then it must be
  // kicked).
  bool StartWriting() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    bool start = !writing;
    writing = true;
    return start;
  }
};

// What every session shares with its server: the options, and the counts
// behind the connection and stream limits. Outlives every session.
struct Shared {
  HttpHandler handler;
  HttpServerOptions options;
  std::optional<asio::ssl::context> tls;

  Mutex mu;
  int connections ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, int> per_client ABSL_GUARDED_BY(mu);
  int streams ABSL_GUARDED_BY(mu) = 0;  // producers running
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::vector<std::weak_ptr<Pipe>> pipes ABSL_GUARDED_BY(mu);

  // Takes a connection slot for `client`; false past a limit.
  bool Admit(const std::string& client) {
    MutexLock l(&mu);
    if (stopping || connections >= options.max_connections ||
        per_client[client] >= options.max_connections_per_client) {
      if (per_client[client] == 0) per_client.erase(client);
      return false;
    }
    ++connections;
    ++per_client[client];
    return true;
  }
  void Release(const std::string& client) {
    MutexLock l(&mu);
    --connections;
    if (--per_client[client] <= 0) per_client.erase(client);
  }
};

// Serves the connection `socket` from `client` (TLS when the server has a
// context) until it closes; the session keeps itself alive.
void StartSession(Shared& shared, std::string client, tcp::socket socket);

}  // namespace georep::api::http_internal
