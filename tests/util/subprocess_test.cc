#include "util/subprocess.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/test_support.h"
#include "util/fs.h"

namespace georep {
namespace {

TEST(SubprocessTest, CollectsOutputAndExitCodeWithoutAShell) {
  auto r = georep::Run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->output, "out\nerr\n");
  // An argument with shell syntax is passed through untouched.
  auto echo = georep::Run({"echo", "$(rm -rf /) ; `x`"});
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->output, "$(rm -rf /) ; `x`\n");
}

TEST(SubprocessTest, FeedsStdinAndSetsEnvironment) {
  RunOptions opt;
  opt.stdin_data = std::string(1 << 20, 'x');  // larger than a pipe buffer
  opt.extra_env = {"GEOREP_TEST_VAR=hello"};
  auto r = georep::Run({"sh", "-c", "wc -c; echo $GEOREP_TEST_VAR"}, opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "1048576\nhello\n");
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  auto r = georep::Run({"/nonexistent/program"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  auto checked = RunChecked({"sh", "-c", "echo boom; exit 1"});
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().message().find("boom"), std::string::npos);
}

TEST(SubprocessTest, DetachedProcessCanBeTerminated) {
  std::string dir = test::MakeTempDir("proc");
  auto pid = SpawnDetached({"sleep", "30"}, dir + "/log");
  ASSERT_TRUE(pid.ok());
  EXPECT_TRUE(ProcessAlive(*pid));
  // The command line changes once exec has happened.
  EXPECT_TRUE(test::WaitFor([&] { return ProcessCommandLine(*pid) == "sleep 30"; }, 5));
  EXPECT_TRUE(TerminateProcess(*pid, std::chrono::seconds(5)).ok());
  EXPECT_FALSE(ProcessAlive(*pid));
  test::RemoveTree(dir);
}

// A descriptor of this process opened without close-on-exec (as Asio opens
// its sockets) does not reach a child: a listener held by the git
// processes of a killed daemon would keep its port taken.
TEST(SubprocessTest, ChildrenInheritNoDescriptorButTheirStandardOnes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // inheritable
  ASSERT_GE(fd, 3);
  const std::string probe =
      absl::StrCat("if test -e /proc/$$/fd/", fd, "; then echo leaked; else echo closed; fi");
  auto r = georep::Run({"sh", "-c", probe});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "closed\n");
  std::string dir = test::MakeTempDir("proc");
  auto pid = SpawnDetached({"sh", "-c", probe}, dir + "/log");
  ASSERT_TRUE(pid.ok());
  std::string out;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto text = ReadFile(dir + "/log");
        out = text.ok() ? *text : "";
        return !out.empty();
      },
      10));
  EXPECT_EQ(out, "closed\n");
  close(fd);
  test::RemoveTree(dir);
}

}  // namespace
}  // namespace georep
