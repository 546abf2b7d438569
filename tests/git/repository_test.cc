// The refs digest against git's own listing of the refs.
#include "git/repository.h"

#include <openssl/evp.h>

#include <array>
#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"

namespace georep::git {
namespace {

std::string Git(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "git", "-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.com"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = Run(argv);
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->output : "");
  return r.ok() ? r->output : "";
}

// The digest computed from `git show-ref --head`, as GitLab describes it.
std::string Expected(const std::string& dir) {
  static const std::regex kCounted(
      "^(HEAD|refs/(heads|tags|keep-around|merge-requests|environments|notes)/.*)$");
  std::array<unsigned char, 20> acc{};
  for (absl::string_view line : absl::StrSplit(Git(dir, {"show-ref", "--head"}), '\n')) {
    if (line.size() < 42) continue;
    if (!std::regex_match(std::string(line.substr(41)), kCounted)) continue;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(line.data(), line.size(), md, &n, EVP_sha1(), nullptr);
    for (size_t i = 0; i < acc.size(); ++i) acc[i] ^= md[i];
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(acc.data()), acc.size()));
}

class RefsChecksumTest : public ::testing::Test {
 protected:
  void SetUp() override { root_ = test::MakeTempDir("refs"); }
  void TearDown() override { test::RemoveTree(root_); }
  std::string root_;
};

TEST_F(RefsChecksumTest, EmptyRepositoryIsFortyZeros) {
  ASSERT_TRUE(InitBare(root_ + "/empty.git").ok());
  EXPECT_EQ(*RefsChecksum(root_ + "/empty.git"), kEmptyRefsChecksum);
  EXPECT_FALSE(InitBare(root_ + "/empty.git").ok());  // never over an existing one
}

TEST_F(RefsChecksumTest, MatchesGitsOwnListingOfLooseAndPackedRefs) {
  std::string work = root_ + "/work";
  Git(root_, {"init", "-q", "-b", "main", work});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WriteFileAtomic(absl::StrCat(work, "/f", i), absl::StrCat(i)).ok());
    Git(work, {"add", "-A"});
    Git(work, {"commit", "-q", "-m", absl::StrCat("c", i)});
    Git(work, {"tag", absl::StrCat("v", i)});
  }
  Git(work, {"branch", "topic", "HEAD~1"});
  Git(work, {"update-ref", "refs/keep-around/abc", "HEAD~2"});
  Git(work, {"update-ref", "refs/pipelines/1", "HEAD"});  // not counted
  Git(work, {"tag", "-a", "-m", "annotated", "v9"});
  std::string bare = root_ + "/copy.git";
  Git(root_, {"clone", "-q", "--mirror", work, bare});  // packed refs
  EXPECT_EQ(*RefsChecksum(bare), Expected(bare));
  EXPECT_NE(*RefsChecksum(bare), kEmptyRefsChecksum);
  // Loose refs beside packed ones; moving a ref changes the digest.
  std::string before = *RefsChecksum(bare);
  Git(bare, {"update-ref", "refs/heads/main", "refs/tags/v0"});
  EXPECT_EQ(*RefsChecksum(bare), Expected(bare));
  EXPECT_NE(*RefsChecksum(bare), before);
}

TEST_F(RefsChecksumTest, DamageIsAnErrorNotAnotherDigest) {
  EXPECT_FALSE(RefsChecksum(root_ + "/missing.git").ok());
  std::string work = root_ + "/w";
  Git(root_, {"init", "-q", "-b", "main", work});
  ASSERT_TRUE(WriteFileAtomic(work + "/f", "x").ok());
  Git(work, {"add", "-A"});
  Git(work, {"commit", "-q", "-m", "c"});
  std::string bare = root_ + "/b.git";
  Git(root_, {"clone", "-q", "--bare", work, bare});
  ASSERT_TRUE(WriteFileAtomic(bare + "/refs/heads/main", "not a hash\n").ok());
  auto sum = RefsChecksum(bare);
  EXPECT_FALSE(sum.ok()) << *sum;
}

}  // namespace
}  // namespace georep::git
