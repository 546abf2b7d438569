#include "util/subprocess.h"

#include <chrono>

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

}  // namespace
}  // namespace georep
