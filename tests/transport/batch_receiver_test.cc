#include <map>
#include <memory>

#include "gtest/gtest.h"
#include "transport/blob_download.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {

// What a part's sink was given.
class Collected : public BodySink {
 public:
  absl::Status Write(absl::string_view piece) override {
    written_ = true;
    bytes_.append(piece.data(), piece.size());
    return absl::OkStatus();
  }
  bool written() const { return written_; }
  const std::string& bytes() const { return bytes_; }

 private:
  bool written_ = false;
  std::string bytes_;
};

class BatchReceiverTest : public ::testing::Test {
 protected:
  std::vector<BatchPart> Parts(std::initializer_list<int64_t> ids) {
    sinks_.clear();
    std::vector<BatchPart> parts;
    for (int64_t id : ids) {
      sinks_[id] = std::make_unique<Collected>();
      parts.push_back({id, sinks_[id].get()});
    }
    return parts;
  }
  const Collected& Sink(int64_t id) { return *sinks_.at(id); }
  std::map<int64_t, std::unique_ptr<Collected>> sinks_;
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
    EXPECT_EQ(Sink(7).bytes(), "hello");
    EXPECT_EQ(parts[0].sha256, Sha256Hex("hello"));
    EXPECT_EQ(parts[1].code, 404);
    EXPECT_FALSE(Sink(8).written()) << "nothing is written for a missing blob";
    EXPECT_EQ(Sink(9).bytes(), "");
    EXPECT_EQ(parts[2].sha256, Sha256Hex(""));
    EXPECT_EQ(Sink(10).bytes(), "\n\nx") << "bytes are bytes, newlines included";
  }
}

TEST_F(BatchReceiverTest, ABodyCutShortLeavesItsPartNotReceived) {
  auto parts = Parts({1, 2});
  {
    BatchReceiver r(&parts);
    std::string body = "1 200 2\nok2 200 10\nonly";
    ASSERT_TRUE(r.Feed(body.data(), body.size()));
  }  // the connection dropped here
  EXPECT_TRUE(parts[0].received);
  EXPECT_EQ(parts[0].sha256, Sha256Hex("ok"));
  EXPECT_FALSE(parts[1].received) << "its sink holds a part: the caller discards it";
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
    EXPECT_FALSE(Sink(2).written()) << body;
  }
}

// A sink that refuses (a full disk, a bucket that does not answer) stops
// the batch with its error.
TEST_F(BatchReceiverTest, ASinkThatFailsStopsTheBatchWithItsError) {
  class Full : public BodySink {
   public:
    absl::Status Write(absl::string_view) override {
      return absl::ResourceExhaustedError("write: No space left on device");
    }
  } full;
  std::vector<BatchPart> parts = {{1, &full}};
  BatchReceiver r(&parts);
  std::string body = "1 200 3\nabc";
  EXPECT_FALSE(r.Feed(body.data(), body.size()));
  EXPECT_TRUE(absl::IsResourceExhausted(r.error())) << r.error();
  EXPECT_FALSE(parts[0].received);
}

}  // namespace
}  // namespace georep::transport
