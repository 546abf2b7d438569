// Git LFS through real daemons and the real git-lfs client: a primary and
// two secondaries. LFS files pushed to the primary, and through a
// secondary, land on the primary and replicate; a clone from a secondary
// that holds verified copies downloads them from that secondary; one from a
// secondary that does not (the type is disabled there) downloads them from
// the primary. The bytes are the bytes pushed, everywhere.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/random.h"
#include "util/sha256.h"

namespace georep {
namespace {

namespace fs = std::filesystem;

// git and git-lfs as a user runs them: a home of their own (where `git lfs
// install` puts its filters), no prompt, no credential helper.
class LfsUser {
 public:
  LfsUser() : home_(test::MakeTempDir("lfs-home")) {
    auto r = Run({"git", "lfs", "install", "--skip-repo"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  CommandResult Run(const std::vector<std::string>& argv, const std::string& cwd = "") const {
    auto r = georep::Run(
        argv, {.cwd = cwd,
               .extra_env = {"HOME=" + home_, "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
                             "GIT_AUTHOR_NAME=U", "GIT_AUTHOR_EMAIL=u@example.com",
                             "GIT_COMMITTER_NAME=U", "GIT_COMMITTER_EMAIL=u@example.com"}});
    return r.ok() ? *r : CommandResult{127, std::string(r.status().message())};
  }
  // A new repository whose *.bin files are LFS files, with `files` committed.
  std::string NewWork(const std::string& name, const std::map<std::string, std::string>& files) {
    std::string work = test::MakeTempDir("lfs-" + name);
    for (const auto& argv :
         std::vector<std::vector<std::string>>{{"git", "init", "-q", "-b", "main"},
                                               {"git", "lfs", "install", "--local"},
                                               {"git", "lfs", "track", "*.bin"}}) {
      auto r = Run(argv, work);
      EXPECT_EQ(r.exit_code, 0) << argv[1] << ": " << r.output;
    }
    for (const auto& [file, bytes] : files) std::ofstream(work + "/" + file) << bytes;
    auto add = Run({"git", "add", "."}, work);
    EXPECT_EQ(add.exit_code, 0) << add.output;
    auto commit = Run({"git", "commit", "-q", "-m", name}, work);
    EXPECT_EQ(commit.exit_code, 0) << commit.output;
    return work;
  }

 private:
  std::string home_;
};

// http://git:TOKEN@host:port/repo
std::string WithToken(const std::string& url, const std::string& token) {
  size_t at = url.find("://") + 3;
  return url.substr(0, at) + "git:" + token + "@" + url.substr(at);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// lfs_object rows synced and verified on a secondary.
int64_t Verified(const test::Topology& topo, const std::string& site) {
  auto tracking = topo.TrackingDb(site);
  if (!tracking) return -1;
  auto r = tracking->Exec(
      "SELECT count(*) FROM georep.lfs_object_registry WHERE state = 2 "
      "AND verification_state = 2");
  return r.ok() ? r->GetInt64(0, 0) : -1;
}

TEST(LfsTest, LfsFilesPushedAnywhereAreClonedFromAnySiteWithTheirBytes) {
  test::Topology topo({"--seed", "0", "--secondaries", "2"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();
  // secondary-2 replicates no LFS objects: what it is asked for, the
  // primary serves.
  auto off = topo.Admin("primary", "PUT", "/api/v1/sites/secondary-2",
                        R"({"disabled_replicables": ["lfs_object"]})");
  ASSERT_EQ(off.status, 200) << off.body;
  for (const char* path : {"media/one", "media/two"}) {
    auto p = topo.Post("primary", "/api/v1/sample/projects",
                       absl::StrCat(R"({"path": ")", path, R"("})"));
    ASSERT_EQ(p.status, 201) << p.body;
  }
  auto minted = topo.Admin("primary", "POST", "/api/v1/sample/tokens",
                           R"({"scope": "*", "access": "write"})");
  ASSERT_EQ(minted.status, 201) << minted.body;
  const std::string token = nlohmann::json::parse(minted.body)["token"];
  auto read_minted = topo.Admin("primary", "POST", "/api/v1/sample/tokens",
                                R"({"scope": "media/one", "access": "read"})");
  ASSERT_EQ(read_minted.status, 201) << read_minted.body;
  const std::string reader = nlohmann::json::parse(read_minted.body)["token"];

  // Project one is pushed to the primary; project two through secondary-2.
  const std::map<std::string, std::string> one = {{"big.bin", RandomHex(3 << 20)},
                                                  {"small.bin", "a small LFS file\n"}};
  const std::map<std::string, std::string> two = {{"data.bin", RandomHex(1 << 20)},
                                                  {"more.bin", RandomHex(4096)}};
  LfsUser user;
  std::string work_one = user.NewWork("one", one);
  std::string work_two = user.NewWork("two", two);
  auto pushed = user.Run(
      {"git", "push", "-q", WithToken(topo.Url("primary") + "/media/one.git", token), "main"},
      work_one);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.output;
  pushed = user.Run(
      {"git", "push", "-q", WithToken(topo.Url("secondary-2") + "/media/two.git", token), "main"},
      work_two);
  ASSERT_EQ(pushed.exit_code, 0) << pushed.output;

  // Both pushes' objects are the primary's, each in its project.
  auto main = topo.MainDb("primary");
  auto rows = main->Exec(
      "SELECT p.path, l.sha256, l.size FROM sample.lfs_objects l "
      "JOIN sample.projects p ON p.id = l.project_id ORDER BY 1, 2");
  ASSERT_TRUE(rows.ok());
  std::set<std::pair<std::string, std::string>> expected, found;
  for (const auto& [f, bytes] : one) expected.emplace("media/one", Sha256Hex(bytes));
  for (const auto& [f, bytes] : two) expected.emplace("media/two", Sha256Hex(bytes));
  for (int i = 0; i < rows->rows(); ++i)
    found.emplace(std::string(rows->Get(i, 0)), std::string(rows->Get(i, 1)));
  EXPECT_EQ(found, expected);
  // In the repository, only pointers.
  auto show =
      user.Run({"git", "--git-dir",
                topo.Site("primary")["repository_root"].get<std::string>() + "/media/one.git",
                "show", "main:big.bin"});
  EXPECT_NE(show.output.find("version https://git-lfs.github.com/spec/v1"), std::string::npos)
      << show.output;

  // secondary-1 verifies its copies; a clone from it downloads them from it.
  ASSERT_TRUE(test::WaitFor([&] { return Verified(topo, "secondary-1") == 4; }, 120))
      << Verified(topo, "secondary-1");
  const std::string here = "to=\"here\"";
  const std::string there = "to=\"primary\"";
  const std::string metric = "georep_lfs_actions_total";
  for (const auto& [project, files] :
       std::vector<std::pair<std::string, std::map<std::string, std::string>>>{{"one", one},
                                                                               {"two", two}}) {
    std::string clone = test::MakeTempDir("lfs-clone-1-" + project);
    fs::remove(clone);
    auto cloned =
        user.Run({"git", "clone", "-q",
                  WithToken(topo.Url("secondary-1") + "/media/" + project + ".git", token), clone});
    ASSERT_EQ(cloned.exit_code, 0) << cloned.output;
    for (const auto& [file, bytes] : files) {
      EXPECT_TRUE(ReadFile(clone + "/" + file) == bytes)
          << project << "/" << file << " differs from what was pushed";
    }
  }
  EXPECT_GE(topo.MetricSum("secondary-1", metric, here), 4);
  EXPECT_EQ(topo.MetricSum("secondary-1", metric, there), 0);

  // secondary-2 holds none: its clone's objects come from the primary.
  std::string clone2 = test::MakeTempDir("lfs-clone-2");
  fs::remove(clone2);
  auto cloned2 = user.Run(
      {"git", "clone", "-q", WithToken(topo.Url("secondary-2") + "/media/one.git", token), clone2});
  ASSERT_EQ(cloned2.exit_code, 0) << cloned2.output;
  for (const auto& [file, bytes] : one) {
    EXPECT_TRUE(ReadFile(clone2 + "/" + file) == bytes) << file << " differs";
  }
  EXPECT_GE(topo.MetricSum("secondary-2", metric, there), 2);
  EXPECT_EQ(topo.MetricSum("secondary-2", metric, here), 0);

  // What the API refuses, on the primary and on a secondary alike.
  const std::string big_oid = Sha256Hex(one.at("big.bin"));
  auto batch = [&](const std::string& site, const std::string& repo, const std::string& op,
                   const std::string& who) {
    std::vector<std::string> headers = {"Content-Type: application/vnd.git-lfs+json"};
    if (!who.empty()) {
      auto basic = user.Run({"sh", "-c", "printf 'git:%s' \"$0\" | base64 -w0", who});
      headers.push_back("Authorization: Basic " + basic.output);
    }
    return topo.Request(site, "POST", "/media/" + repo + ".git/info/lfs/objects/batch",
                        absl::StrCat(R"({"operation": ")", op, R"(", "objects": [{"oid": ")",
                                     big_oid, R"(", "size": 1}]})"),
                        headers);
  };
  for (const char* site : {"primary", "secondary-1"}) {
    SCOPED_TRACE(site);
    EXPECT_EQ(batch(site, "one", "download", "").status, 401) << "a private project";
    EXPECT_EQ(batch(site, "one", "download", "georep_0000").status, 401) << "an unknown token";
    EXPECT_EQ(batch(site, "two", "download", reader).status, 403) << "another project's token";
    auto ok = batch(site, "one", "download", reader);
    ASSERT_EQ(ok.status, 200) << ok.body;
    auto answer = nlohmann::json::parse(ok.body);
    const auto& object = answer["objects"][0];
    EXPECT_EQ(object["size"], one.at("big.bin").size()) << "the size is the object's";
    EXPECT_TRUE(
        object["actions"]["download"]["href"].get<std::string>().starts_with(topo.Url(site)))
        << ok.body;
    EXPECT_EQ(batch(site, "one", "upload", reader).status, 403) << "a read token uploads nothing";
    auto bad = topo.Request(site, "POST", "/media/one.git/info/lfs/objects/batch",
                            R"({"operation": "delete", "objects": []})");
    EXPECT_EQ(bad.status, 422) << bad.body;
    EXPECT_NE(bad.body.find("operation"), std::string::npos) << bad.body;
  }
  // Bytes that are not their oid are refused, and nothing is stored.
  const std::string auth =
      "Authorization: Basic " +
      user.Run({"sh", "-c", "printf 'git:%s' \"$0\" | base64 -w0", token}).output;
  auto forged = topo.Request("primary", "PUT", "/media/one.git/info/lfs/objects/" + big_oid,
                             "not the bytes", {auth});
  EXPECT_EQ(forged.status, 422) << forged.body;
  auto count = main->Exec("SELECT count(*) FROM sample.lfs_objects");
  EXPECT_EQ(count->GetInt64(0, 0), 4);
}

}  // namespace
}  // namespace georep
