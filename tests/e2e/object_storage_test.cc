// A secondary whose copies live in an S3-compatible bucket (s3rver), the
// primary's on its file system: blobs, one large enough to go up in parts,
// replicate and verify into the bucket, as another client (s3cmd) reads
// them; a delete removes the object; an object damaged in the bucket is
// found by a reverify and repaired; bad settings stop the daemon naming them.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/s3_server.h"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/fs.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep {
namespace {

namespace fs = std::filesystem;

// The demo's secondary configuration with its copies in `server`'s bucket.
void UseBucket(const std::string& config_path, const test::S3Server& server,
               const std::string& bucket, const std::string& secret_file) {
  auto text = ReadFile(config_path);
  ASSERT_TRUE(text.ok());
  std::string s = *text;
  size_t at = s.find("[storage]\n");
  ASSERT_NE(at, std::string::npos) << s;
  at += std::string("[storage]\n").size();
  s.insert(at, absl::StrCat("kind = \"s3\"\nendpoint = \"", server.endpoint(), "\"\nbucket = \"",
                            bucket, "\"\nprefix = \"copies/\"\naccess_key = \"S3RVER\"\n",
                            "secret_key_file = \"", secret_file, "\"\npart_size_mib = 5\n"));
  ASSERT_TRUE(WriteFileAtomic(config_path, s).ok());
}

int64_t IdOf(const transport::HttpResult& r) {
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

TEST(ObjectStorageTest, ASecondarysCopiesInABucketReplicateVerifyAndAreRepaired) {
  test::S3Server s3;
  ASSERT_TRUE(s3.ok()) << s3.error();
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  const std::string config = topo.Config("secondary-1");
  const std::string secret = topo.dir() + "/s3-secret";
  ASSERT_TRUE(WriteFileAtomic(secret, "S3RVER\n").ok());

  // Bad settings first: each stops `serve` at once, naming what to fix.
  const std::string bad = topo.dir() + "/bad.toml";
  for (const auto& [bucket, expected] : std::vector<std::pair<std::string, std::string>>{
           {"no-such-bucket", "\"no-such-bucket\""}, {"Not_A_Bucket", "\"bucket\""}}) {
    fs::copy_file(config, bad, fs::copy_options::overwrite_existing);
    UseBucket(bad, s3, bucket, secret);
    auto r = test::RunGeorep({"serve", "--config", bad});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  }

  int pid = topo.Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 30));
  UseBucket(config, s3, "georep", secret);
  ASSERT_TRUE(topo.Up({"--seed", "0"})) << "the secondary restarts with its copies in the bucket";

  const std::string big = RandomHex(6 << 20);  // 12 MiB: parts of 5 MiB
  const std::vector<std::pair<std::string, std::string>> blobs = {
      {"upload", "a small upload"}, {"lfs_object", big}, {"job_artifact", RandomHex(5000)}};
  std::vector<std::pair<std::string, int64_t>> ids;
  for (const auto& [kind, bytes] : blobs)
    ids.emplace_back(kind, IdOf(topo.Post("primary", "/api/v1/sample/" + kind, bytes)));
  auto main = topo.MainDb("primary");
  auto key_of = [&](const std::string& kind, int64_t id) {
    auto r = main->Exec(absl::StrCat("SELECT file_path FROM sample.", kind, "s WHERE id = ", id));
    return r.ok() && r->rows() == 1 ? absl::StrCat("copies/", r->Get(0, 0)) : std::string();
  };
  auto fetched = [&](const std::string& key) {
    auto r = s3.S3Cmd({"get", "--quiet", "s3://georep/" + key, "-"});
    return r.exit_code == 0 ? r.output : "(s3cmd: " + r.output + ")";
  };
  // Synced and verified, by its registry row.
  auto verified = [&](const std::string& kind, int64_t id) {
    auto tracking = topo.TrackingDb("secondary-1");
    auto r = tracking->Exec(absl::StrCat("SELECT state = 2 AND verification_state = 2 FROM georep.",
                                         kind, "_registry WHERE model_id = ", id));
    return r.ok() && r->rows() == 1 && r->Get(0, 0) == "t";
  };
  for (size_t i = 0; i < blobs.size(); ++i) {
    const auto& [kind, id] = ids[i];
    SCOPED_TRACE(kind);
    EXPECT_TRUE(test::WaitFor([&] { return verified(kind, id); }, 120))
        << topo.Status("secondary-1").dump();
    const std::string got = fetched(key_of(kind, id));
    EXPECT_EQ(got.size(), blobs[i].second.size());
    EXPECT_TRUE(got == blobs[i].second) << "the object is the primary's bytes";
    EXPECT_FALSE(fs::exists(topo.Site("secondary-1")["storage_root"].get<std::string>() + "/" +
                            key_of(kind, id).substr(7)))
        << "no file copy beside the object";
  }

  // Damaged in the bucket: a reverify finds it, a resync repairs it.
  const auto [up_kind, up_id] = ids[0];
  const std::string up_key = key_of(up_kind, up_id);
  const std::string damaged = topo.dir() + "/damaged";
  ASSERT_TRUE(WriteFileAtomic(damaged, "not the upload").ok());
  auto put = s3.S3Cmd({"put", "--quiet", damaged, "s3://georep/" + up_key});
  ASSERT_EQ(put.exit_code, 0) << put.output;
  ASSERT_EQ(fetched(up_key), "not the upload");
  auto reverify = topo.Admin("secondary-1", "POST",
                             absl::StrCat("/api/v1/replicables/upload/", up_id, "/reverify"));
  ASSERT_EQ(reverify.status, 202) << reverify.body;
  EXPECT_TRUE(test::WaitFor([&] { return fetched(up_key) == "a small upload"; }, 120))
      << fetched(up_key);
  EXPECT_TRUE(test::WaitFor([&] { return verified(up_kind, up_id); }, 60));

  // Deleted on the primary: gone from the bucket.
  const auto [art_kind, art_id] = ids[2];
  const std::string art_key = key_of(art_kind, art_id);
  auto del =
      topo.Request("primary", "DELETE", absl::StrCat("/api/v1/sample/", art_kind, "/", art_id));
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto ls = s3.S3Cmd({"ls", "--recursive", "s3://georep/copies/"});
        return ls.exit_code == 0 && ls.output.find(art_key) == std::string::npos;
      },
      60));
  auto ls = s3.S3Cmd({"ls", "--recursive", "s3://georep/copies/"});
  EXPECT_NE(ls.output.find(up_key), std::string::npos) << "the others stay: " << ls.output;

  // An LFS object the secondary holds is served from its bucket.
  ASSERT_EQ(topo.Post("primary", "/api/v1/sample/projects", R"({"path": "media/app"})").status,
            201);
  auto minted = topo.Admin("primary", "POST", "/api/v1/sample/tokens",
                           R"({"scope": "*", "access": "write"})");
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = nlohmann::json::parse(minted.body)["token"];
  auto encoded = georep::Run({"sh", "-c", "printf 'git:%s' \"$0\" | base64 -w0", token});
  ASSERT_TRUE(encoded.ok());
  const std::string auth = "Authorization: Basic " + encoded->output;
  const std::string lfs_bytes = RandomHex(100000);
  const std::string oid = Sha256Hex(lfs_bytes);
  const std::string href = "/media/app.git/info/lfs/objects/" + oid;
  ASSERT_EQ(topo.Request("primary", "PUT", href, lfs_bytes, {auth}).status, 200);
  int64_t lfs_id = 0;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = main->Exec("SELECT id FROM sample.lfs_objects WHERE sha256 = $1", {oid});
        lfs_id = r.ok() && r->rows() == 1 ? r->GetInt64(0, 0) : 0;
        return lfs_id != 0 && verified("lfs_object", lfs_id);
      },
      120));
  auto served = topo.Request("secondary-1", "GET", href, "", {auth});
  EXPECT_EQ(served.status, 200);
  EXPECT_TRUE(served.body == lfs_bytes) << "the bucket's copy, byte for byte (there is no file)";

  // The store down: a new item fails, retried with backoff and never
  // recorded synced; once the store is back, a resync brings it.
  s3.Stop();
  const int64_t waiting = IdOf(topo.Post("primary", "/api/v1/sample/upload", "while it is down"));
  auto row_of = [&](int64_t id) {
    auto r = topo.TrackingDb("secondary-1")
                 ->Exec(absl::StrCat("SELECT state, coalesce(last_sync_failure, '') FROM "
                                     "georep.upload_registry WHERE model_id = ",
                                     id));
    return r.ok() && r->rows() == 1 ? absl::StrCat(r->Get(0, 0), " ", r->Get(0, 1))
                                    : std::string("(no row)");
  };
  EXPECT_TRUE(test::WaitFor([&] { return row_of(waiting).starts_with("3 "); }, 60))
      << row_of(waiting);
  EXPECT_NE(row_of(waiting).find("in the bucket"), std::string::npos) << row_of(waiting);
  ASSERT_TRUE(s3.Start()) << s3.error();
  auto resync = topo.Admin("secondary-1", "POST",
                           absl::StrCat("/api/v1/replicables/upload/", waiting, "/resync"));
  ASSERT_EQ(resync.status, 202) << resync.body;
  EXPECT_TRUE(test::WaitFor([&] { return verified("upload", waiting); }, 60)) << row_of(waiting);
  EXPECT_EQ(fetched(key_of("upload", waiting)), "while it is down");

  // Such a secondary cannot be promoted yet: it says so, and changes nothing.
  auto promote = test::RunGeorep({"promote", "--config", config});
  EXPECT_EQ(promote.exit_code, 2) << promote.output;
  EXPECT_NE(promote.output.find("storage.kind"), std::string::npos) << promote.output;
  EXPECT_EQ(topo.Status("secondary-1").value("role", ""), "secondary");
}

}  // namespace
}  // namespace georep
