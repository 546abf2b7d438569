// The Git LFS API's answers to what a client may send, on a primary, with
// the application's store and access rule stood in by fakes (the real
// ones, and real git-lfs clients, are in e2e/lfs_test.cc).
#include "api/lfs_routes.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "framework/spec/spec.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "util/sha256.h"

namespace georep::api {
namespace {

using nlohmann::json;

const std::string kBytes = "the bytes of an LFS object\n";
const std::string kOid = Sha256Hex(kBytes);
const std::string kOther = std::string(64, 'a');

class LfsRoutesTest : public test::PgTest {
 protected:
  void SetUp() override {
    test::PgTest::SetUp();
    site::Site self{.id = 1, .name = "primary", .url = "https://primary.example/", .primary = true};
    role_ = std::make_unique<site::LiveRole>(site::RoleState{.self = self, .primary = self});
    for (const auto& s : framework::BuiltinReplicables()) {
      if (s.name == "lfs_object") spec_ = s;
    }
    ctx_.role = role_.get();
    ctx_.main_conninfo = conninfo_;
    ctx_.spec = &spec_;
    ctx_.store.replicable = "lfs_object";
    ctx_.store.find = [this](db::Connection&, const std::string& repo,
                             const std::string& oid) -> absl::StatusOr<std::optional<LfsObject>> {
      auto it = objects_.find(repo + " " + oid);
      if (it == objects_.end()) return std::optional<LfsObject>();
      return std::optional<LfsObject>(it->second);
    };
    ctx_.blobs = framework::LocalFiles("/nowhere");
    ctx_.store.store = [this](db::Connection&, const framework::BlobStore&, const std::string& repo,
                              const std::string& oid, absl::string_view bytes) {
      stored_[repo + " " + oid] = std::string(bytes);
      return absl::OkStatus();
    };
    ctx_.access = [this](const HttpRequest& req, const std::string& repo, bool push) {
      asked_.push_back(absl::StrCat(repo, push ? " push" : " read"));
      std::string auth = req.Header("authorization");
      if (auth.empty()) return absl::UnauthenticatedError("a token is required");
      if (auth == "Basic reader" && push) return absl::PermissionDeniedError("read only");
      return absl::OkStatus();
    };
    objects_["g/p.git " + kOid] = LfsObject{7, static_cast<int64_t>(kBytes.size())};
  }

  HttpResponse Send(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& auth = "Basic writer") {
    HttpRequest req;
    req.method = method;
    req.path = req.target = path;
    req.body = body;
    req.headers = {{"host", "attacker.example"}, {"content-type", "application/vnd.git-lfs+json"}};
    if (!auth.empty()) req.headers["authorization"] = auth;
    auto r = HandleLfs(ctx_, req);
    EXPECT_TRUE(r.has_value()) << method << " " << path << " is an LFS request";
    return r ? *r : HttpResponse::Error(599, "NONE", "not handled");
  }
  HttpResponse Batch(const std::string& body, const std::string& auth = "Basic writer") {
    return Send("POST", "/g/p.git/info/lfs/objects/batch", body, auth);
  }
  static std::string Objects(const std::string& op, const std::vector<std::string>& oids) {
    json j = {{"operation", op}, {"transfers", {"basic"}}, {"objects", json::array()}};
    for (const auto& o : oids) j["objects"].push_back({{"oid", o}, {"size", 3}});
    return j.dump();
  }

  std::unique_ptr<site::LiveRole> role_;
  ReplicableSpec spec_;
  LfsRouteContext ctx_;
  std::map<std::string, LfsObject> objects_;
  std::map<std::string, std::string> stored_;
  std::vector<std::string> asked_;
};

TEST_F(LfsRoutesTest, ADownloadBatchNamesThisSiteWithTheClientsCredentials) {
  auto r = Batch(Objects("download", {kOid, kOther}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/vnd.git-lfs+json");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["transfer"], "basic");
  const json& have = j["objects"][0];
  EXPECT_EQ(have["size"], kBytes.size()) << "the object's own size, not the one asked";
  // Built from the site's URL, not from the request's Host header.
  EXPECT_EQ(have["actions"]["download"]["href"],
            "https://primary.example/g/p.git/info/lfs/objects/" + kOid);
  EXPECT_EQ(have["actions"]["download"]["header"]["Authorization"], "Basic writer");
  EXPECT_EQ(j["objects"][1]["error"]["code"], 404) << r.body;
  EXPECT_EQ(asked_, std::vector<std::string>{"g/p.git read"});
}

TEST_F(LfsRoutesTest, AnUploadBatchAsksOnlyForWhatIsMissingAndNeedsPushAccess) {
  auto r = Batch(Objects("upload", {kOid, kOther}));
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_FALSE(j["objects"][0].contains("actions")) << "already there: nothing to send";
  EXPECT_EQ(j["objects"][1]["actions"]["upload"]["href"],
            "https://primary.example/g/p.git/info/lfs/objects/" + kOther);
  EXPECT_EQ(asked_, std::vector<std::string>{"g/p.git push"});
  EXPECT_EQ(Batch(Objects("upload", {kOther}), "Basic reader").status, 403);
  auto anonymous = Batch(Objects("download", {kOid}), "");
  EXPECT_EQ(anonymous.status, 401);
  bool challenged = false;
  for (const auto& [name, value] : anonymous.headers) challenged |= name == "LFS-Authenticate";
  EXPECT_TRUE(challenged) << "git-lfs asks for credentials on LFS-Authenticate";
}

TEST_F(LfsRoutesTest, MalformedBatchesAreRefusedNamingWhatIsWrong) {
  struct Case {
    std::string body;
    int status;
    std::string names;
  };
  std::string many = R"({"operation": "download", "objects": [)";
  for (int i = 0; i < 1001; ++i) {
    absl::StrAppend(&many, i ? "," : "", R"({"oid": ")", kOther, R"(", "size": 1})");
  }
  many += "]}";
  const std::vector<Case> cases = {
      {"not json", 422, "JSON"},
      {R"({"operation": "delete", "objects": []})", 422, "operation"},
      {R"({"operation": "download", "objects": {}})", 422, "objects"},
      {R"({"operation": "download", "transfers": ["tus"], "objects": []})", 422, "basic"},
      {R"({"operation": "download", "hash_algo": "sha1", "objects": []})", 409, "SHA-256"},
      {absl::StrCat(R"({"operation": "download", "objects": [{"oid": ")", std::string(64, 'A'),
                    R"(", "size": 1}]})"),
       422, "oid"},
      {R"({"operation": "download", "objects": [{"oid": "../../etc/passwd", "size": 1}]})", 422,
       "oid"},
      {absl::StrCat(R"({"operation": "download", "objects": [{"oid": ")", kOther,
                    R"(", "size": -1}]})"),
       422, "size"},
      {many, 422, "at most 1000"},
  };
  for (const auto& c : cases) {
    auto r = Batch(c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " → " << r.body;
    EXPECT_NE(r.body.find(c.names), std::string::npos) << r.body;
  }
  EXPECT_EQ(Send("GET", "/g/p.git/info/lfs/objects/batch", "").status, 405);
  EXPECT_TRUE(stored_.empty());
}

TEST_F(LfsRoutesTest, AnUploadIsStoredOnlyWhenItsBytesAreItsOid) {
  const std::string href = "/g/p.git/info/lfs/objects/" + kOther;
  auto forged = Send("PUT", href, kBytes);
  EXPECT_EQ(forged.status, 422) << forged.body;
  EXPECT_NE(forged.body.find(kOid), std::string::npos) << "names the bytes' real SHA-256";
  EXPECT_TRUE(stored_.empty());
  EXPECT_EQ(Send("PUT", "/g/p.git/info/lfs/objects/" + kOid, kBytes, "Basic reader").status, 403);
  EXPECT_TRUE(stored_.empty());
  auto ok = Send("PUT", "/g/p.git/info/lfs/objects/" + kOid, kBytes);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(stored_["g/p.git " + kOid], kBytes);
}

TEST_F(LfsRoutesTest, OnlyPlainRepositoryPathsAndOidsAreLfsRequests) {
  for (const std::string& path : std::vector<std::string>{
           "/g/p/info/lfs/objects/batch", "/../p.git/info/lfs/objects/batch",
           "/g/.hidden.git/info/lfs/objects/batch", "/g/p.git/info/lfs/objects/batch/x",
           "/g/p.git/info/lfs/objects/" + kOid.substr(1), "/g/p.git/info/lfs/locks/verify",
           "/g/p.git/info/lfs/objects/" + kOid + "/../x"}) {
    HttpRequest req;
    req.method = "POST";
    req.path = req.target = path;
    EXPECT_FALSE(HandleLfs(ctx_, req).has_value()) << path;
    EXPECT_FALSE(AdmitLfs(req).has_value()) << path;
  }
  HttpRequest put;
  put.method = "PUT";
  put.path = "/g/sub/p.git/info/lfs/objects/" + kOid;
  auto admitted = AdmitLfs(put);
  ASSERT_TRUE(admitted.has_value());
  EXPECT_TRUE(admitted->spool) << "an upload is received on disk";
  EXPECT_EQ(admitted->body_limit, kUploadBodyLimit);
}

}  // namespace
}  // namespace georep::api
