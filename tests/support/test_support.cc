#include "support/test_support.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/net.h"
#include "util/random.h"

namespace georep::test {

std::string MakeTempDir(absl::string_view prefix) {
  std::string tmpl = absl::StrCat("/tmp/georep-", std::string(prefix), "-XXXXXX");
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl;
    return "/tmp";
  }
  chmod(made, 0755);
  return made;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string GeorepBinary() { return GEOREP_BINARY; }

CommandResult RunGeorep(const std::vector<std::string>& args,
                        const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv = {GeorepBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.extra_env = extra_env;
  options.merge_stderr = true;
  auto r = Run(argv, options);
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return {127, ""};
  }
  return *r;
}

namespace {
std::mutex git_token_mu;
std::string git_token;
}  // namespace

void SetGitToken(const std::string& token) {
  std::lock_guard<std::mutex> l(git_token_mu);
  git_token = token;
}

std::string GitTokenHeader() {
  std::lock_guard<std::mutex> l(git_token_mu);
  if (git_token.empty()) return "";
  return "Authorization: Basic " + absl::Base64Escape("git:" + git_token);
}

std::vector<std::string> GitTokenEnv() {
  std::string header = GitTokenHeader();
  if (header.empty()) return {};
  return {"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
          "GIT_CONFIG_VALUE_0=" + header};
}

CommandResult GitRun(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-c", "user.name=T", "-c", "user.email=t@example.com"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env = GitTokenEnv();
  env.push_back("GIT_TERMINAL_PROMPT=0");
  auto r = georep::Run(argv, {.extra_env = env});
  return r.ok() ? *r : CommandResult{127, std::string(r.status().message())};
}

void Git(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git",
                                   "-c",
                                   "user.name=T",
                                   "-c",
                                   "user.email=t@example.com",
                                   "-c",
                                   "init.defaultBranch=main"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = georep::Run(argv, {.extra_env = GitTokenEnv()});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->output;
}

std::string GitOutput(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<std::string> argv = {"git",
                                   "-c",
                                   "user.name=Test",
                                   "-c",
                                   "user.email=t@example.com",
                                   "-c",
                                   "init.defaultBranch=main"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions o;
  o.extra_env = GitTokenEnv();  // an access token for every project
  o.extra_env.insert(o.extra_env.end(), env.begin(), env.end());
  o.extra_env.push_back("GIT_TERMINAL_PROMPT=0");
  auto r = georep::Run(argv, o);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << absl::StrJoin(args, " ") << ":\n" << r->output;
  return r->output;
}

bool WaitFor(const std::function<bool()>& pred, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

PgServer& PgServer::Get() {
  static PgServer server;
  return server;
}

PgServer::PgServer() : dir_(MakeTempDir("pg")) {
  auto port = FreeTcpPort();
  if (!port.ok()) std::abort();
  cluster_ = std::make_unique<cluster::PgCluster>(cluster::ClusterOptions{
      dir_ + "/data", *port, dir_ + "/log/postgresql.log", /*unsafe_fast=*/true});
  absl::Status s = cluster_->Init();
  if (s.ok()) s = cluster_->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "test PostgreSQL cluster: %s\n", std::string(s.message()).c_str());
    std::abort();
  }
}

PgServer::~PgServer() {
  (void)cluster_->Stop();
  RemoveTree(dir_);
}

void PgTest::SetUp() {
  dbname_ = "t_" + RandomHex(6);
  auto admin = db::Connection::Open(PgServer::Get().Conninfo("postgres"));
  ASSERT_TRUE(admin.ok()) << admin.status();
  ASSERT_TRUE((*admin)->Exec("CREATE DATABASE " + dbname_).ok());
  conninfo_ = PgServer::Get().Conninfo(dbname_);
}

void PgTest::TearDown() {
  auto admin = db::Connection::Open(PgServer::Get().Conninfo("postgres"));
  if (admin.ok()) (void)(*admin)->Exec("DROP DATABASE IF EXISTS " + dbname_ + " WITH (FORCE)");
}

std::unique_ptr<db::Connection> PgTest::Connect() const {
  auto conn = db::Connection::Open(conninfo_);
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status();
    return nullptr;
  }
  return std::move(*conn);
}

LinkSwapper::LinkSwapper(std::string path, std::string target, std::chrono::microseconds rest)
    : thread_([this, path = std::move(path), target = std::move(target), rest] {
        const std::string real = path + ".real";
        while (!stop_) {
          if (rename(path.c_str(), real.c_str()) != 0) continue;
          (void)!symlink(target.c_str(), path.c_str());
          unlink(path.c_str());
          (void)!rename(real.c_str(), path.c_str());
          ++swaps_;
          if (rest.count() > 0) std::this_thread::sleep_for(rest);
        }
      }) {}

LinkSwapper::~LinkSwapper() {
  stop_ = true;
  thread_.join();
}

}  // namespace georep::test
