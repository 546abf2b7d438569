#include "transport/geo_auth.h"

#include "gtest/gtest.h"

namespace georep::transport {
namespace {

constexpr int64_t kNow = 1800000000;
const std::string kSecret(64, 's');

std::string TokenOf(const std::string& header) { return ParseGeoAuthorization(header)->token; }

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

TEST(GeoAuthTest, MalformedHeaders) {
  for (const char* bad :
       {"", "Bearer x", "GL-Geo ", "GL-Geo nokey", "GL-Geo :tok", "GL-Geo key:"}) {
    EXPECT_EQ(ParseGeoAuthorization(bad).status().code(), absl::StatusCode::kUnauthenticated)
        << bad;
  }
}

}  // namespace
}  // namespace georep::transport
