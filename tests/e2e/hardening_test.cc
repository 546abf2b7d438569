// A topology that serves HTTPS everywhere (`georep demo up --tls`): blobs,
// Git and status reports travel over TLS, checked against the demo's CA;
// and the daemon keeps answering while clients stall a Git pack or flood
// it with connections.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/tcp_proxy.h"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/http_client.h"
#include "util/fs.h"
#include "util/subprocess.h"

namespace georep {
namespace {

class HardeningTest : public ::testing::Test {
 protected:
  // Only loopback's 127.0.0.1 may use the Geo routes (the sites all run
  // there); the tests below come from 127.0.0.2 to be refused.
  static void SetUpTestSuite() {
    topo_ = new test::Topology({"--tls", "--seed", "10"},
                               {"GEOREP_HTTP_GEO_ALLOWED_ADDRESSES=127.0.0.1/32, ::1"});
  }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }
  static std::string CaFile() { return topo_->dir() + "/tls/ca.pem"; }

  // git over HTTPS, trusting the demo's CA; fails the test on a non-zero exit.
  static std::string Git(const std::vector<std::string>& args) {
    return test::GitOutput(args, {"GIT_SSL_CAINFO=" + CaFile()});
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  // A project on the primary whose main branch is one commit of `bytes`
  // random bytes; its head.
  static std::string PushProject(const std::string& path, size_t bytes) {
    auto r =
        topo_->Post("primary", "/api/v1/sample/projects", nlohmann::json{{"path", path}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    std::string work = test::MakeTempDir("work");
    Git({"init", "-q", work});
    std::string data(bytes, '\0');
    std::mt19937_64 rng(42);
    for (size_t i = 0; i + 8 <= data.size(); i += 8) {
      uint64_t v = rng();
      memcpy(&data[i], &v, 8);
    }
    EXPECT_TRUE(WriteFileAtomic(work + "/data.bin", data).ok());
    Git({"-C", work, "add", "-A"});
    Git({"-C", work, "commit", "-q", "-m", "data"});
    Git({"-C", work, "push", "-q", topo_->Url("primary") + "/" + path + ".git", "main"});
    return Trim(Git({"-C", work, "rev-parse", "HEAD"}));
  }
  // Health answers on `site` out of `tries`, each allowed 10 s.
  static int HealthAnswers(const std::string& site, int tries) {
    int answered = 0;
    for (int i = 0; i < tries; ++i) {
      auto r = transport::HttpRequest(topo_->Url(site) + "/api/v1/health", {.timeout_seconds = 10});
      if (r.ok() && (r->status == 200 || r->status == 503)) ++answered;
    }
    return answered;
  }

  // A GET from local address `from` (127.0.0.x); status and body.
  static std::pair<long, std::string> GetFrom(const std::string& url, const char* from) {
    CURL* curl = curl_easy_init();
    std::string body;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_INTERFACE, from);
    curl_easy_setopt(curl, CURLOPT_CAINFO, CaFile().c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char* d, size_t n, size_t m, void* out) {
          static_cast<std::string*>(out)->append(d, n * m);
          return n * m;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return {status, body};
  }

  // Points the primary's URL in geo_nodes (which the secondary fetches
  // from) at `url`; the topology's own URL is the direct one.
  static bool RoutePrimary(const std::string& url) {
    auto db = topo_->MainDb("primary");
    if (db == nullptr) return false;
    auto r = db->Exec("UPDATE georep.geo_nodes SET url = $1 WHERE name = 'primary'", {url});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok();
  }

  static test::Topology* topo_;
};
test::Topology* HardeningTest::topo_ = nullptr;

TEST_F(HardeningTest, EverySiteServesHttpsAndReplicatesOverIt) {
  ASSERT_EQ(topo_->Url("primary").rfind("https://", 0), 0u) << topo_->Url("primary");
  ASSERT_EQ(topo_->Url("secondary-1").rfind("https://", 0), 0u);

  // Blobs: the seeded ones and a new one reach the secondary over HTTPS.
  auto up = topo_->Post("primary", "/api/v1/sample/upload", "over tls");
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_TRUE(test::WaitFor([] { return topo_->TotalCount("secondary-1", "synced") == 11; }, 60))
      << topo_->Status("secondary-1").dump();

  // Git: pushed to the primary over HTTPS, fetched by the secondary over
  // HTTPS, cloned from the secondary over HTTPS.
  std::string head = PushProject("tls/app", 4096);
  ASSERT_TRUE(test::WaitFor(
      [] { return topo_->Count("secondary-1", "project_repository", "synced") == 1; }, 60))
      << topo_->Status("secondary-1").dump();
  std::string clone = test::MakeTempDir("clone") + "/app";
  Git({"clone", "-q", topo_->Url("secondary-1") + "/tls/app.git", clone});
  EXPECT_EQ(Trim(Git({"-C", clone, "rev-parse", "HEAD"})), head);

  // Status reports: the primary has the secondary's latest, sent over HTTPS.
  EXPECT_TRUE(test::WaitFor(
      [] {
        auto r = topo_->Request("primary", "GET", "/api/v1/sites/secondary-1");
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        return r.status == 200 && j.is_object() && j["status"].is_object();
      },
      60));

  // Plain HTTP to an HTTPS port is not served.
  std::string plain = topo_->Url("primary");
  plain.replace(0, 5, "http");
  auto r = transport::HttpRequest(plain + "/api/v1/health", {.timeout_seconds = 10});
  EXPECT_TRUE(!r.ok() || r->status != 200) << "plain HTTP answered " << r->status;
}

// Six clients (more than the daemon's four HTTP threads) ask for a 24 MiB
// pack and stop reading after the first bytes: health keeps answering, and
// when they go the daemon is whole.
TEST_F(HardeningTest, ClientsThatStopReadingAGitPackDoNotStallTheSite) {
  std::string head = PushProject("tls/big", 24 << 20);
  auto pkt = [](const std::string& line) {
    char len[5];
    snprintf(len, sizeof len, "%04zx", line.size() + 4);
    return std::string(len) + line;
  };
  const std::string negotiation =
      pkt("want " + head + " side-band-64k ofs-delta\n") + "0000" + pkt("done\n");
  const std::string url = topo_->Url("primary") + "/tls/big.git/git-upload-pack";
  const std::string auth = test::GitTokenHeader();

  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int stalled = 0;
  struct Reader {
    std::mutex* mu;
    std::condition_variable* cv;
    bool* release;
    int* stalled;
    bool counted = false;
  };
  constexpr int kClients = 6;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Reader reader{&mu, &cv, &release, &stalled};
      CURL* curl = curl_easy_init();
      curl_slist* headers =
          curl_slist_append(nullptr, "Content-Type: application/x-git-upload-pack-request");
      headers = curl_slist_append(headers, auth.c_str());
      curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
      curl_easy_setopt(curl, CURLOPT_CAINFO, CaFile().c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, negotiation.c_str());
      curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 1024L);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reader);
      // Takes the first bytes, then stops reading until released.
      curl_easy_setopt(
          curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void* user) -> size_t {
            auto* r = static_cast<Reader*>(user);
            std::unique_lock<std::mutex> l(*r->mu);
            if (!r->counted) {
              r->counted = true;
              ++*r->stalled;
              r->cv->notify_all();
            }
            r->cv->wait(l, [&] { return *r->release; });
            return 0;  // gone
          });
      curl_easy_perform(curl);
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
    });
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::seconds(120), [&] { return stalled == kClients; });
  }
  EXPECT_EQ(stalled, kClients) << "every client got the start of its pack";
  EXPECT_EQ(HealthAnswers("primary", 9), 9)
      << "health answered while " << kClients << " clients stall a pack";
  // The Geo routes too: the secondary keeps syncing from the stalled site.
  int64_t before = topo_->Count("secondary-1", "upload", "synced");
  auto up = topo_->Post("primary", "/api/v1/sample/upload", "while stalled");
  EXPECT_EQ(up.status, 201) << up.body;
  EXPECT_TRUE(test::WaitFor(
      [&] { return topo_->Count("secondary-1", "upload", "synced") == before + 1; }, 60));
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
    cv.notify_all();
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(HealthAnswers("primary", 3), 3);
}

// The network between the sites cut mid-transfer and healed: the secondary
// reaches the primary through a 4 MB/s proxy while 24 blobs of 1 MiB and a
// 12 MiB repository travel (single files, batches and a Git fetch), the
// proxy resets every connection once 6 MiB have crossed and refuses new
// ones, then lets them through again. Everything arrives, whole and
// verified; nothing stays failed.
TEST_F(HardeningTest, ANetworkCutMidTransferLosesNothingOnceHealed) {
  test::TcpProxy proxy(topo_->Site("primary")["http_port"].get<int>(), 4 << 20);
  ASSERT_GT(proxy.port(), 0);
  ASSERT_TRUE(RoutePrimary(absl::StrCat("https://127.0.0.1:", proxy.port())));
  // The secondary takes the new URL up within its role poll; a status
  // report through the proxy shows it has.
  ASSERT_TRUE(test::WaitFor([&] { return proxy.connections() > 0; }, 60));

  const int64_t uploads_before = topo_->Count("secondary-1", "upload", "synced");
  std::string head = PushProject("cut/big", 12 << 20);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 24; ++i) {
    std::string blob(1 << 20, '\0');
    for (size_t j = 0; j + 8 <= blob.size(); j += 8) {
      uint64_t v = rng();
      memcpy(&blob[j], &v, 8);
    }
    auto up = topo_->Post("primary", "/api/v1/sample/upload", blob);
    ASSERT_EQ(up.status, 201) << up.body;
  }
  ASSERT_TRUE(test::WaitFor([&] { return proxy.bytes() > (6 << 20); }, 120))
      << "relayed " << proxy.bytes();
  proxy.Cut();
  // The secondary finds the link down: its attempts are refused.
  EXPECT_TRUE(test::WaitFor([&] { return proxy.refused() >= 3; }, 60));
  EXPECT_LT(topo_->Count("secondary-1", "upload", "synced"), uploads_before + 24)
      << "the cut came after everything had crossed; the test proves nothing";
  proxy.Heal();
  const auto healed = std::chrono::steady_clock::now();

  auto tracking = topo_->TrackingDb("secondary-1");
  ASSERT_NE(tracking, nullptr);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto repo = tracking->Exec(
            "SELECT 1 FROM georep.project_repository_registry WHERE state = 2 AND "
            "verification_state = 2 AND local_path LIKE '%/cut/big.git'");
        return topo_->Count("secondary-1", "upload", "synced") == uploads_before + 24 &&
               topo_->Count("secondary-1", "upload", "verified") == uploads_before + 24 &&
               repo.ok() && repo->rows() == 1;
      },
      180))
      << topo_->Status("secondary-1").dump();
  // Reported, not judged: how long the copies took to converge once healed.
  std::printf("converged %.1f s after the network was healed (%lld bytes relayed)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - healed).count(),
              static_cast<long long>(proxy.bytes()));
  EXPECT_EQ(topo_->TotalCount("secondary-1", "failed"), 0) << topo_->Status("secondary-1").dump();
  // The repository arrived whole: a clone from the secondary has its head.
  std::string clone = test::MakeTempDir("clone") + "/big";
  Git({"clone", "-q", topo_->Url("secondary-1") + "/cut/big.git", clone});
  EXPECT_EQ(Trim(Git({"-C", clone, "rev-parse", "HEAD"})), head);
  EXPECT_TRUE(RoutePrimary(topo_->Url("primary")));
}

// A cut while a Git pack is crossing, and nothing else: the fetch fails,
// leaves no temporary copy, and the repository arrives whole once healed.
TEST_F(HardeningTest, AGitFetchCutMidPackArrivesWholeOnceHealed) {
  test::TcpProxy proxy(topo_->Site("primary")["http_port"].get<int>(), 4 << 20);
  ASSERT_GT(proxy.port(), 0);
  ASSERT_TRUE(RoutePrimary(absl::StrCat("https://127.0.0.1:", proxy.port())));
  // The secondary takes the new URL up within its role poll; a status
  // report through the proxy shows it has.
  ASSERT_TRUE(test::WaitFor([&] { return proxy.connections() > 0; }, 60));
  auto tracking = topo_->TrackingDb("secondary-1");
  ASSERT_NE(tracking, nullptr);
  auto synced = [&] {
    auto r = tracking->Exec(
        "SELECT 1 FROM georep.project_repository_registry WHERE state = 2 AND "
        "verification_state = 2 AND local_path LIKE '%/cut/pack.git'");
    return r.ok() && r->rows() == 1;
  };

  const int64_t before = proxy.bytes();
  std::string head = PushProject("cut/pack", 16 << 20);
  // Part of the pack has crossed (at 4 MB/s it takes about 4 s in all).
  ASSERT_TRUE(test::WaitFor([&] { return proxy.bytes() - before > (3 << 20); }, 120))
      << "relayed " << proxy.bytes() - before;
  proxy.Cut();
  EXPECT_TRUE(test::WaitFor([&] { return proxy.refused() >= 1; }, 60));
  EXPECT_FALSE(synced()) << "the pack had crossed before the cut; the test proves nothing";
  proxy.Heal();
  const auto healed = std::chrono::steady_clock::now();
  EXPECT_TRUE(test::WaitFor(synced, 180)) << topo_->Status("secondary-1").dump();
  std::printf("[ figures  ] the repository was synced and verified %.1f s after the heal\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - healed).count());
  const std::string temp =
      topo_->Site("secondary-1")["repository_root"].get<std::string>() + "/@geo-temporary";
  EXPECT_TRUE(test::WaitFor(
      [&] {
        std::error_code ec;
        auto it = std::filesystem::directory_iterator(temp, ec);
        return ec || it == std::filesystem::directory_iterator();
      },
      30))
      << "the cut fetch left a temporary copy in " << temp;
  std::string clone = test::MakeTempDir("clone") + "/pack";
  Git({"clone", "-q", topo_->Url("secondary-1") + "/cut/pack.git", clone});
  EXPECT_EQ(Trim(Git({"-C", clone, "rev-parse", "HEAD"})), head);
  EXPECT_TRUE(RoutePrimary(topo_->Url("primary")));
}

// The upload's registry row, for messages.
std::string RegistryRow(db::Connection& tracking, int64_t id) {
  auto r = tracking.Exec(
      "SELECT state, retry_count, retry_at - now(), last_sync_failure FROM georep.upload_registry "
      "WHERE model_id = $1",
      {absl::StrCat(id)});
  if (!r.ok()) return std::string(r.status().message());
  if (r->rows() == 0) return "no row";
  return absl::StrCat("state ", r->Get(0, 0), ", retry_count ", r->Get(0, 1), ", due in ",
                      r->Get(0, 2), ", failure: ", r->Get(0, 3));
}

// What failed against the primary's old URL is retried at once under its
// new one, not after the item's backoff: the secondary reaches the primary
// through a proxy that answers nothing (each connection is reset), an upload
// fails there and is given a backoff, and the primary's URL is set back.
TEST_F(HardeningTest, WhatFailedAtAnOldPrimaryUrlIsRetriedAtOnceAtTheNewOne) {
  test::TcpProxy proxy(topo_->Site("primary")["http_port"].get<int>());
  ASSERT_GT(proxy.port(), 0);
  ASSERT_TRUE(RoutePrimary(absl::StrCat("https://127.0.0.1:", proxy.port())));
  ASSERT_TRUE(test::WaitFor([&] { return proxy.connections() > 0; }, 60));
  proxy.Cut();
  auto tracking = topo_->TrackingDb("secondary-1");
  ASSERT_NE(tracking, nullptr);
  auto up = topo_->Post("primary", "/api/v1/sample/upload", "moved primary");
  ASSERT_EQ(up.status, 201) << up.body;
  const int64_t id = nlohmann::json::parse(up.body)["id"].get<int64_t>();
  // Failed at the proxy, with a backoff (a reset connection is counted).
  std::string retry_at;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = tracking->Exec(
            "SELECT retry_at::text FROM georep.upload_registry WHERE model_id = $1 AND state = 3 "
            "AND retry_count > 0 AND retry_at > now() + interval '5 seconds'",
            {absl::StrCat(id)});
        if (r.ok() && r->rows() == 1) retry_at = std::string(r->Get(0, 0));
        return !retry_at.empty();
      },
      60))
      << "the upload never failed at the cut proxy: " << RegistryRow(*tracking, id);
  ASSERT_TRUE(RoutePrimary(topo_->Url("primary")));
  const auto moved = std::chrono::steady_clock::now();
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r =
            tracking->Exec("SELECT 1 FROM georep.upload_registry WHERE model_id = $1 AND state = 2",
                           {absl::StrCat(id)});
        return r.ok() && r->rows() == 1;
      },
      120))
      << topo_->Status("secondary-1").dump();
  auto when = tracking->Exec(
      "SELECT last_synced_at < $2::timestamptz FROM georep.upload_registry WHERE model_id = $1",
      {absl::StrCat(id), retry_at});
  ASSERT_TRUE(when.ok() && when->rows() == 1);
  EXPECT_EQ(when->Get(0, 0), "t") << "synced only once its backoff (to " << retry_at
                                  << ") had run out";
  std::printf("[ figures  ] synced %.1f s after the primary's URL was set back\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - moved).count());
}

// 300 idle connections from one address: past the per-client limit they are
// refused, and everyone else is still served.
TEST_F(HardeningTest, AConnectionFloodFromOneAddressLeavesOthersServed) {
  int port = topo_->Site("primary")["http_port"];
  std::vector<int> held;
  for (int i = 0; i < 300; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &local.sin_addr);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      continue;
    }
    held.push_back(fd);
  }
  EXPECT_GT(held.size(), 128u) << "the flood connected";
  EXPECT_EQ(HealthAnswers("primary", 9), 9) << "health answered during a flood of " << held.size();
  for (int fd : held) close(fd);
  EXPECT_EQ(HealthAnswers("primary", 3), 3);
}

// http.geo_allowed_addresses: a peer outside the list is refused on the
// Geo routes before its token is even read; the other routes serve it, and
// the listed secondary replicates as before (every test of this suite runs
// with the list).
TEST_F(HardeningTest, OnlyListedAddressesReachTheGeoRoutes) {
  const std::string primary = topo_->Url("primary");
  for (const char* path : {"/geo/retrieve/upload/1",
                           "/geo/git/tls/big.git/info/refs"
                           "?service=git-upload-pack"}) {
    auto [status, body] = GetFrom(primary + path, "127.0.0.2");
    EXPECT_EQ(status, 403) << path << " " << body;
    EXPECT_NE(body.find("ADDRESS_NOT_ALLOWED"), std::string::npos) << body;
    // From a listed address the token is what is checked.
    auto [listed, why] = GetFrom(primary + path, "127.0.0.1");
    EXPECT_EQ(listed, 401) << path << " " << why;
  }
  auto [health, body] = GetFrom(primary + "/api/v1/health", "127.0.0.2");
  EXPECT_EQ(health, 200) << body;
  int64_t before = topo_->TotalCount("secondary-1", "synced");
  ASSERT_EQ(topo_->Post("primary", "/api/v1/sample/upload", "listed").status, 201);
  EXPECT_TRUE(
      test::WaitFor([&] { return topo_->TotalCount("secondary-1", "synced") > before; }, 60))
      << "the listed secondary replicates";
}

}  // namespace
}  // namespace georep
