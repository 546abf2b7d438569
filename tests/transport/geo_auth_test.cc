#include "transport/geo_auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace georep::transport {
namespace {

constexpr int64_t kNow = 1800000000;
const std::string kSecret(64, 's');

std::string TokenOf(const std::string& header) { return ParseGeoAuthorization(header)->token; }

// A token with this header and these claims, signed with HMAC-SHA256 and
// `kSecret` whatever the header says.
std::string Forge(const std::string& header, const std::string& claims) {
  std::string signing =
      absl::StrCat(absl::WebSafeBase64Escape(header), ".", absl::WebSafeBase64Escape(claims));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return absl::StrCat(signing, ".",
                      absl::WebSafeBase64Escape(std::string(reinterpret_cast<char*>(mac), len)));
}

std::string Claims(int64_t iat, int64_t exp, const std::string& extra = "") {
  return absl::StrCat(R"({"data":"{\"replicable_name\":\"upload\",\"replicable_id\":42}","iat":)",
                      iat, R"(,"exp":)", exp, extra, "}");
}

TEST(GeoAuthTest, RoundTrip) {
  std::string data = BlobRequestData("upload", 42);
  std::string header = MakeGeoAuthorization("key1", kSecret, data, kNow);
  auto creds = ParseGeoAuthorization(header);
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(creds->access_key, "key1");
  EXPECT_TRUE(VerifyGeoToken(creds->token, kSecret, data, kNow + 30).ok());
  // The data claim is compared as JSON, not as text.
  EXPECT_TRUE(VerifyGeoToken(creds->token, kSecret,
                             R"({"replicable_id":42,"replicable_name":"upload"})", kNow)
                  .ok());
}

TEST(GeoAuthTest, RefusesForgeries) {
  std::string data = BlobRequestData("upload", 42);
  std::string token = TokenOf(MakeGeoAuthorization("k", kSecret, data, kNow));
  // Wrong secret.
  EXPECT_EQ(VerifyGeoToken(token, std::string(64, 'x'), data, kNow).code(),
            absl::StatusCode::kUnauthenticated);
  // Expired: life 60 s + leeway 60 s.
  EXPECT_TRUE(VerifyGeoToken(token, kSecret, data, kNow + 119).ok());
  EXPECT_EQ(VerifyGeoToken(token, kSecret, data, kNow + 121).code(),
            absl::StatusCode::kUnauthenticated);
  // Issued in the future beyond the leeway.
  EXPECT_EQ(VerifyGeoToken(token, kSecret, data, kNow - 61).code(),
            absl::StatusCode::kUnauthenticated);
  // Another item's token.
  auto other = VerifyGeoToken(token, kSecret, BlobRequestData("upload", 43), kNow);
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifyGeoToken(token, kSecret, BlobRequestData("lfs_object", 42), kNow).code(),
            absl::StatusCode::kPermissionDenied);
  // A tampered payload breaks the signature.
  std::string tampered = token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_EQ(VerifyGeoToken(tampered, kSecret, data, kNow).code(),
            absl::StatusCode::kUnauthenticated);
  // alg=none: header {"alg":"none","typ":"JWT"}, no signature.
  std::string none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
                     token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1) +
                     ".";
  EXPECT_EQ(VerifyGeoToken(none, kSecret, data, kNow).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyGeoToken("garbage", kSecret, data, kNow).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(GeoAuthTest, StrictHeaderLifetimeAndNotBefore) {
  std::string data = BlobRequestData("upload", 42);
  const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";
  ASSERT_TRUE(VerifyGeoToken(Forge(hs256, Claims(kNow, kNow + 60)), kSecret, data, kNow).ok())
      << "the forging helper makes valid tokens";
  // The algorithm's name is case-sensitive.
  auto lower = VerifyGeoToken(Forge(R"({"alg":"hs256","typ":"JWT"})", Claims(kNow, kNow + 60)),
                              kSecret, data, kNow);
  EXPECT_EQ(lower.code(), absl::StatusCode::kUnauthenticated) << lower;
  EXPECT_EQ(VerifyGeoToken(Forge(R"({"typ":"JWT"})", Claims(kNow, kNow + 60)), kSecret, data, kNow)
                .code(),
            absl::StatusCode::kUnauthenticated);
  // A lifetime of at most 10 minutes.
  EXPECT_TRUE(VerifyGeoToken(Forge(hs256, Claims(kNow, kNow + 600)), kSecret, data, kNow).ok());
  auto forever =
      VerifyGeoToken(Forge(hs256, Claims(kNow, kNow + 10 * 365 * 86400)), kSecret, data, kNow);
  EXPECT_EQ(forever.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(forever.message().find("lifetime"), std::string::npos) << forever;
  // Claims at the ends of the integers: no overflow lets one through.
  for (const auto& [iat, exp] :
       std::vector<std::pair<int64_t, int64_t>>{{INT64_MIN, kNow + 60},
                                                {kNow, INT64_MAX},
                                                {INT64_MIN, INT64_MAX},
                                                {kNow - 100000, kNow + 60}}) {
    auto odd = VerifyGeoToken(Forge(hs256, Claims(iat, exp)), kSecret, data, kNow);
    EXPECT_EQ(odd.code(), absl::StatusCode::kUnauthenticated) << iat << " " << exp << ": " << odd;
  }
  auto backwards = VerifyGeoToken(Forge(hs256, Claims(kNow, kNow - 5)), kSecret, data, kNow);
  EXPECT_EQ(backwards.code(), absl::StatusCode::kUnauthenticated) << backwards;
  // nbf is honoured (with the clock leeway).
  auto early =
      VerifyGeoToken(Forge(hs256, Claims(kNow, kNow + 300, absl::StrCat(",\"nbf\":", kNow + 200))),
                     kSecret, data, kNow);
  EXPECT_EQ(early.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(early.message().find("nbf"), std::string::npos) << early;
  EXPECT_TRUE(
      VerifyGeoToken(Forge(hs256, Claims(kNow, kNow + 300, absl::StrCat(",\"nbf\":", kNow + 200))),
                     kSecret, data, kNow + 200)
          .ok());
}

TEST(GeoAuthTest, MalformedHeaders) {
  for (const char* bad :
       {"", "Bearer x", "GL-Geo ", "GL-Geo nokey", "GL-Geo :tok", "GL-Geo key:"}) {
    EXPECT_EQ(ParseGeoAuthorization(bad).status().code(), absl::StatusCode::kUnauthenticated)
        << bad;
  }
}

}  // namespace
}  // namespace georep::transport
