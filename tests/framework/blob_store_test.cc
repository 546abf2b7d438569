// One suite over every kind of blob store (files under a root; objects in a
// real S3-compatible server, s3rver): what the sync workers, the retrieve
// routes and the sample forge rely on. A new kind joins the list below.
#include "framework/storage/blob_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/s3_server.h"
#include "support/test_support.h"
#include "util/sha256.h"

namespace georep::framework {
namespace {

class BlobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { s3_ = new test::S3Server(); }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
  }
  void SetUp() override {
    root_ = test::MakeTempDir("blob-store");
    if (GetParam() == "file") {
      auto store = OpenBlobStore({.kind = "file", .root = root_});
      ASSERT_TRUE(store.ok()) << store.status();
      store_ = *store;
    } else {
      ASSERT_TRUE(s3_->ok()) << s3_->error();
      auto store = OpenBlobStore(
          {.kind = "s3", .root = root_, .s3 = s3_->Location(absl::StrCat("t", getpid(), "/"))});
      ASSERT_TRUE(store.ok()) << store.status();
      store_ = *store;
    }
    EXPECT_EQ(store_->kind(), GetParam());
  }
  void TearDown() override { test::RemoveTree(root_); }
  std::string Bytes(const std::string& location) {
    std::string out;
    auto n = store_->Read(location, [&](absl::string_view piece) {
      out.append(piece.data(), piece.size());
      return true;
    });
    return n.ok() ? out : "(" + std::string(n.status().message()) + ")";
  }

  static test::S3Server* s3_;
  std::string root_;
  std::shared_ptr<const BlobStore> store_;
};
test::S3Server* BlobStoreTest::s3_ = nullptr;

TEST_P(BlobStoreTest, WhatIsPutIsReadSizedChecksummedAndRemoved) {
  auto where = store_->Locate("upload/0a/10");
  ASSERT_TRUE(where.ok()) << where.status();
  ASSERT_TRUE(PutBlob(*store_, *where, "ten bytes!").ok());
  EXPECT_EQ(Bytes(*where), "ten bytes!");
  auto size = store_->Size(*where);
  ASSERT_TRUE(size.ok() && size->has_value()) << size.status();
  EXPECT_EQ(**size, 10);
  int64_t summed = 0;
  auto sum = store_->Checksum(*where, &summed);
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, Sha256Hex("ten bytes!"));
  EXPECT_EQ(summed, 10);
  // Replaced whole.
  ASSERT_TRUE(PutBlob(*store_, *where, "new").ok());
  EXPECT_EQ(Bytes(*where), "new");
  ASSERT_TRUE(store_->Remove(*where).ok());
  auto gone = store_->Size(*where);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value());
  EXPECT_TRUE(absl::IsNotFound(store_->Checksum(*where).status()));
  EXPECT_TRUE(store_->Remove(*where).ok()) << "removing what is gone is not an error";
}

TEST_P(BlobStoreTest, ABlobNotInstalledLeavesNothingAnywhere) {
  auto where = store_->Locate("upload/01/1");
  ASSERT_TRUE(where.ok());
  {
    auto blob = store_->Create(*where, {.writer = "w1"});
    ASSERT_TRUE(blob.ok()) << blob.status();
    ASSERT_TRUE((*blob)->Write("half of it").ok());
    EXPECT_EQ((*blob)->size(), 10);
  }  // dropped: a failed checksum, a kill of the transfer
  auto size = store_->Size(*where);
  ASSERT_TRUE(size.ok());
  EXPECT_FALSE(size->has_value()) << "nothing at the location";
  std::error_code ec;
  int left = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TempDir(root_), ec)) {
    ADD_FAILURE() << "a temporary is left: " << entry.path();
    ++left;
  }
  EXPECT_EQ(left, 0);
}

TEST_P(BlobStoreTest, ManyAreSealedAtOnceThenInstalled) {
  std::vector<std::unique_ptr<PendingBlob>> blobs;
  std::vector<PendingBlob*> all;
  std::vector<std::string> where;
  for (int i = 0; i < 12; ++i) {
    auto loc = store_->Locate(absl::StrCat("kind/", i % 3, "/", i));
    ASSERT_TRUE(loc.ok());
    auto blob = store_->Create(*loc, {.writer = "w2"});
    ASSERT_TRUE(blob.ok()) << blob.status();
    ASSERT_TRUE((*blob)->Write(absl::StrCat("blob ", i)).ok());
    all.push_back(blob->get());
    where.push_back(*loc);
    blobs.push_back(std::move(*blob));
  }
  ASSERT_TRUE(store_->SealAll(all).ok());
  for (auto& b : blobs) ASSERT_TRUE(b->Install().ok());
  ASSERT_TRUE(store_->SyncInstalled(where).ok());
  blobs.clear();  // installed: dropping them removes nothing
  for (int i = 0; i < 12; ++i) EXPECT_EQ(Bytes(where[i]), absl::StrCat("blob ", i));
}

TEST_P(BlobStoreTest, PathsThatWouldEscapeAreRefused) {
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.."}) {
    auto where = store_->Locate(bad);
    EXPECT_TRUE(absl::IsPermissionDenied(where.status())) << bad << ": " << where.status();
  }
  // A location of another store is not this one's.
  EXPECT_TRUE(absl::IsNotFound(store_->Checksum("/elsewhere/x").status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Checksum("s3://other-bucket/x").status()));
}

TEST_P(BlobStoreTest, OnlyFilesAreServedByDescriptor) {
  auto where = store_->Locate("served/1");
  ASSERT_TRUE(where.ok());
  ASSERT_TRUE(PutBlob(*store_, *where, "served").ok());
  auto fd = store_->OpenFile(*where);
  EXPECT_EQ(fd.has_value(), !store_->remote());
  if (fd) {
    ASSERT_TRUE(fd->ok()) << fd->status();
    char buf[16] = {0};
    EXPECT_EQ(read(**fd, buf, sizeof buf), 6);
    close(**fd);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryKind, BlobStoreTest, ::testing::ValuesIn(BlobStoreKinds()),
                         [](const auto& info) { return info.param; });

TEST(BlobStoreKindsTest, AnUnknownKindOrARelativeRootIsASettingError) {
  auto unknown = OpenBlobStore({.kind = "gcs", .root = "/tmp"});
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "file, s3")) << unknown.status();
  EXPECT_TRUE(absl::IsInvalidArgument(OpenBlobStore({.kind = "file", .root = "rel"}).status()));
}

}  // namespace
}  // namespace georep::framework
