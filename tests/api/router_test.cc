#include "api/router.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace georep::api
