// A secondary used as if it were the primary: the application's writes sent
// to it land on the primary (and come back by replication), a large upload
// is relayed without holding it in memory, and an unreachable primary is a
// 502 that says so.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace georep {
namespace {

// A process's anonymous resident memory (heap, not file pages), in KiB.
int64_t RssAnonKib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      return absl::SimpleAtoi(digits, &kib) ? kib : -1;
    }
  }
  return -1;
}

transport::HttpResult Send(const test::Topology& topo, const std::string& site,
                           const std::string& method, const std::string& path,
                           const std::string& body) {
  // The topology's write token: the secondary passes it on to the primary.
  auto r = transport::HttpRequest(topo.Url(site) + path, {.method = method,
                                                          .body = body,
                                                          .headers = {test::GitTokenHeader()},
                                                          .timeout_seconds = 600});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : transport::HttpResult{};
}

TEST(SecondaryProxyTest, WritesToASecondaryLandOnThePrimaryAndComeBack) {
  test::Topology topo({"--seed", "0"});
  ASSERT_TRUE(topo.ok()) << "demo did not come up: " << topo.up_output();

  auto project =
      Send(topo, "secondary-1", "POST", "/api/v1/sample/projects", R"({"path": "px/app"})");
  ASSERT_EQ(project.status, 201) << project.body;
  int64_t project_id = nlohmann::json::parse(project.body)["id"];
  const std::string bytes = "written through the secondary";
  auto up = Send(topo, "secondary-1", "POST",
                 absl::StrCat("/api/v1/sample/upload?project_id=", project_id), bytes);
  ASSERT_EQ(up.status, 201) << up.body;
  int64_t id = nlohmann::json::parse(up.body)["id"];
  // On the primary…
  auto row = topo.MainDb("primary")->Exec(
      "SELECT sha256, project_id FROM sample.uploads WHERE id = $1", {absl::StrCat(id)});
  ASSERT_TRUE(row.ok() && row->rows() == 1);
  EXPECT_EQ(row->Get(0, 0), Sha256Hex(bytes));
  EXPECT_EQ(row->GetInt64(0, 1), project_id);
  // …and back here, replicated and verified.
  const std::string storage = topo.Site("secondary-1")["storage_root"].get<std::string>();
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto t = topo.TrackingDb("secondary-1");
        auto r = t ? t->Exec(
                         "SELECT local_path FROM georep.upload_registry WHERE model_id = $1 AND "
                         "state = 2 AND verification_state = 2",
                         {absl::StrCat(id)})
                   : absl::StatusOr<db::Result>(absl::UnavailableError("no db"));
        return r.ok() && r->rows() == 1;
      },
      120));
  auto t = topo.TrackingDb("secondary-1");
  auto path = t->Exec("SELECT local_path FROM georep.upload_registry WHERE model_id = $1",
                      {absl::StrCat(id)});
  EXPECT_EQ(ReadFile(std::string(path->Get(0, 0))).value_or(""), bytes);
  // An error of the primary's comes back as it is.
  auto dup = Send(topo, "secondary-1", "POST", "/api/v1/sample/projects", R"({"path": "px/app"})");
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_NE(dup.body.find("already exists"), std::string::npos) << dup.body;

  // A large upload through the secondary: relayed from disk, not memory.
  const int pid = topo.Pid("secondary-1");
  const int64_t before = RssAnonKib(pid);
  ASSERT_GT(before, 0);
  std::atomic<bool> done{false};
  std::atomic<int64_t> peak{before};
  std::thread sampler([&] {
    while (!done) {
      int64_t now = RssAnonKib(pid);
      if (now > peak) peak = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::string large(128 << 20, '\0');
  for (size_t i = 0; i < large.size(); i += 4096) large[i] = static_cast<char>(i / 4096);
  auto big = Send(topo, "secondary-1", "POST", "/api/v1/sample/upload", large);
  done = true;
  sampler.join();
  ASSERT_EQ(big.status, 201) << big.body;
  EXPECT_EQ(nlohmann::json::parse(big.body)["sha256"], Sha256Hex(large));
  EXPECT_LT(peak - before, 48 * 1024) << "KiB of anonymous memory the relay of 128 MiB took";

  // The primary's daemon gone: a write to the secondary says why it failed.
  const int primary_pid = topo.Pid("primary");
  ASSERT_EQ(kill(primary_pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(primary_pid, 0) != 0; }, 30));
  auto down = Send(topo, "secondary-1", "POST", "/api/v1/sample/upload", "x");
  EXPECT_EQ(down.status, 502) << down.body;
  EXPECT_NE(down.body.find("PRIMARY_UNREACHABLE"), std::string::npos) << down.body;
  EXPECT_NE(down.body.find("unreachable"), std::string::npos) << down.body;
}

}  // namespace
}  // namespace georep
