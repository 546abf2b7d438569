#include "util/net.h"

#include "gtest/gtest.h"

namespace georep {
namespace {

TEST(NetTest, ParsesHostPort) {
  auto hp = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8080);
  auto v6 = ParseHostPort("[::1]:9");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9);
}

TEST(NetTest, RejectsBadHostPortNamingTheInput) {
  for (const char* bad : {"8080", ":80", "host:", "host:99999", "host:abc", "[::1]80"}) {
    auto hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << bad;
    EXPECT_NE(hp.status().message().find(bad), std::string::npos) << hp.status();
  }
}

TEST(NetTest, FreePortIsBindable) {
  auto port = FreeTcpPort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
}

}  // namespace
}  // namespace georep
