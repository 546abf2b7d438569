// Who may call what on the site API: the admin token and the reads setting.
#include "api/admin_auth.h"

#include <sys/stat.h>

#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"

namespace georep::api {
namespace {

HttpRequest From(const std::string& address, const std::string& authorization = "") {
  HttpRequest r;
  r.method = "GET";
  r.remote_address = address;
  if (!authorization.empty()) r.headers["authorization"] = authorization;
  return r;
}

const AdminAuth kAuth{.token = "0123456789abcdef0123", .reads = "loopback"};

TEST(AdminAuthTest, MutatingRoutesNeedTheExactToken) {
  EXPECT_FALSE(CheckAdmin(kAuth, From("127.0.0.1", "Bearer 0123456789abcdef0123"), true));
  for (const char* header :
       {"", "Bearer ", "Bearer 0123456789abcdef012", "Bearer 0123456789abcdef01234",
        "bearer 0123456789abcdef0123", "Basic 0123456789abcdef0123"}) {
    auto refused = CheckAdmin(kAuth, From("127.0.0.1", header), true);
    ASSERT_TRUE(refused) << header;
    EXPECT_EQ(refused->status, 401);
  }
  // No token configured: refused, saying how to configure one.
  auto none = CheckAdmin({}, From("127.0.0.1"), true);
  ASSERT_TRUE(none);
  EXPECT_NE(none->body.find("admin.token_file"), std::string::npos);
}

TEST(AdminAuthTest, ReadsFollowTheSetting) {
  EXPECT_FALSE(CheckAdmin(kAuth, From("127.0.0.1"), false));
  EXPECT_FALSE(CheckAdmin(kAuth, From("::1"), false));
  EXPECT_FALSE(CheckAdmin(kAuth, From("::ffff:127.0.0.1"), false));
  EXPECT_TRUE(CheckAdmin(kAuth, From("10.0.0.7"), false));
  EXPECT_FALSE(CheckAdmin(kAuth, From("10.0.0.7", "Bearer 0123456789abcdef0123"), false));
  AdminAuth open = kAuth;
  open.reads = "open";
  EXPECT_FALSE(CheckAdmin(open, From("10.0.0.7"), false));
  AdminAuth strict = kAuth;
  strict.reads = "token";
  EXPECT_TRUE(CheckAdmin(strict, From("127.0.0.1"), false));
}

TEST(AdminAuthTest, TheTokenFileMustBePrivateAndLongEnough) {
  std::string dir = test::MakeTempDir("admin-auth");
  std::string file = dir + "/token";
  EXPECT_EQ(LoadAdminAuth(file, "loopback").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(file, "  0123456789abcdef0123\n", 0600).ok());
  auto auth = LoadAdminAuth(file, "loopback");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->token, "0123456789abcdef0123");
  chmod(file.c_str(), 0644);
  auto shared = LoadAdminAuth(file, "loopback");
  EXPECT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("chmod 600"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(file, "short\n", 0600).ok());
  EXPECT_EQ(LoadAdminAuth(file, "loopback").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LoadAdminAuth("", "loopback")->token.empty());
  test::RemoveTree(dir);
}

}  // namespace
}  // namespace georep::api
