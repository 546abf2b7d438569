#include "util/fs.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep {
namespace {

// A folder swapped for a symbolic link after a copy was made must not let a
// delete reach outside the root: not for a file, not for a tree.
TEST(FsTest, RemoveBeneathNeverFollowsASymbolicLink) {
  namespace fs = std::filesystem;
  std::string dir = test::MakeTempDir("fs");
  std::string root = dir + "/root", outside = dir + "/outside";
  fs::create_directories(root + "/group/project.git/objects");
  fs::create_directories(outside + "/victim.git");
  ASSERT_TRUE(WriteFileAtomic(outside + "/secret", "keep").ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/victim.git/HEAD", "keep").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/group/project.git/HEAD", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(root + "/group/file", "x").ok());
  // A link inside a tree being removed is removed, not followed.
  fs::create_directory_symlink(outside, root + "/group/project.git/objects/evil");
  ASSERT_TRUE(RemoveBeneath(root, "group/project.git", /*recursive=*/true).ok());
  EXPECT_FALSE(fs::exists(root + "/group/project.git"));
  EXPECT_TRUE(fs::exists(outside + "/secret"));
  EXPECT_TRUE(fs::exists(outside + "/victim.git/HEAD"));
  // A folder on the way swapped for a link: refused, nothing outside touched.
  ASSERT_TRUE(RemoveBeneath(root, "group/file", /*recursive=*/false).ok());
  fs::remove_all(root + "/group");
  fs::create_directory_symlink(outside, root + "/group");
  auto file = RemoveBeneath(root, "group/secret", false);
  EXPECT_EQ(file.code(), absl::StatusCode::kPermissionDenied) << file;
  auto tree = RemoveBeneath(root, "group/victim.git", true);
  EXPECT_EQ(tree.code(), absl::StatusCode::kPermissionDenied) << tree;
  EXPECT_TRUE(fs::exists(outside + "/secret"));
  EXPECT_TRUE(fs::exists(outside + "/victim.git/HEAD"));
  // The last segment a link: the link goes, not what it points at.
  fs::remove(root + "/group");
  fs::create_directory_symlink(outside, root + "/linked.git");
  ASSERT_TRUE(RemoveBeneath(root, "linked.git", true).ok());
  EXPECT_FALSE(fs::is_symlink(root + "/linked.git"));
  EXPECT_TRUE(fs::exists(outside + "/victim.git/HEAD"));
  // Missing is fine; odd paths are refused.
  EXPECT_TRUE(RemoveBeneath(root, "no/such/file", false).ok());
  for (const char* bad : {"", "/etc/passwd", "a/../b", "./a", "a//b"}) {
    EXPECT_EQ(RemoveBeneath(root, bad, false).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  test::RemoveTree(dir);
}

TEST(FsTest, AtomicWriteReplacesWholeAndLeavesNoTempFile) {
  std::string dir = test::MakeTempDir("fs");
  std::string path = dir + "/f";
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two two").ok());
  EXPECT_EQ(*ReadFile(path), "two two");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(ReadFile(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(WriteFileAtomic(dir + "/no/such/dir/f", "x").ok());
  test::RemoveTree(dir);
}

TEST(FsTest, ParentFoldersAreSyncedOncePerFolder) {
  std::string dir = test::MakeTempDir("fs");
  ASSERT_TRUE(MakeDirs(dir + "/x/y/z").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/x/y/z"));
  auto n = SyncParentDirectories({dir + "/x/y/z/a", dir + "/x/y/z/b", dir + "/x/c"});
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  auto missing = SyncParentDirectories({dir + "/nope/f"});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir + "/nope"), std::string::npos) << missing.status();
  test::RemoveTree(dir);
}

}  // namespace
}  // namespace georep
