#include "api/http_server.h"

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
