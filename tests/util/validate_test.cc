#include "util/validate.h"

#include <string>

#include "gtest/gtest.h"

namespace georep {
namespace {

TEST(ValidateTest, NamesStartWithALetterOrDigitAndKeepToTheirCharacters) {
  EXPECT_TRUE(IsName("a", 63));
  EXPECT_TRUE(IsName("eu-west.2_b", 63));
  EXPECT_FALSE(IsName("", 63));
  EXPECT_FALSE(IsName("-a", 63));
  EXPECT_FALSE(IsName("a b", 63));
  EXPECT_FALSE(IsName("a/b", 63));
  EXPECT_FALSE(IsName("a.b", 63, "_-"));
  EXPECT_TRUE(IsName(std::string(63, 'x'), 63));
  EXPECT_FALSE(IsName(std::string(64, 'x'), 63));
  EXPECT_FALSE(IsName("caf\xc3\xa9", 63));
}

TEST(ValidateTest, IdentifiersAreLowerCase) {
  EXPECT_TRUE(IsLowerIdentifier("_x1", 63));
  EXPECT_FALSE(IsLowerIdentifier("_x1", 63, /*leading_underscore=*/false));
  EXPECT_FALSE(IsLowerIdentifier("1x", 63));
  EXPECT_FALSE(IsLowerIdentifier("X", 63));
  EXPECT_FALSE(IsLowerIdentifier(std::string(64, 'a'), 63));
}

TEST(ValidateTest, SlashPathsCountTheirSegments) {
  EXPECT_TRUE(IsSlashPath("a", 20, 100));
  EXPECT_TRUE(IsSlashPath("a/b.c/d", 20, 100));
  EXPECT_FALSE(IsSlashPath("a//b", 20, 100));
  EXPECT_FALSE(IsSlashPath("/a", 20, 100));
  EXPECT_FALSE(IsSlashPath("a/", 20, 100));
  std::string twenty = "a";
  for (int i = 1; i < 20; ++i) twenty += "/a";
  EXPECT_TRUE(IsSlashPath(twenty, 20, 100));
  EXPECT_FALSE(IsSlashPath(twenty + "/a", 20, 100));
}

TEST(ValidateTest, HugeInputsAreRefusedAtOnce) {
  // What overflowed std::regex's stack: answered, not a crash.
  std::string huge(100000, 'a');
  EXPECT_FALSE(IsName(huge, 63));
  std::string slashes;
  for (int i = 0; i < 50000; ++i) slashes += "a/";
  EXPECT_FALSE(IsSlashPath(slashes, 20, 100));
  EXPECT_EQ(Excerpt(huge, 10), "aaaaaaaaaa…");
  // A cut never splits a character: "é" is two bytes.
  EXPECT_EQ(Excerpt("aé" + std::string(10, 'b'), 2), "a…");
}

}  // namespace
}  // namespace georep
