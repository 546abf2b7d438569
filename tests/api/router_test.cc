#include "api/router.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace georep::api {
namespace {

HttpRequest Req(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

TEST(RouterTest, MatchesLiteralsAndPlaceholders) {
  Router router;
  router.Add("GET", "/api/v1/health",
             [](const HttpRequest&, const PathParams&) { return HttpResponse::Text(200, "ok"); });
  router.Add("POST", "/api/v1/replicables/{name}/{id}/resync",
             [](const HttpRequest&, const PathParams& p) {
               return HttpResponse::Text(202, p.at("name") + "#" + p.at("id"));
             });
  EXPECT_EQ(router.Handle(Req("GET", "/api/v1/health")).body, "ok");
  EXPECT_EQ(router.Handle(Req("HEAD", "/api/v1/health")).status, 200);
  auto r = router.Handle(Req("POST", "/api/v1/replicables/upload/42/resync"));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "upload#42");
}

TEST(RouterTest, UnknownPathIs404AndWrongMethodIs405InJson) {
  Router router;
  router.Add("GET", "/a",
             [](const HttpRequest&, const PathParams&) { return HttpResponse::Text(200, ""); });
  auto missing = router.Handle(Req("GET", "/b"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.content_type, "application/json");
  EXPECT_NE(missing.body.find("\"error\""), std::string::npos);
  EXPECT_EQ(router.Handle(Req("DELETE", "/a")).status, 405);
  EXPECT_EQ(router.Handle(Req("GET", "/a/extra")).status, 404);
}

// Admission on the header: the route's own body limit, or the answer
// Handle would give when there is no such route.
TEST(RouterTest, AdmitsOnTheHeaderWithEachRoutesBodyLimit) {
  Router router;
  auto ok = [](const HttpRequest&, const PathParams&) { return HttpResponse::Text(200, ""); };
  router.Add("GET", "/a", ok);
  router.Add("POST", "/upload/{kind}", ok, kUploadBodyLimit);
  Admission plain = router.Admit(Req("GET", "/a"));
  EXPECT_FALSE(plain.refuse.has_value());
  EXPECT_EQ(plain.body_limit, kDefaultBodyLimit);
  EXPECT_EQ(router.Admit(Req("POST", "/upload/x")).body_limit, kUploadBodyLimit);
  auto unknown = router.Admit(Req("POST", "/nowhere"));
  ASSERT_TRUE(unknown.refuse.has_value());
  EXPECT_EQ(unknown.refuse->status, 404);
  auto wrong_method = router.Admit(Req("PUT", "/a"));
  ASSERT_TRUE(wrong_method.refuse.has_value());
  EXPECT_EQ(wrong_method.refuse->status, 405);
}

// A path with bytes that are not UTF-8 is answered 404 with a JSON body,
// not 500.
TEST(RouterTest, APathThatIsNotUtf8IsNotFoundNotAnError) {
  Router router;
  router.Add("GET", "/api/v1/status",
             [](const HttpRequest&, const PathParams&) { return HttpResponse::Json(200, "{}"); });
  HttpRequest req;
  req.method = "GET";
  req.path = req.target = "/api/v1/\xff\xfe";
  HttpResponse r = router.Handle(req);
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(nlohmann::json::parse(r.body, nullptr, false).is_discarded()) << r.body;
}

}  // namespace
}  // namespace georep::api
