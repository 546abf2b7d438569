#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "transport/blob_download.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {
namespace fs = std::filesystem;

class BatchReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("batch-receiver-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<BatchPart> Parts(std::initializer_list<int64_t> ids) {
    std::vector<BatchPart> parts;
    for (int64_t id : ids) parts.push_back({id, (dir_ / std::to_string(id)).string()});
    return parts;
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
};

TEST_F(BatchReceiverTest, WritesEachPartWhateverTheChunking) {
  const std::string body = "7 200 5\nhello8 404 0\n9 200 0\n10 200 3\n\n\nx";
  for (size_t chunk : {body.size(), size_t{1}, size_t{4}}) {
    auto parts = Parts({7, 8, 9, 10});
    {
      BatchReceiver r(&parts);
      for (size_t at = 0; at < body.size(); at += chunk) {
        ASSERT_TRUE(r.Feed(body.data() + at, std::min(chunk, body.size() - at)))
            << r.error() << " at " << at << " in chunks of " << chunk;
      }
    }
    for (const auto& p : parts) EXPECT_TRUE(p.received) << p.id;
    EXPECT_EQ(parts[0].code, 200);
    EXPECT_EQ(Read(parts[0].dest), "hello");
    EXPECT_EQ(parts[0].sha256, Sha256Hex("hello"));
    EXPECT_EQ(parts[1].code, 404);
    EXPECT_FALSE(fs::exists(parts[1].dest)) << "nothing is written for a missing blob";
    EXPECT_EQ(Read(parts[2].dest), "");
    EXPECT_EQ(parts[2].sha256, Sha256Hex(""));
    EXPECT_EQ(Read(parts[3].dest), "\n\nx") << "bytes are bytes, newlines included";
    for (const auto& p : parts) fs::remove(p.dest);
  }
}

TEST_F(BatchReceiverTest, ABodyCutShortLeavesNoPartialFile) {
  auto parts = Parts({1, 2});
  {
    BatchReceiver r(&parts);
    std::string body = "1 200 2\nok2 200 10\nonly";
    ASSERT_TRUE(r.Feed(body.data(), body.size()));
  }  // the connection dropped here
  EXPECT_TRUE(parts[0].received);
  EXPECT_FALSE(parts[1].received);
  EXPECT_FALSE(fs::exists(parts[1].dest));
}

TEST_F(BatchReceiverTest, RefusesPartsItDidNotAskFor) {
  for (const std::string& body :
       std::vector<std::string>{"2 200 1\nx", "1 200 1\nx1 200 1\ny", "1 two 1\n", "1 404 3\nabc",
                                std::string(200, '1')}) {
    auto parts = Parts({1, 2});
    {
      BatchReceiver r(&parts);
      EXPECT_FALSE(r.Feed(body.data(), body.size())) << body;
      EXPECT_EQ(r.error().code(), absl::StatusCode::kDataLoss) << body;
    }
    EXPECT_FALSE(parts[1].received) << body;
    EXPECT_FALSE(fs::exists(parts[1].dest)) << body;
  }
}

}  // namespace
}  // namespace georep::transport
