// Every validator of text a client sends, on the inputs that used to
// overflow std::regex's stack and kill the daemon (a 100,000-character
// project path, an equally long site URL): each is an InvalidArgument
// naming a short excerpt, never a crash.
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "sample/sample.h"
#include "site/sites.h"

namespace georep {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(ValidatorsTest, ProjectPathsAreGroupsAndAName) {
  for (const char* ok : {"g/p", "g.x/sub_1/p-2", "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u"}) {
    EXPECT_TRUE(sample::CheckProjectPath(ok).ok()) << ok;
  }
  // Its design repository "<name>.design.git" must fit a file name.
  EXPECT_TRUE(sample::CheckProjectPath("g/" + std::string(244, 'p')).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(sample::CheckProjectPath("g/" + std::string(245, 'p'))));
  for (const char* bad : {"p", "g/p.x", "g./p", "g..x/p", ".g/p", "g//p", "g/p/", "/g/p", "g/ p",
                          "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v", "g/\xff"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(sample::CheckProjectPath(bad))) << bad;
  }
}

TEST(ValidatorsTest, AHugeProjectPathIsRefusedNotACrash) {
  for (const std::string& huge : {std::string(100000, 'a'), Repeat("a/", 50000) + "p",
                                  "g/" + std::string(100000, 'p'), Repeat("a.", 50000) + "/p"}) {
    absl::Status s = sample::CheckProjectPath(huge);
    ASSERT_TRUE(absl::IsInvalidArgument(s));
    EXPECT_LT(s.message().size(), 400u) << "the message quotes an excerpt, not the input";
  }
}

TEST(ValidatorsTest, SiteUrlsAreHttpWithAHostAndAPortThatExists) {
  for (const char* ok : {"http://a", "https://eu.example.com:8443/geo", "http://10.0.0.2:1/"}) {
    EXPECT_TRUE(site::ValidateUrl("--url", ok).ok()) << ok;
  }
  for (const char* bad : {"ftp://a", "http://", "http://:80", "http://a:99999", "http://a:0",
                          "http://a:", "http://a b", "http://a?x", "http://a/b c", "a"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(site::ValidateUrl("--url", bad))) << bad;
  }
  for (const std::string& huge :
       {"http://" + std::string(100000, 'h'), "http://h/" + std::string(100000, 'p'),
        "http://h:" + std::string(100000, '9')}) {
    absl::Status s = site::ValidateUrl("--url", huge);
    ASSERT_TRUE(absl::IsInvalidArgument(s));
    EXPECT_LT(s.message().size(), 400u);
  }
}

TEST(ValidatorsTest, SelectiveSyncNamesAreBounded) {
  SelectiveSync ns{.kind = SelectiveSync::Kind::kNamespaces,
                   .namespaces = {Repeat("g/", 50000) + "g"}};
  EXPECT_TRUE(absl::IsInvalidArgument(site::ValidateSelectiveSync(ns)));
  ns.namespaces = {"group/sub"};
  EXPECT_TRUE(site::ValidateSelectiveSync(ns).ok());
  SelectiveSync shards{.kind = SelectiveSync::Kind::kShards, .shards = {std::string(100000, 's')}};
  EXPECT_TRUE(absl::IsInvalidArgument(site::ValidateSelectiveSync(shards)));
}

}  // namespace
}  // namespace georep
