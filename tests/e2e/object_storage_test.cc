// Blobs in S3-compatible buckets (s3rver), read back by another client
// (s3cmd). A secondary's copies in a bucket, the primary's files: blobs,
// one large enough to go up in parts, replicate and verify into the bucket;
// a delete removes the object; an object damaged in the bucket is found by a
// reverify and repaired; bad settings stop the daemon naming them. The
// primary's blobs in a bucket: they reach a bucket and files alike, and a
// secondary with a bucket takes over as primary. `demo up --object-storage`
// gives every site a server of its own.
#include <signal.h>

#include <algorithm>
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

// A site's configuration with its blobs in `bucket` of `server`, under
// `prefix`.
void UseBucket(const std::string& config_path, const test::S3Server& server,
               const std::string& bucket, const std::string& secret_file,
               const std::string& prefix = "copies/") {
  auto text = ReadFile(config_path);
  ASSERT_TRUE(text.ok());
  std::string s = *text;
  size_t at = s.find("[storage]\n");
  ASSERT_NE(at, std::string::npos) << s;
  at += std::string("[storage]\n").size();
  s.insert(at, absl::StrCat("kind = \"s3\"\nendpoint = \"", server.endpoint(), "\"\nbucket = \"",
                            bucket, "\"\nprefix = \"", prefix, "\"\naccess_key = \"S3RVER\"\n",
                            "secret_key_file = \"", secret_file, "\"\npart_size_mib = 5\n"));
  ASSERT_TRUE(WriteFileAtomic(config_path, s).ok());
}

// A project of the sample forge at `path` on the primary, and the
// Authorization header of a token that may push to it.
std::string ProjectWithWriteToken(const test::Topology& topo, const std::string& path) {
  auto made =
      topo.Post("primary", "/api/v1/sample/projects", nlohmann::json{{"path", path}}.dump());
  EXPECT_EQ(made.status, 201) << made.body;
  auto minted = topo.Admin("primary", "POST", "/api/v1/sample/tokens",
                           R"({"scope": "*", "access": "write"})");
  EXPECT_EQ(minted.status, 201) << minted.body;
  if (made.status != 201 || minted.status != 201) return "";
  const std::string token = nlohmann::json::parse(minted.body)["token"];
  auto encoded = georep::Run({"sh", "-c", "printf 'git:%s' \"$0\" | base64 -w0", token});
  return encoded.ok() ? "Authorization: Basic " + encoded->output : "";
}

int64_t IdOf(const transport::HttpResult& r) {
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

TEST(ObjectStorageTest, ASecondarysCopiesInABucketReplicateVerifyAndAreRepaired) {
  test::S3Server s3;
  ASSERT_TRUE(s3.ok()) << s3.error();
  // A killed daemon's worker is dead after 3 s (its uploads are then aborted).
  test::Topology topo({"--seed", "0"}, {"GEOREP_SYNC_DEAD_WORKER_SECONDS=3"});
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
  const std::string auth = ProjectWithWriteToken(topo, "media/app");
  ASSERT_FALSE(auth.empty());
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
  // The failure is the bucket's, named, not the primary's.
  EXPECT_NE(row_of(waiting).find("in s3://"), std::string::npos) << row_of(waiting);
  ASSERT_TRUE(s3.Start()) << s3.error();
  auto resync = topo.Admin("secondary-1", "POST",
                           absl::StrCat("/api/v1/replicables/upload/", waiting, "/resync"));
  ASSERT_EQ(resync.status, 202) << resync.body;
  EXPECT_TRUE(test::WaitFor([&] { return verified("upload", waiting); }, 60)) << row_of(waiting);
  EXPECT_EQ(fetched(key_of("upload", waiting)), "while it is down");

  // Killed (-9) while a 256 MiB object goes up in parts: nothing under its
  // key, and once the dead worker is known to be dead, its parts' upload is
  // aborted (the bucket lists none); then the object is fetched again.
  const std::string large = RandomHex(128 << 20);
  const int64_t large_id = IdOf(topo.Post("primary", "/api/v1/sample/upload", large));
  const std::string large_key = key_of("upload", large_id);
  std::string upload_id;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = topo.TrackingDb("secondary-1")
                     ->Exec("SELECT upload_id FROM georep.bucket_uploads WHERE object_key = $1",
                            {large_key.substr(std::string("copies/").size())});
        if (r.ok() && r->rows() == 1) upload_id = std::string(r->Get(0, 0));
        return !upload_id.empty();
      },
      120))
      << "the upload in flight is recorded";
  auto in_flight = [&] { return s3.S3Cmd({"multipart", "s3://georep"}).output; };
  ASSERT_EQ(kill(topo.Pid("secondary-1"), SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(topo.Pid("secondary-1")); }, 30));
  EXPECT_NE(in_flight().find(upload_id), std::string::npos)
      << "the killed daemon's parts are in the bucket: " << in_flight();
  EXPECT_EQ(s3.S3Cmd({"ls", "s3://georep/" + large_key}).output, "") << "nothing under the key";
  ASSERT_TRUE(topo.Up({"--seed", "0"}));
  EXPECT_TRUE(test::WaitFor([&] { return in_flight().find(upload_id) == std::string::npos; }, 120))
      << "aborted after the restart: " << in_flight();
  EXPECT_TRUE(test::WaitFor([&] { return verified("upload", large_id); }, 300));
  auto back = s3.S3Cmd({"get", "--quiet", "s3://georep/" + large_key, "-"});
  EXPECT_EQ(back.output.size(), large.size());
  EXPECT_TRUE(back.output == large) << "the whole object, fetched again";
  auto left = topo.TrackingDb("secondary-1")->Exec("SELECT count(*) FROM georep.bucket_uploads");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->Get(0, 0), "0") << "no upload left recorded";
}

// Stops a site's daemon (`topo.Up` starts it again).
void StopSite(const test::Topology& topo, const std::string& site) {
  int pid = topo.Pid(site);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(test::WaitFor([&] { return !ProcessAlive(pid); }, 30));
}

// The primary's blobs in a bucket; one secondary's copies in a bucket of its
// own, the other's in files: every blob, one in parts, reaches both, is
// verified against the checksum the primary computed by reading its
// objects, and goes when deleted. Then the secondary with a bucket is
// promoted: new blobs go into its bucket and reach the others, the old
// primary (demoted, still on its bucket) among them.
TEST(ObjectStorageTest, APrimarysBlobsInABucketReachBucketsAndFilesAndSurviveAFailover) {
  test::S3Server s3("site-primary");
  ASSERT_TRUE(s3.ok()) << s3.error();
  ASSERT_EQ(s3.S3Cmd({"mb", "s3://site-one"}).exit_code, 0);
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  const std::string secret = topo.dir() + "/s3-secret";
  ASSERT_TRUE(WriteFileAtomic(secret, "S3RVER\n").ok());
  StopSite(topo, "primary");
  StopSite(topo, "secondary-1");
  UseBucket(topo.Config("primary"), s3, "site-primary", secret, "blobs/");
  UseBucket(topo.Config("secondary-1"), s3, "site-one", secret, "copies/");
  ASSERT_TRUE(topo.Up({"--seed", "0"})) << "restarted with their blobs in buckets";

  struct Blob {
    std::string kind, bytes;
    int64_t id = 0;
    std::string rel;
  };
  std::vector<Blob> blobs = {{"upload", "a small upload"}, {"lfs_object", RandomHex(6 << 20)}};
  for (int i = 0; i < 6; ++i) blobs.push_back({"job_artifact", RandomHex(3000 + i)});
  auto main = topo.MainDb("primary");
  // A crowd of small ones, for the batches below.
  std::vector<Blob> crowd;
  for (int i = 0; i < 40; ++i) crowd.push_back({"job_artifact", RandomHex(1000 + i)});
  // Written while the secondary on files is down, so it finds them all at
  // once and fetches them in batches.
  StopSite(topo, "secondary-2");
  for (std::vector<Blob>* list : {&blobs, &crowd}) {
    for (Blob& b : *list) {
      b.id = IdOf(topo.Post("primary", "/api/v1/sample/" + b.kind, b.bytes));
      auto r =
          main->Exec(absl::StrCat("SELECT file_path FROM sample.", b.kind, "s WHERE id = ", b.id));
      ASSERT_TRUE(r.ok() && r->rows() == 1);
      b.rel = std::string(r->Get(0, 0));
    }
  }
  ASSERT_TRUE(topo.Up({"--seed", "0"}));
  auto object = [&](const std::string& url) {
    auto r = s3.S3Cmd({"get", "--quiet", url, "-"});
    return r.exit_code == 0 ? r.output : "(s3cmd: " + r.output + ")";
  };
  auto verified = [&](const std::string& site, const Blob& b) {
    auto r = topo.TrackingDb(site)->Exec(
        absl::StrCat("SELECT state = 2 AND verification_state = 2 FROM georep.", b.kind,
                     "_registry WHERE model_id = ", b.id));
    return r.ok() && r->rows() == 1 && r->Get(0, 0) == "t";
  };
  const std::string primary_root = topo.Site("primary")["storage_root"];
  const std::string two_root = topo.Site("secondary-2")["storage_root"];
  for (const Blob& b : blobs) {
    SCOPED_TRACE(b.kind + " " + b.rel);
    EXPECT_TRUE(object("s3://site-primary/blobs/" + b.rel) == b.bytes) << "the primary's object";
    EXPECT_FALSE(fs::exists(primary_root + "/" + b.rel)) << "and no file on the primary";
    // The primary's checksum, computed by reading the object back.
    EXPECT_TRUE(test::WaitFor(
        [&] {
          auto r = main->Exec(absl::StrCat("SELECT checksum FROM georep.", b.kind,
                                           "_states WHERE model_id = ", b.id, " AND state = 2"));
          return r.ok() && r->rows() == 1 && r->Get(0, 0) == Sha256Hex(b.bytes);
        },
        120));
    EXPECT_TRUE(test::WaitFor([&] { return verified("secondary-1", b); }, 120))
        << topo.Status("secondary-1").dump();
    EXPECT_TRUE(object("s3://site-one/copies/" + b.rel) == b.bytes) << "bucket → bucket";
    EXPECT_TRUE(test::WaitFor([&] { return verified("secondary-2", b); }, 120))
        << topo.Status("secondary-2").dump();
    auto file = ReadFile(two_root + "/" + b.rel);
    EXPECT_TRUE(file.ok() && *file == b.bytes) << "bucket → file";
  }
  for (const Blob& b : crowd) {
    SCOPED_TRACE(b.rel);
    EXPECT_TRUE(test::WaitFor([&] { return verified("secondary-2", b); }, 120));
    auto file = ReadFile(two_root + "/" + b.rel);
    EXPECT_TRUE(file.ok() && *file == b.bytes);
    EXPECT_TRUE(test::WaitFor([&] { return verified("secondary-1", b); }, 120));
  }
  // Blobs were served from the bucket in batches too (more blobs than
  // requests: the secondary with a bucket fetches one per request).
  EXPECT_GT(topo.MetricSum("primary", "georep_retrieve_blobs_total", "status=\"200\""),
            topo.MetricSum("primary", "georep_retrieve_requests_total", "status=\"200\""));

  // Deleted on the primary: gone from its bucket and from both secondaries.
  const Blob gone = blobs.back();
  blobs.pop_back();
  ASSERT_EQ(
      topo.Request("primary", "DELETE", absl::StrCat("/api/v1/sample/", gone.kind, "/", gone.id))
          .status,
      200);
  auto listed = [&](const std::string& url) {
    auto ls = s3.S3Cmd({"ls", "--recursive", url});
    return ls.exit_code == 0 ? ls.output : "(s3cmd: " + ls.output + ")";
  };
  EXPECT_EQ(listed("s3://site-primary/blobs/").find(gone.rel), std::string::npos);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return listed("s3://site-one/copies/").find(gone.rel) == std::string::npos &&
               !fs::exists(two_root + "/" + gone.rel);
      },
      60));
  EXPECT_NE(listed("s3://site-one/copies/").find(blobs[0].rel), std::string::npos);

  // An LFS object pushed to the primary is an object of its bucket, and
  // served from there.
  const std::string auth = ProjectWithWriteToken(topo, "media/app");
  ASSERT_FALSE(auth.empty());
  const std::string lfs_bytes = RandomHex(70000);
  const std::string href = "/media/app.git/info/lfs/objects/" + Sha256Hex(lfs_bytes);
  ASSERT_EQ(topo.Request("primary", "PUT", href, lfs_bytes, {auth}).status, 200);
  auto lfs_row = main->Exec("SELECT file_path FROM sample.lfs_objects WHERE sha256 = $1",
                            {Sha256Hex(lfs_bytes)});
  ASSERT_TRUE(lfs_row.ok() && lfs_row->rows() == 1);
  EXPECT_TRUE(object(absl::StrCat("s3://site-primary/blobs/", lfs_row->Get(0, 0))) == lfs_bytes);
  auto lfs_got = topo.Request("primary", "GET", href, "", {auth});
  EXPECT_EQ(lfs_got.status, 200);
  EXPECT_TRUE(lfs_got.body == lfs_bytes) << "served from the primary's bucket";

  // A failover to the secondary whose copies are in a bucket.
  auto failover = test::RunGeorep({"demo", "failover", "--dir", topo.dir(), "--to", "secondary-1"});
  ASSERT_EQ(failover.exit_code, 0) << failover.output;
  topo.Reload();
  const Blob after{"upload", "written after the failover"};
  Blob written = after;
  written.id = IdOf(topo.Post("secondary-1", "/api/v1/sample/upload", after.bytes));
  auto r = topo.MainDb("secondary-1")
               ->Exec(absl::StrCat("SELECT file_path FROM sample.uploads WHERE id = ", written.id));
  ASSERT_TRUE(r.ok() && r->rows() == 1);
  written.rel = std::string(r->Get(0, 0));
  EXPECT_TRUE(object("s3://site-one/copies/" + written.rel) == after.bytes)
      << "the new primary's blob is an object of its bucket";
  // Every blob, old and new, reaches both followers.
  blobs.push_back(written);
  const std::string old_root = primary_root;
  for (const Blob& b : blobs) {
    SCOPED_TRACE(b.kind + " " + b.rel);
    EXPECT_TRUE(test::WaitFor([&] { return verified("primary", b); }, 180))
        << topo.Status("primary").dump();
    EXPECT_TRUE(object("s3://site-primary/blobs/" + b.rel) == b.bytes)
        << "the demoted primary's copy in its bucket";
    EXPECT_TRUE(test::WaitFor([&] { return verified("secondary-2", b); }, 120))
        << topo.Status("secondary-2").dump();
    auto file = ReadFile(two_root + "/" + b.rel);
    EXPECT_TRUE(file.ok() && *file == b.bytes);
  }
}

// `demo up --object-storage`: every site's blobs in its own S3 server, as
// another client lists them, and no file beside them; `demo down` stops the
// servers with the rest.
TEST(ObjectStorageTest, TheDemoWithObjectStorageKeepsEverySitesBlobsInItsOwnServer) {
  test::Topology topo({"--object-storage", "--seed", "30"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  EXPECT_TRUE(test::WaitFor([&] { return topo.TotalCount("secondary-1", "verified") == 30; }, 120))
      << topo.Status("secondary-1").dump();
  for (const char* site : {"primary", "secondary-1"}) {
    SCOPED_TRACE(site);
    ASSERT_TRUE(topo.Site(site)["s3_endpoint"].is_string());
    std::string endpoint = topo.Site(site)["s3_endpoint"];
    const std::string host = endpoint.substr(std::string("http://").size());
    auto ls = test::S3CmdAt(host, {"ls", "--recursive", "s3://georep/blobs/"});
    ASSERT_EQ(ls.exit_code, 0) << ls.output;
    EXPECT_EQ(std::count(ls.output.begin(), ls.output.end(), '\n'), 30) << ls.output;
    int files = 0;
    const std::string root = topo.Site(site)["storage_root"];
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.is_regular_file() && e.path().string().find("/.georep-tmp") == std::string::npos)
        ++files;
    }
    EXPECT_EQ(files, 0) << "no blob file under " << root;
  }
  auto down = test::RunGeorep({"demo", "down", "--dir", topo.dir()});
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("stopped the S3 server of primary"), std::string::npos) << down.output;
  std::string endpoint = topo.Site("primary")["s3_endpoint"];
  EXPECT_FALSE(transport::HttpRequest(endpoint + "/", {.timeout_seconds = 2}).ok())
      << "no S3 server answers after `demo down`";
}

}  // namespace
}  // namespace georep
