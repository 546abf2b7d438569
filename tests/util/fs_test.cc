#include "util/fs.h"

#include <filesystem>

#include "gtest/gtest.h"
#include "support/test_support.h"

namespace georep {
namespace {

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
