// Relaying a request to the primary, against a real HTTP server standing in
// for it that answers with what it received.
#include "api/primary_proxy.h"

#include "absl/strings/str_cat.h"
#include "api/router.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "util/net.h"

namespace georep::api {
namespace {

// A "primary" that answers 201 with the method, target, headers and body it got.
class EchoPrimary {
 public:
  EchoPrimary()
      : server_(
            [](const HttpRequest& r) {
              if (r.path == "/big-404") {
                return HttpResponse::Text(404, std::string(kMaxRelayedBody + 1, 'x'));
              }
              nlohmann::json h = nlohmann::json::object();
              for (const auto& [k, v] : r.headers) h[k] = v;
              HttpResponse out = HttpResponse::Json(
                  r.path == "/denied" ? 401 : 201,
                  nlohmann::json{
                      {"method", r.method}, {"target", r.target}, {"headers", h}, {"body", r.body}}
                      .dump());
              out.headers.emplace_back("Location", "/created/7");
              if (r.path == "/denied") out.headers.emplace_back("WWW-Authenticate", "Basic");
              return out;
            },
            2) {
    auto port = server_.Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status();
    url_ = absl::StrCat("http://127.0.0.1:", port.ok() ? *port : 0);
    server_.Start();
  }
  ~EchoPrimary() { server_.Stop(); }
  const std::string& url() const { return url_; }

 private:
  HttpServer server_;
  std::string url_;
};

HttpRequest Write(const std::string& body) {
  HttpRequest req;
  req.method = "POST";
  req.target = "/api/v1/sample/upload?project_id=3";
  req.path = "/api/v1/sample/upload";
  req.query = "project_id=3";
  req.body = body;
  req.remote_address = "10.1.2.3";
  req.headers = {{"authorization", "Bearer user-token"},
                 {"content-type", "application/octet-stream"},
                 {"host", "eu.example:8080"},
                 {"connection", "keep-alive"},
                 {"x-forwarded-for", "192.0.2.9"},
                 {"x-custom", "kept"}};
  return req;
}

TEST(PrimaryProxyTest, ARequestReachesThePrimaryWithItsHeadersAndTheAnswerComesBack) {
  EchoPrimary primary;
  HttpResponse out = RelayToPrimary(Write("bytes \x01\x02"), primary.url(), /*tls=*/true);
  ASSERT_EQ(out.status, 201) << out.body;
  auto got = nlohmann::json::parse(out.body);
  EXPECT_EQ(got["method"], "POST");
  EXPECT_EQ(got["target"], "/api/v1/sample/upload?project_id=3");
  EXPECT_EQ(got["body"], "bytes \x01\x02");
  const auto& h = got["headers"];
  EXPECT_EQ(h["authorization"], "Bearer user-token") << "the primary decides on the credentials";
  EXPECT_EQ(h["content-type"], "application/octet-stream");
  EXPECT_EQ(h["x-custom"], "kept");
  EXPECT_EQ(h["x-forwarded-for"], "192.0.2.9, 10.1.2.3");
  EXPECT_EQ(h["x-forwarded-host"], "eu.example:8080");
  EXPECT_EQ(h["x-forwarded-proto"], "https");
  EXPECT_EQ(h["georep-geo-proxy"], "1");
  EXPECT_NE(h["host"], "eu.example:8080") << "the primary's own host";
  EXPECT_FALSE(h.contains("expect"));
  bool location = false, marker = false;
  for (const auto& [k, v] : out.headers) {
    location = location || (k == "Location" && v == "/created/7");
    marker = marker || (k == kGeoProxyHeader && v == "1");
  }
  EXPECT_TRUE(location);
  EXPECT_TRUE(marker);

  // An error answer comes back as it is, with its challenge.
  HttpRequest denied = Write("");
  denied.target = denied.path = "/denied";
  HttpResponse no = RelayToPrimary(denied, primary.url(), false);
  EXPECT_EQ(no.status, 401);
  bool challenge = false;
  for (const auto& [k, v] : no.headers) challenge = challenge || k == "WWW-Authenticate";
  EXPECT_TRUE(challenge);
}

// What a client says of the connection or of where it came from is not
// passed on; an error answer is held up to the cap, like any other.
TEST(PrimaryProxyTest, ConnectionScopedAndForwardingHeadersStayAndErrorAnswersAreCapped) {
  EchoPrimary primary;
  HttpRequest req = Write("x");
  req.headers["connection"] = "keep-alive, X-Secret-Hop";
  req.headers["x-secret-hop"] = "for this connection only";
  req.headers["forwarded"] = "for=203.0.113.7;proto=https";
  HttpResponse out = RelayToPrimary(req, primary.url(), false);
  ASSERT_EQ(out.status, 201) << out.body;
  const auto h = nlohmann::json::parse(out.body)["headers"];
  EXPECT_FALSE(h.contains("x-secret-hop")) << h.dump();
  EXPECT_FALSE(h.contains("forwarded")) << h.dump();
  EXPECT_EQ(h["x-custom"], "kept");

  HttpRequest big = Write("");
  big.target = big.path = "/big-404";
  HttpResponse capped = RelayToPrimary(big, primary.url(), false);
  EXPECT_EQ(capped.status, 502);
  EXPECT_NE(capped.body.find("RESPONSE_TOO_LARGE"), std::string::npos)
      << capped.body.substr(0, 200);
}

TEST(PrimaryProxyTest, AnUnreachablePrimaryIsA502NamingItAndALoopIsRefused) {
  auto port = FreeTcpPort();
  ASSERT_TRUE(port.ok());
  HttpResponse out = RelayToPrimary(Write("x"), absl::StrCat("http://127.0.0.1:", *port), false);
  EXPECT_EQ(out.status, 502);
  EXPECT_NE(out.body.find("PRIMARY_UNREACHABLE"), std::string::npos) << out.body;
  EXPECT_NE(out.body.find("unreachable"), std::string::npos) << out.body;

  EchoPrimary primary;
  HttpRequest again = Write("x");
  again.headers["georep-geo-proxy"] = "1";
  HttpResponse loop = RelayToPrimary(again, primary.url(), false);
  EXPECT_EQ(loop.status, 508) << loop.body;
}

// What a secondary sends on: the application's writes and unknown paths;
// its reads and Georep's own routes stay.
TEST(PrimaryProxyTest, TheRouterSaysWhatIsThePrimarys) {
  Router router;
  auto ok = [](const HttpRequest&, const PathParams&) { return HttpResponse::Json(200, "{}"); };
  router.Add("GET", "/api/v1/status", ok);
  router.Add("PUT", "/api/v1/sites/{name}", ok);
  router.SetDefaultScope(RouteScope::kApplication);
  router.Add("POST", "/api/v1/sample/{kind}", ok);
  router.Add("GET", "/api/v1/sample/{kind}/{id}", ok);
  router.Add("DELETE", "/api/v1/sample/{kind}/{id}", ok);
  router.SetDefaultScope(RouteScope::kGeorep);
  auto req = [](const std::string& method, const std::string& path) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    return r;
  };
  EXPECT_FALSE(router.ForPrimary(req("GET", "/api/v1/status")));
  EXPECT_FALSE(router.ForPrimary(req("PUT", "/api/v1/sites/eu")));
  EXPECT_FALSE(router.ForPrimary(req("GET", "/api/v1/sample/upload/4")));
  EXPECT_FALSE(router.ForPrimary(req("HEAD", "/api/v1/sample/upload/4")));
  EXPECT_TRUE(router.ForPrimary(req("POST", "/api/v1/sample/upload")));
  EXPECT_TRUE(router.ForPrimary(req("DELETE", "/api/v1/sample/upload/4")));
  EXPECT_TRUE(router.ForPrimary(req("PATCH", "/api/v1/sample/upload/4")));
  EXPECT_TRUE(router.ForPrimary(req("GET", "/users/sign_in")));
}

}  // namespace
}  // namespace georep::api
