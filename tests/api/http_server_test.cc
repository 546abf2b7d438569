#include "api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "transport/http_client.h"

namespace georep::api {
namespace {

TEST(HttpServerTest, ServesRequestsOnAnEphemeralPort) {
  std::atomic<int> calls{0};
  HttpServer server(
      [&](const HttpRequest& r) {
        ++calls;
        if (r.path == "/echo") {
          return HttpResponse::Text(200, absl::StrCat(r.method, " ", r.QueryParam("q"), " ",
                                                      r.Header("x-test"), " ", r.body));
        }
        if (r.path == "/throw") throw std::runtime_error("boom");
        return HttpResponse::Error(404, "NOT_FOUND", "no");
      },
      2);
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  std::string base = absl::StrCat("http://127.0.0.1:", *port);

  auto r = transport::HttpRequest(
      base + "/echo?q=1&x=2", {.method = "POST", .body = "payload", .headers = {"X-Test: yes"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST 1 yes payload");

  auto missing = transport::HttpRequest(base + "/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->content_type, "application/json");

  // A handler that throws answers 500 and the server keeps serving.
  auto thrown = transport::HttpRequest(base + "/throw");
  ASSERT_TRUE(thrown.ok());
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(transport::HttpRequest(base + "/echo")->status, 200);
  EXPECT_EQ(calls.load(), 4);

  server.Stop();
  EXPECT_FALSE(transport::HttpRequest(base + "/echo", {.timeout_seconds = 2}).ok());
}

// Sends `raw` on a fresh connection and reads until the server closes it or
// 10 s pass; `closed` says which.
struct RawReply {
  std::string text;
  bool closed = false;
};
RawReply Exchange(int port, const std::string& raw) {
  RawReply out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return out;
  }
  (void)!write(fd, raw.data(), raw.size());
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) {
      out.closed = true;
      break;
    }
    if (n < 0) break;  // timed out: still open
    out.text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// Requests a proxy could frame differently from this server are refused
// with 400 and the connection closed, so nothing can be smuggled behind
// them; a second Authorization header, and a target that is not a path,
// are refused too.
TEST(HttpServerTest, AmbiguousFramingIsRefusedAndTheConnectionClosed) {
  HttpServer server(
      [&](const HttpRequest& r) {
        return HttpResponse::Text(200, absl::StrCat("served ", r.method, " ", r.QueryParam("q"),
                                                    " auth=", r.Header("authorization")));
      },
      2);
  auto port = server.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  server.Start();
  const std::string smuggled = "GET /echo?q=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const char* head : {
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n"
           "Content-Length: 0\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           "Content-Length: 5\r\n\r\n0\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
           "0\r\n\r\n",
           "POST /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
           "Authorization: Bearer b\r\n\r\n",
           "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
           // Not a path: would become http://primary@evil.example/… in a redirect.
           "GET @evil.example/x.git/info/refs HTTP/1.1\r\nHost: x\r\n\r\n",
           "GET http://evil.example/x HTTP/1.1\r\nHost: x\r\n\r\n",
       }) {
    RawReply reply = Exchange(*port, std::string(head) + smuggled);
    EXPECT_TRUE(reply.closed) << head << reply.text;
    EXPECT_EQ(reply.text.find("served"), std::string::npos) << head << reply.text;
    // Refused with a 400, unless the parser gave up before one could be sent.
    if (!reply.text.empty()) {
      EXPECT_TRUE(reply.text.rfind("HTTP/1.1 400", 0) == 0 ||
                  reply.text.rfind("HTTP/1.0 400", 0) == 0)
          << head << reply.text;
    }
  }
  // A well-framed chunked request on the same server is served, and kept alive.
  RawReply fine = Exchange(*port,
                           "POST /echo?q=ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                           "\r\n\r\n0\r\n\r\n"
                           "GET /echo?q=smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(fine.text.find("served POST ok"), std::string::npos) << fine.text;
  EXPECT_NE(fine.text.find("served GET smuggled"), std::string::npos)
      << "a pipelined request after a well-framed one is an ordinary request: " << fine.text;
  server.Stop();
}

TEST(HttpServerTest, ListenOnBusyPortFailsClearly) {
  HttpServer a([](const HttpRequest&) { return HttpResponse::Text(200, ""); }, 1);
  auto port = a.Listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  HttpServer b([](const HttpRequest&) { return HttpResponse::Text(200, ""); }, 1);
  auto again = b.Listen("127.0.0.1", *port);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(absl::StrCat(*port)), std::string::npos)
      << again.status();
}

}  // namespace
}  // namespace georep::api
