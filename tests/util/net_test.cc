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

TEST(NetTest, AddressListsMatchAddressesAndRanges) {
  auto list = ParseAddressList("10.0.0.0/8, 192.168.1.7 2001:db8::/32,,\t127.0.0.1/32");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->size(), 4u);
  for (const char* in : {"10.0.0.1", "10.255.255.255", "192.168.1.7", "2001:db8::1",
                         "2001:db8:ffff::", "127.0.0.1", "::ffff:10.2.3.4"}) {
    EXPECT_TRUE(AddressInList(*list, in)) << in;
  }
  for (const char* out : {"11.0.0.1", "9.255.255.255", "192.168.1.8", "2001:db9::1", "127.0.0.2",
                          "::1", "", "not-an-address", "10.0.0.1/8"}) {
    EXPECT_FALSE(AddressInList(*list, out)) << out;
  }
  auto odd = ParseAddressList("172.16.0.0/12");  // a prefix that is not a whole byte
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(AddressInList(*odd, "172.31.255.255"));
  EXPECT_FALSE(AddressInList(*odd, "172.32.0.0"));
  EXPECT_TRUE(AddressInList(*ParseAddressList("0.0.0.0/0"), "203.0.113.9"));
  EXPECT_TRUE(ParseAddressList("")->empty());
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/33", "::/129", "eu.example",
                          "10.0.0", "10.0.0.0/8x"}) {
    auto r = ParseAddressList(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status();
    }
  }
}

TEST(NetTest, FreePortIsBindable) {
  auto port = FreeTcpPort();
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
}

}  // namespace
}  // namespace georep
