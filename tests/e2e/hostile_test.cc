// A hostile client against a primary and a secondary: inputs that used to
// kill the daemon, tokens reused after their project's path changed hands,
// and files under the storage root that are not files. Each ends in a
// clear answer, and the daemons keep serving.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/geo_auth.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace georep {
namespace {

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { topo_ = new test::Topology({"--seed", "0"}); }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }
  // The daemon of `site` is the one that started, and healthy.
  static void ExpectAlive(const std::string& site) {
    EXPECT_EQ(kill(topo_->Pid(site), 0), 0) << site << "'s daemon is gone";
    auto health = topo_->Request(site, "GET", "/api/v1/health");
    EXPECT_EQ(health.status, 200) << site << ": " << health.body;
  }
  static std::string Basic(const std::string& token) {
    return "Authorization: Basic " + absl::Base64Escape("u:" + token);
  }
  // What Git's first request for `path` with `token` gets.
  static long GitRefs(const std::string& path, const std::string& token) {
    return topo_
        ->Request("primary", "GET", "/" + path + ".git/info/refs?service=git-upload-pack", "",
                  {Basic(token)})
        .status;
  }
  static nlohmann::json MintToken(const std::string& scope, const std::string& access,
                                  int64_t seconds = 3600) {
    auto r = topo_->Admin(
        "primary", "POST", "/api/v1/sample/tokens",
        nlohmann::json{{"scope", scope}, {"access", access}, {"expires_in_seconds", seconds}}
            .dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return nlohmann::json::parse(r.body, nullptr, false);
  }
  static int64_t CreateProject(const std::string& path) {
    auto r =
        topo_->Post("primary", "/api/v1/sample/projects", nlohmann::json{{"path", path}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("id", int64_t{0}) : 0;
  }
  // A GET of blob `id` from the primary, signed as the secondary signs it.
  static transport::HttpResult Retrieve(const std::string& kind, int64_t id) {
    auto config = config::LoadConfig(topo_->Config("secondary-1"));
    EXPECT_TRUE(config.ok()) << config.status();
    std::string auth = transport::MakeGeoAuthorization(
        config->access_key, config->secret_access_key, transport::BlobRequestData(kind, id),
        static_cast<int64_t>(WallSeconds()));
    auto r =
        transport::HttpRequest(absl::StrCat(topo_->Url("primary"), "/geo/retrieve/", kind, "/", id),
                               {.headers = {"Authorization: " + auth}, .timeout_seconds = 30});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : transport::HttpResult{};
  }
  static std::string BlobPath(const std::string& site, const std::string& kind, int64_t id) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02lx", static_cast<long>(id % 256));
    return absl::StrCat(topo_->Site(site)["storage_root"].get<std::string>(), "/", kind, "/", hex,
                        "/", id);
  }
  static int64_t Upload(const std::string& bytes) {
    auto r = topo_->Post("primary", "/api/v1/sample/upload", bytes);
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("id", int64_t{0}) : 0;
  }

  static test::Topology* topo_;
};
test::Topology* HostileTest::topo_ = nullptr;

TEST_F(HostileTest, AHugeProjectPathOrSiteUrlIsAnsweredAndKillsNoDaemon) {
  std::string huge(100000, 'a');
  nlohmann::json body = {{"path", huge}};
  // Without credentials: refused before anything is read into a matcher.
  auto anonymous = transport::HttpRequest(topo_->Url("primary") + "/api/v1/sample/projects",
                                          {.method = "POST", .body = body.dump()});
  ASSERT_TRUE(anonymous.ok()) << anonymous.status();
  EXPECT_EQ(anonymous->status, 401) << anonymous->body;
  // With credentials, on the primary and through the secondary's proxy.
  for (const char* site : {"primary", "secondary-1"}) {
    auto r = topo_->Post(site, "/api/v1/sample/projects", body.dump());
    EXPECT_EQ(r.status, 400) << site << ": " << r.body.substr(0, 300);
    EXPECT_LT(r.body.size(), 1000u) << "the answer quotes an excerpt, not the input";
  }
  for (int slashes : {50000}) {
    std::string deep;
    for (int i = 0; i < slashes; ++i) deep += "a/";
    auto r = topo_->Post("primary", "/api/v1/sample/projects",
                         nlohmann::json{{"path", deep + "p"}}.dump());
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
  }
  // Site URLs, with the admin token.
  for (const std::string& url :
       {"http://" + huge, "http://h/" + huge, std::string("http://h:99999")}) {
    auto r = topo_->Admin("primary", "POST", "/api/v1/sites",
                          nlohmann::json{{"name", "hostile"}, {"url", url}}.dump());
    EXPECT_EQ(r.status, 400) << url.substr(0, 20) << ": " << r.body.substr(0, 300);
  }
  ExpectAlive("primary");
  ExpectAlive("secondary-1");
}

TEST_F(HostileTest, ATokenGrantsItsProjectNotWhicheverProjectLaterTakesItsPath) {
  int64_t c = CreateProject("tok/c");
  int64_t d = CreateProject("tok/d");
  ASSERT_GT(c, 0);
  ASSERT_GT(d, 0);
  std::string d_token = MintToken("tok/d", "read")["token"];
  auto c_minted = MintToken("tok/c", "read");
  std::string c_token = c_minted["token"];
  EXPECT_EQ(GitRefs("tok/d", d_token), 200);
  EXPECT_EQ(GitRefs("tok/c", d_token), 403);

  // Renaming and deleting need credentials.
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"DELETE", absl::StrCat("/api/v1/sample/projects/", d), ""},
           {"PUT", absl::StrCat("/api/v1/sample/projects/", c), R"({"path": "tok/d"})"},
           {"POST", "/api/v1/sample/projects", R"({"path": "tok/x"})"},
           {"POST", "/api/v1/sample/upload", "bytes"},
           {"POST", "/api/v1/sample/snippets", "title"}}) {
    auto r = transport::HttpRequest(topo_->Url("primary") + path, {.method = method, .body = body});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << method << " " << path << ": " << r->body;
    // A read token is not a write token; a token of one project writes
    // nothing else.
    auto read = topo_->Request("primary", method, path, body, {Basic(c_token)});
    EXPECT_EQ(read.status, 403) << method << " " << path << ": " << read.body;
  }
  auto d_writer = MintToken("tok/d", "write")["token"].get<std::string>();
  auto other = topo_->Request("primary", "PUT", absl::StrCat("/api/v1/sample/projects/", c),
                              R"({"path": "tok/c2"})", {Basic(d_writer)});
  EXPECT_EQ(other.status, 403) << other.body;
  auto own = topo_->Request("primary", "POST", absl::StrCat("/api/v1/sample/upload?project_id=", d),
                            "d's file", {Basic(d_writer)});
  EXPECT_EQ(own.status, 201) << own.body;

  // The sequence of the report: d deleted, c renamed to d's path. d's token
  // does not open c.
  ASSERT_EQ(topo_->Request("primary", "DELETE", absl::StrCat("/api/v1/sample/projects/", d)).status,
            200);
  auto renamed = topo_->Request("primary", "PUT", absl::StrCat("/api/v1/sample/projects/", c),
                                R"({"path": "tok/d"})");
  ASSERT_EQ(renamed.status, 200) << renamed.body;
  EXPECT_EQ(GitRefs("tok/d", d_token), 401);
  // c's token follows c to its new path.
  EXPECT_EQ(GitRefs("tok/d", c_token), 200);

  // Revoked: listed, then refused.
  auto list = topo_->Admin("primary", "GET", "/api/v1/sample/tokens");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(
      absl::StrContains(list.body, absl::StrCat("\"id\": ", c_minted["id"].get<int64_t>())));
  EXPECT_FALSE(absl::StrContains(list.body, c_token)) << "a token's secret is never listed";
  auto anonymous_list = transport::HttpRequest(topo_->Url("primary") + "/api/v1/sample/tokens",
                                               {.headers = {Basic(c_token)}});
  ASSERT_TRUE(anonymous_list.ok());
  EXPECT_EQ(anonymous_list->status, 401);
  auto revoked = topo_->Admin(
      "primary", "DELETE", absl::StrCat("/api/v1/sample/tokens/", c_minted["id"].get<int64_t>()));
  EXPECT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(GitRefs("tok/d", c_token), 401);

  // Expired: refused once its time is up.
  std::string brief = MintToken("tok/d", "read", 1)["token"];
  EXPECT_TRUE(test::WaitFor([&] { return GitRefs("tok/d", brief) == 401; }, 30));
  auto too_long =
      topo_->Admin("primary", "POST", "/api/v1/sample/tokens",
                   R"({"scope": "*", "access": "read", "expires_in_seconds": 99999999})");
  EXPECT_EQ(too_long.status, 400) << too_long.body;
}

TEST_F(HostileTest, AFifoSocketOrDeviceUnderTheStorageRootIsRefusedWithoutStallingAnything) {
  int64_t fifo_id = Upload("becomes a fifo");
  int64_t socket_id = Upload("becomes a socket");
  int64_t device_id = Upload("becomes a device");
  ASSERT_TRUE(
      test::WaitFor([&] { return topo_->Count("secondary-1", "upload", "synced") >= 3; }, 120));
  std::string fifo = BlobPath("primary", "upload", fifo_id);
  ASSERT_EQ(unlink(fifo.c_str()), 0);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  std::string sock_path = BlobPath("primary", "upload", socket_id);
  ASSERT_EQ(unlink(sock_path.c_str()), 0);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string device = BlobPath("primary", "upload", device_id);
  ASSERT_EQ(unlink(device.c_str()), 0);
  ASSERT_EQ(mknod(device.c_str(), S_IFCHR | 0644, makedev(1, 3)), 0);

  // More requests for the FIFO than the daemon has workers, at once.
  std::vector<std::future<long>> fifo_answers;
  for (int i = 0; i < 8; ++i) {
    fifo_answers.push_back(
        std::async(std::launch::async, [&] { return Retrieve("upload", fifo_id).status; }));
  }
  ExpectAlive("primary");
  for (auto& a : fifo_answers) EXPECT_EQ(a.get(), 404);
  auto at_socket = Retrieve("upload", socket_id);
  EXPECT_EQ(at_socket.status, 404) << at_socket.body;
  EXPECT_TRUE(absl::StrContains(at_socket.body, "socket")) << at_socket.body;
  auto at_device = Retrieve("upload", device_id);
  EXPECT_EQ(at_device.status, 404) << at_device.body;
  EXPECT_TRUE(absl::StrContains(at_device.body, "device")) << at_device.body;

  // The primary's checksummer meets a FIFO behind a row the application
  // wrote itself, says what it is, and goes on to the next row.
  std::string root = topo_->Site("primary")["storage_root"];
  ASSERT_EQ(mkfifo((root + "/upload/app-fifo").c_str(), 0644), 0);
  auto main = topo_->MainDb("primary");
  ASSERT_TRUE(main);
  auto row = main->Exec(
      "INSERT INTO sample.uploads (file_path, size, sha256) VALUES ('upload/app-fifo', 0, '') "
      "RETURNING id");
  ASSERT_TRUE(row.ok()) << row.status();
  std::string planted(row->Get(0, 0));
  int64_t after = Upload("after the fifo");
  auto failure = [&]() -> std::string {
    auto r = main->Exec(
        "SELECT coalesce(failure, '') FROM georep.upload_states WHERE model_id = $1", {planted});
    return r.ok() && r->rows() == 1 ? std::string(r->Get(0, 0)) : "";
  };
  EXPECT_TRUE(test::WaitFor([&] { return absl::StrContains(failure(), "FIFO"); }, 60))
      << "the checksummer's failure: " << failure();
  EXPECT_TRUE(test::WaitFor(
      [&] {
        auto r =
            main->Exec("SELECT checksum IS NOT NULL FROM georep.upload_states WHERE model_id = $1",
                       {absl::StrCat(after)});
        return r.ok() && r->rows() == 1 && r->GetBool(0, 0);
      },
      60))
      << "the checksummer stalled";

  // The secondary's verifier meets a FIFO where its copy was.
  int64_t copy_id = Upload("verified, then a fifo");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = topo_->TrackingDb("secondary-1")
                     ->Exec(
                         "SELECT verification_state FROM georep.upload_registry "
                         "WHERE model_id = $1",
                         {absl::StrCat(copy_id)});
        return r.ok() && r->rows() == 1 && r->GetInt64(0, 0) == 2;
      },
      120));
  std::string copy = BlobPath("secondary-1", "upload", copy_id);
  ASSERT_EQ(unlink(copy.c_str()), 0);
  ASSERT_EQ(mkfifo(copy.c_str(), 0644), 0);
  auto reverify = topo_->Admin("secondary-1", "POST",
                               absl::StrCat("/api/v1/replicables/upload/", copy_id, "/reverify"));
  ASSERT_TRUE(reverify.status == 200 || reverify.status == 202) << reverify.body;
  // Found, and the copy made whole again.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        struct stat st;
        auto sum = Sha256File(copy);
        return lstat(copy.c_str(), &st) == 0 && S_ISREG(st.st_mode) && sum.ok();
      },
      120))
      << "the FIFO copy was not replaced";
  ExpectAlive("primary");
  ExpectAlive("secondary-1");
  close(sock);
}

// Each request for an unknown replicable name used to add a labelled series
// to /metrics for ever: 500 requests took it from 9 KB to 3 MB.
TEST_F(HostileTest, RequestsWithNewNamesDoNotGrowTheMetrics) {
  auto before = topo_->Request("primary", "GET", "/metrics");
  ASSERT_EQ(before.status, 200);
  for (int i = 0; i < 500; ++i) {
    auto r = topo_->Request("primary", "GET", absl::StrCat("/geo/retrieve/made-up-", i, "/1"));
    EXPECT_EQ(r.status, 401) << r.body;  // unsigned: refused, and counted
  }
  auto after = topo_->Request("primary", "GET", "/metrics");
  ASSERT_EQ(after.status, 200);
  EXPECT_FALSE(absl::StrContains(after.body, "made-up-")) << "a request's name became a label";
  EXPECT_TRUE(absl::StrContains(after.body, "replicable=\"other\""));
  EXPECT_LT(after.body.size(), before.body.size() + 2000)
      << before.body.size() << " bytes before, " << after.body.size() << " after";
}

// A secondary relays what it does not serve to the primary; a body for a
// path no route knows is refused on its header (413), never read to disk.
TEST_F(HostileTest, ASecondaryRefusesAHugeBodyForAnUnknownPathBeforeReadingIt) {
  std::string url = topo_->Url("secondary-1");
  int port = std::stoi(url.substr(url.rfind(':') + 1));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval timeout{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const std::string head =
      "POST /users/nowhere HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 1073741824\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  // No body is sent: the answer must come on the header alone.
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  close(fd);
  ASSERT_GT(n, 0) << "no answer on the header alone";
  std::string answer(buf, static_cast<size_t>(n));
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 413")) << answer;
  // The sample forge's writes, relayed the same way, keep their limit.
  auto write = topo_->Post("secondary-1", "/api/v1/sample/upload", std::string(2 << 20, 'x'));
  EXPECT_EQ(write.status, 201) << write.body;
}

}  // namespace
}  // namespace georep
