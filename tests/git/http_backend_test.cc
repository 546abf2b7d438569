// git http-backend started in a repository's folder opened by descriptor.
#include "git/http_backend.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"
#include "util/subprocess.h"

namespace georep::git {
namespace {

// A bare repository at `dir` whose one branch points at a commit of `text`;
// returns the commit's id.
std::string MakeRepository(const std::string& dir, const std::string& text) {
  std::string work = dir + ".work";
  test::Git({"init", "-q", "-b", "main", work});
  std::FILE* f = std::fopen((work + "/README").c_str(), "w");
  std::fputs(text.c_str(), f);
  std::fclose(f);
  test::Git({"-C", work, "add", "-A"});
  test::Git({"-C", work, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q",
             "-m", text});
  test::Git({"clone", "-q", "--bare", work, dir});
  auto head = RunChecked({"git", "-C", dir, "rev-parse", "main"});
  EXPECT_TRUE(head.ok()) << head.status();
  return head.ok() ? head->substr(0, 40) : "";
}

// The advertisement of `info/refs` for the repository `relative` under
// `root`, or "" when it is refused.
std::string Advertised(const std::string& root, const std::string& relative) {
  auto folder = OpenFolderBeneath(root, relative);
  if (!folder.ok()) return "";
  ScopedFd held(*folder);
  auto r = RunHttpBackend(
      held.get(), {.method = "GET", .path_info = "/info/refs", .query = "service=git-upload-pack"});
  if (!r.ok()) return "";
  std::string body;
  (*r)->Pump([&](absl::string_view piece) {
    body.append(piece.data(), piece.size());
    return true;
  });
  return body;
}

TEST(HttpBackendTest, ServesTheRepositoryItsDescriptorHolds) {
  std::string root = test::MakeTempDir("backend");
  std::string head = MakeRepository(root + "/group/app.git", "inside");
  std::string refs = Advertised(root, "group/app.git");
  EXPECT_NE(refs.find(head + " refs/heads/main"), std::string::npos) << refs;
  // A folder renamed after it was opened is still the one served.
  auto folder = OpenFolderBeneath(root, "group/app.git");
  ASSERT_TRUE(folder.ok()) << folder.status();
  ScopedFd held(*folder);
  std::filesystem::rename(root + "/group/app.git", root + "/group/moved.git");
  auto r = RunHttpBackend(
      held.get(), {.method = "GET", .path_info = "/info/refs", .query = "service=git-upload-pack"});
  ASSERT_TRUE(r.ok()) << r.status();
  std::string body;
  EXPECT_EQ((*r)->Pump([&](absl::string_view piece) {
    body.append(piece.data(), piece.size());
    return true;
  }),
            0);
  EXPECT_NE(body.find(head), std::string::npos) << body;
  test::RemoveTree(root);
}

// The group folder swapped for a link to another repository tree, and
// back, as fast as it goes, while the repository is served: the other
// tree's refs are never advertised.
TEST(HttpBackendTest, NeverServesARepositoryOutsideTheRootDuringASymlinkSwapRace) {
  std::string dir = test::MakeTempDir("backend");
  std::string root = dir + "/root", outside = dir + "/outside";
  std::string inside_head = MakeRepository(root + "/group/app.git", "inside");
  std::string outside_head = MakeRepository(outside + "/app.git", "outside");
  // Left in place a moment after each swap, so some requests find the
  // real folder.
  auto swapper =
      std::make_unique<test::LinkSwapper>(root + "/group", outside, std::chrono::microseconds(500));
  int inside = 0, outside_served = 0, refused = 0;
  for (int i = 0; i < 200; ++i) {
    std::string refs = Advertised(root, "group/app.git");
    if (refs.find(outside_head) != std::string::npos) ++outside_served;
    if (refs.find(inside_head) != std::string::npos) {
      ++inside;
    } else {
      ++refused;
    }
  }
  const int swaps = swapper->swaps();
  swapper.reset();
  EXPECT_EQ(outside_served, 0) << inside << " inside, " << refused << " refused, " << swaps
                               << " swaps";
  EXPECT_GT(inside, 0);
  std::printf("[ figures  ] %d served from inside, %d refused, %d swaps\n", inside, refused, swaps);
  test::RemoveTree(dir);
}

}  // namespace
}  // namespace georep::git
