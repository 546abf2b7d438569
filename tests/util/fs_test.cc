#include "util/fs.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/sha256.h"

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
  // Found by fuzz_path: a NUL ends the name the system sees, so "..\0x" was
  // ".." and the root's parent was removed.
  EXPECT_EQ(RemoveBeneath(root, std::string("..\0x", 4), true).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(outside + "/secret"));
  test::RemoveTree(dir);
}

std::string ReadFd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(FsTest, OpenBeneathOpensOnlyRegularFilesBeneathTheRootWithoutLinks) {
  namespace fs = std::filesystem;
  std::string dir = test::MakeTempDir("fs");
  std::string root = dir + "/root", outside = dir + "/outside";
  fs::create_directories(root + "/a/b");
  fs::create_directories(outside);
  ASSERT_TRUE(WriteFileAtomic(root + "/a/b/file", "inside").ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/secret", "outside").ok());
  auto fd = OpenBeneath(root, "a/b/file");
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ReadFd(*fd), "inside");
  fs::create_directory_symlink(outside, root + "/linkdir");
  fs::create_symlink(outside + "/secret", root + "/a/linkfile");
  for (const char* through_link : {"linkdir/secret", "a/linkfile"}) {
    auto refused = OpenBeneath(root, through_link);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied)
        << through_link << ": " << refused.status();
  }
  for (const char* bad : {"", "/etc/passwd", "a/../../outside/secret", "./a/b/file", "a//b/file"}) {
    EXPECT_EQ(OpenBeneath(root, bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(OpenBeneath(root, "a/b/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenBeneath(root, "a/b").status().code(), absl::StatusCode::kNotFound)
      << "a folder is not a file to serve";
  test::RemoveTree(dir);
}

// A FIFO, a socket or a device node planted where a file should be is
// refused at once, saying what it is: opening a FIFO for reading would
// otherwise wait for a writer for ever.
TEST(FsTest, NothingButARegularFileIsOpenedAndNothingBlocks) {
  std::string root = test::MakeTempDir("fs-special");
  ASSERT_EQ(mkfifo((root + "/fifo").c_str(), 0644), 0);
  ASSERT_EQ(mknod((root + "/device").c_str(), S_IFCHR | 0644, makedev(1, 3)), 0);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s/socket", root.c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  for (const auto& [name, kind] : std::vector<std::pair<std::string, std::string>>{
           {"fifo", "a FIFO"}, {"device", "a device node"}, {"socket", "a socket"}}) {
    for (absl::Status s :
         {OpenBeneath(root, name).status(), OpenRegularFile(root + "/" + name).status(),
          Sha256File(root + "/" + name).status(), ReadFile(root + "/" + name).status()}) {
      EXPECT_TRUE(absl::IsNotFound(s)) << name << ": " << s;
      EXPECT_TRUE(absl::StrContains(s.message(), kind + ", not a regular file")) << s;
    }
  }
  close(sock);
  test::RemoveTree(root);
}

// A folder swapped for a link, and back, as fast as it goes, while files
// are opened beneath the root: not one byte from outside is ever read.
TEST(FsTest, OpenBeneathNeverServesOutsideTheRootDuringASymlinkSwapRace) {
  namespace fs = std::filesystem;
  std::string dir = test::MakeTempDir("fs");
  std::string root = dir + "/root", outside = dir + "/outside";
  fs::create_directories(root + "/store");
  fs::create_directories(outside);
  ASSERT_TRUE(WriteFileAtomic(root + "/store/blob", "inside").ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/blob", "outside").ok());
  auto swapper = std::make_unique<test::LinkSwapper>(root + "/store", outside);
  int inside = 0, outside_reads = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    auto fd = OpenBeneath(root, "store/blob");
    if (!fd.ok()) {
      ++refused;
      continue;
    }
    std::string got = ReadFd(*fd);
    if (got == "inside") ++inside;
    if (got == "outside") ++outside_reads;
  }
  const int swaps = swapper->swaps();
  swapper.reset();
  EXPECT_EQ(outside_reads, 0) << inside << " inside, " << refused << " refused, " << swaps
                              << " swaps";
  EXPECT_GT(inside, 0);
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

// Few files are synced one by one, many by their file system at once;
// either way what cannot be synced is named.
TEST(FsTest, FilesAreSyncedOneByOneOrByTheirFileSystemAtOnce) {
  std::string dir = test::MakeTempDir("fs");
  std::vector<std::string> few, many;
  for (int i = 0; i < 20; ++i) {
    std::string folder = absl::StrCat(dir, "/d", i % 4);
    ASSERT_TRUE(MakeDirs(folder).ok());
    std::string path = absl::StrCat(folder, "/f", i);
    ASSERT_TRUE(WriteFileAtomic(path, "x").ok());
    (i < 3 ? few : many).push_back(path);
  }
  ASSERT_LT(few.size(), kSyncFilesystemAt);
  ASSERT_GE(many.size(), kSyncFilesystemAt);
  for (const auto* paths : {&few, &many}) {
    EXPECT_TRUE(SyncFileData(*paths).ok());
    EXPECT_TRUE(SyncFolderEntries(*paths).ok());
  }
  auto gone_file = SyncFileData({dir + "/d0/f0", dir + "/d0/nope"});
  EXPECT_FALSE(gone_file.ok());
  EXPECT_NE(gone_file.message().find(dir + "/d0/nope"), std::string::npos) << gone_file;
  many.push_back(dir + "/nope/f");
  for (auto s : {SyncFileData(many), SyncFolderEntries(many)}) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(dir + "/nope"), std::string::npos) << s;
  }
  test::RemoveTree(dir);
}

}  // namespace
}  // namespace georep
