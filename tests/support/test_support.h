// Test harness shared by every test binary.
//
// PgServer: one throwaway PostgreSQL cluster per test binary, started on first
// use in a temp folder on a free port (as the postgres user when run as root),
// stopped and deleted at exit. PgTest: a fresh database per test, dropped
// afterwards. RunGeorep: the real `georep` binary, as a user would run it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "cluster/pg_cluster.h"
#include "db/connection.h"
#include "gtest/gtest.h"
#include "util/subprocess.h"

namespace georep::test {

// A new folder /tmp/georep-<prefix>-XXXXXX, mode 0755 (reachable by postgres).
std::string MakeTempDir(absl::string_view prefix);
void RemoveTree(const std::string& path);

// Path of the georep binary under test.
std::string GeorepBinary();
CommandResult RunGeorep(const std::vector<std::string>& args,
                        const std::vector<std::string>& extra_env = {});

// Git over HTTP in these helpers (and in any helper adding GitTokenEnv())
// sends this access token, HTTP Basic, on every request, redirects
// included. A Topology sets one valid for every project.
void SetGitToken(const std::string& token);
// GIT_CONFIG_* entries setting http.extraHeader; empty without a token.
std::vector<std::string> GitTokenEnv();
// That token as a request header ("Authorization: Basic …"); "" without one.
std::string GitTokenHeader();

// The real git, with a test identity; the test fails on a non-zero exit.
void Git(const std::vector<std::string>& args);
// The real git, with a test identity, no prompt and `env` ("NAME=value")
// added; its output. A non-zero exit fails the test, naming the command.
std::string GitOutput(const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {});
// git as a writer runs it (no prompt): a failure is a result, not a test
// failure.
CommandResult GitRun(const std::vector<std::string>& args);

// Polls `pred` every 50 ms until it holds or `seconds` pass.
bool WaitFor(const std::function<bool()>& pred, double seconds);

class PgServer {
 public:
  static PgServer& Get();
  std::string Conninfo(const std::string& dbname) const { return cluster_->Conninfo(dbname); }
  int port() const { return cluster_->port(); }
  ~PgServer();

 private:
  PgServer();
  std::string dir_;
  std::unique_ptr<cluster::PgCluster> cluster_;
};

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<db::Connection> Connect() const;

  std::string dbname_;
  std::string conninfo_;
};

// Swaps the folder `path` for a symbolic link to `target` and back, as fast
// as it can (resting `rest` after each swap back), on its own thread, until
// destroyed: the race a path check and a later open by path lose.
class LinkSwapper {
 public:
  LinkSwapper(std::string path, std::string target,
              std::chrono::microseconds rest = std::chrono::microseconds(0));
  LinkSwapper(const LinkSwapper&) = delete;
  LinkSwapper& operator=(const LinkSwapper&) = delete;
  ~LinkSwapper();
  int swaps() const { return swaps_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> swaps_{0};
  std::thread thread_;
};

}  // namespace georep::test
