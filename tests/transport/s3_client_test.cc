// The S3 client against a real S3-compatible server (s3rver, which checks
// SigV4 signatures), with what it stores read back by another client
// (Debian's s3cmd).
#include "transport/s3_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/s3_server.h"
#include "support/test_support.h"
#include "transport/http_client.h"
#include "util/net.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep::transport {
namespace {

class S3ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new test::S3Server(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  // The object as s3cmd reads it.
  static std::string Fetched(const std::string& key) {
    auto r = server_->S3Cmd({"get", "--quiet", "s3://georep/" + key, "-"});
    return r.exit_code == 0 ? r.output : "(s3cmd: " + r.output + ")";
  }
  static std::string Listed(const std::string& prefix) {
    return server_->S3Cmd({"ls", "--recursive", "s3://georep/" + prefix}).output;
  }
  // The multipart uploads in flight, as s3cmd lists them.
  static std::string Uploads() { return server_->S3Cmd({"multipart", "s3://georep"}).output; }
  static test::S3Server* server_;
};
test::S3Server* S3ClientTest::server_ = nullptr;

TEST_F(S3ClientTest, WhatIsPutIsWhatAnotherClientReadsAndDeletedIsGone) {
  S3Client client(server_->Location("put/"));
  const std::string bytes = "bytes of a blob\n" + RandomHex(1000);
  ASSERT_TRUE(client.Put("upload/0a/10", bytes).ok());
  EXPECT_EQ(Fetched("put/upload/0a/10"), bytes);
  std::string read;
  auto size = client.Get("upload/0a/10", [&](absl::string_view piece) {
    read.append(piece.data(), piece.size());
    return true;
  });
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(read, bytes);
  auto sized = client.Size("upload/0a/10");
  ASSERT_TRUE(sized.ok()) << sized.status();
  EXPECT_EQ(sized->value_or(-1), static_cast<int64_t>(bytes.size()));
  // A key with characters a URL must encode.
  ASSERT_TRUE(client.Put("odd name+é/x", "odd").ok());
  EXPECT_EQ(Fetched("put/odd name+é/x"), "odd");

  ASSERT_TRUE(client.Delete("upload/0a/10").ok());
  EXPECT_EQ(Listed("put/upload/").find("upload/0a/10"), std::string::npos) << Listed("put/");
  auto gone = client.Size("upload/0a/10");
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value());
  EXPECT_TRUE(client.Delete("upload/0a/10").ok()) << "deleting what is not there is no error";
  auto missing = client.Get("upload/0a/10", [](absl::string_view) { return true; });
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

TEST_F(S3ClientTest, ALargeObjectGoesUpInPartsAndAppearsOnlyWhenCommitted) {
  S3Client client(server_->Location(), {.part_size = int64_t{5} << 20});
  std::string bytes = RandomHex(6 << 20);  // 12 MiB: three parts
  {
    S3Upload up(&client, "big/one");
    for (size_t at = 0; at < bytes.size(); at += 1 << 20) {
      ASSERT_TRUE(up.Append(absl::string_view(bytes).substr(at, 1 << 20)).ok());
    }
    EXPECT_FALSE(up.upload_id().empty()) << "past one part, a multipart upload";
    EXPECT_EQ(Listed("big/"), "") << "nothing under the key before the commit";
    ASSERT_TRUE(up.Commit().ok());
  }
  std::string fetched = Fetched("big/one");
  EXPECT_EQ(fetched.size(), bytes.size());
  EXPECT_EQ(Sha256Hex(fetched), Sha256Hex(bytes));
  // A small one is put in one request, at the commit.
  S3Upload small(&client, "big/small");
  ASSERT_TRUE(small.Append("tiny").ok());
  EXPECT_TRUE(small.upload_id().empty());
  ASSERT_TRUE(small.Commit().ok());
  EXPECT_EQ(Fetched("big/small"), "tiny");
}

TEST_F(S3ClientTest, AnUploadAbandonedHalfWayLeavesNothingUnderItsKey) {
  S3Client client(server_->Location(), {.part_size = int64_t{5} << 20});
  std::vector<std::string> told;  // what the tracker heard
  {
    S3Upload up(&client, "abandoned/one");
    up.set_tracker([&](const std::string& id, bool open) {
      told.push_back(absl::StrCat(open ? "open " : "closed ", id));
      return absl::OkStatus();
    });
    ASSERT_TRUE(up.Append(RandomHex(6 << 20)).ok());  // two parts sent
    EXPECT_FALSE(up.upload_id().empty());
    EXPECT_NE(Uploads().find(up.upload_id()), std::string::npos)
        << "in flight, as s3cmd lists it: " << Uploads();
  }  // neither committed nor aborted: aborted by the destructor
  ASSERT_EQ(told.size(), 2u);
  EXPECT_TRUE(told[0].starts_with("open ")) << told[0];
  EXPECT_EQ(told[1], "closed " + told[0].substr(5));
  auto size = client.Size("abandoned/one");
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_FALSE(size->has_value());
  EXPECT_EQ(Listed("abandoned/"), "");
  EXPECT_EQ(Uploads().find(told[0].substr(5)), std::string::npos) << "its parts are gone";
  S3Upload aborted(&client, "abandoned/two");
  ASSERT_TRUE(aborted.Append("x").ok());
  EXPECT_TRUE(aborted.Abort().ok());
  EXPECT_EQ(Listed("abandoned/"), "");
}

// The parts of an upload whose process died are found and aborted by id.
TEST_F(S3ClientTest, AnUploadLeftByACrashIsAbortedByItsId) {
  S3Client client(server_->Location(), {.part_size = int64_t{5} << 20});
  auto id = client.StartMultipart("crashed/one");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(client.UploadPart("crashed/one", *id, 1, RandomHex(3 << 20)).ok());
  EXPECT_NE(Uploads().find(*id), std::string::npos) << Uploads();
  EXPECT_TRUE(client.AbortMultipart("crashed/one", *id).ok());
  EXPECT_EQ(Uploads().find(*id), std::string::npos) << Uploads();
  EXPECT_TRUE(client.AbortMultipart("crashed/one", *id).ok()) << "gone already: not an error";
  EXPECT_EQ(Listed("crashed/"), "");
}

TEST_F(S3ClientTest, BadSettingsAreErrorsNamingTheSetting) {
  S3Location wrong_key = server_->Location();
  wrong_key.access_key = "NOT-A-KEY";
  auto denied = S3Client(wrong_key, {.attempts = 1}).Put("x", "x");
  EXPECT_TRUE(absl::IsPermissionDenied(denied)) << denied;
  EXPECT_NE(denied.message().find("\"NOT-A-KEY\""), std::string::npos) << denied;
  EXPECT_NE(denied.message().find("access_key"), std::string::npos) << denied;

  EXPECT_EQ(denied.message().find("S3RVER"), std::string::npos) << "never the secret";
  // (s3rver checks the access key of a SigV4 request, not its signature: a
  // wrong secret is refused only by a real store.)

  S3Location no_bucket = server_->Location();
  no_bucket.bucket = "no-such-bucket";
  auto missing = S3Client(no_bucket, {.attempts = 1}).Put("x", "x");
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_NE(missing.message().find("\"no-such-bucket\""), std::string::npos) << missing;
  auto missing_size = S3Client(no_bucket, {.attempts = 1}).Size("x");
  EXPECT_TRUE(absl::IsNotFound(missing_size.status())) << "a missing bucket is not a missing key";

  auto port = FreeTcpPort();
  ASSERT_TRUE(port.ok());
  S3Location down = server_->Location();
  down.endpoint = absl::StrCat("http://127.0.0.1:", *port);
  auto unreachable = S3Client(down, {.attempts = 2, .first_backoff_seconds = 0.01}).Put("x", "x");
  EXPECT_TRUE(absl::IsUnavailable(unreachable)) << unreachable;
  EXPECT_NE(unreachable.message().find(down.endpoint), std::string::npos) << unreachable;
  EXPECT_EQ(Listed("x"), "") << "none of the refused puts stored anything";
}

// s3rver does not check SigV4 signatures; this stand-in does, from the
// specification (tests/transport/sigv4_store.py), and checks each body
// against its x-amz-content-sha256.
class SignatureCheckingStore {
 public:
  SignatureCheckingStore() {
    auto port = FreeTcpPort();
    if (!port.ok()) return;
    dir_ = test::MakeTempDir("sigv4");
    location_ = {.endpoint = absl::StrCat("http://127.0.0.1:", *port),
                 .bucket = "georep",
                 .region = "eu-west-3",
                 .prefix = "p/",
                 .access_key = "AKEXAMPLE",
                 .secret_key = "the-secret"};
    auto pid = SpawnDetached({"python3", GEOREP_SIGV4_STORE, absl::StrCat(*port),
                              location_.access_key, location_.secret_key},
                             dir_ + "/log");
    if (!pid.ok()) return;
    pid_ = *pid;
    ok_ = test::WaitFor(
        [&] { return HttpRequest(location_.endpoint + "/", {.timeout_seconds = 2}).ok(); }, 30);
  }
  ~SignatureCheckingStore() {
    if (pid_ > 0) (void)TerminateProcess(pid_, std::chrono::milliseconds(2000));
    if (!dir_.empty()) test::RemoveTree(dir_);
  }
  bool ok() const { return ok_; }
  const S3Location& location() const { return location_; }

 private:
  S3Location location_;
  std::string dir_;
  pid_t pid_ = -1;
  bool ok_ = false;
};

TEST(S3SignatureTest, EveryRequestIsSignedAsAwsSpecifies) {
  SignatureCheckingStore store;
  ASSERT_TRUE(store.ok());
  S3Client client(store.location(), {.part_size = int64_t{5} << 20, .attempts = 1});
  EXPECT_TRUE(client.Put("odd name+é/x", "bytes").ok());
  auto size = client.Size("upload/1");
  EXPECT_TRUE(size.ok()) << size.status();
  auto got = client.Get("upload/1", [](absl::string_view) { return true; });
  EXPECT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(client.Delete("upload/1").ok());
  {
    S3Upload up(&client, "big");  // start, parts (query strings), complete
    ASSERT_TRUE(up.Append(RandomHex(6 << 20)).ok());
    EXPECT_EQ(up.upload_id(), "u-1");
    EXPECT_TRUE(up.Commit().ok());
  }
  EXPECT_TRUE(client.AbortMultipart("big", "u-1").ok());

  S3Location forged = store.location();
  forged.secret_key = "not-the-secret";
  auto refused = S3Client(forged, {.attempts = 1}).Put("x", "x");
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_NE(refused.message().find("SignatureDoesNotMatch"), std::string::npos) << refused;
  EXPECT_EQ(refused.message().find("not-the-secret"), std::string::npos) << "never the secret";
}

TEST(S3SettingsTest, ValidationNamesTheField) {
  S3Location ok{.endpoint = "http://127.0.0.1:9000",
                .bucket = "georep",
                .access_key = "k",
                .secret_key = "s"};
  EXPECT_TRUE(ValidateS3(ok, {}).ok());
  struct Case {
    std::function<void(S3Location&, S3Options&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](S3Location& l, S3Options&) { l.endpoint = "127.0.0.1:9000"; }, "endpoint"},
      {[](S3Location& l, S3Options&) { l.bucket = "Upper"; }, "bucket"},
      {[](S3Location& l, S3Options&) { l.bucket = "ab"; }, "bucket"},
      {[](S3Location& l, S3Options&) { l.secret_key = ""; }, "access_key"},
      {[](S3Location& l, S3Options&) { l.region = ""; }, "region"},
      {[](S3Location& l, S3Options&) { l.prefix = "/abs"; }, "prefix"},
      {[](S3Location& l, S3Options&) { l.prefix = "a/../b"; }, "prefix"},
      {[](S3Location&, S3Options& o) { o.part_size = 1 << 20; }, "part_size"},
  };
  for (const auto& c : cases) {
    S3Location l = ok;
    S3Options o;
    c.spoil(l, o);
    auto s = ValidateS3(l, o);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.field;
    EXPECT_NE(s.message().find("\"" + c.field + "\""), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace georep::transport
