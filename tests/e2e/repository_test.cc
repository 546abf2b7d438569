// Git repositories through real daemons and the real git client: pushes to
// the primary reach clones from the secondary, pushes to the secondary (HTTP
// and SSH through a real sshd) land on the primary, wikis, renames and
// deletes propagate, a damaged copy is repaired, and unchanged repositories
// cost no git process.
#include "git/repository.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_support.h"
#include "support/topology.h"
#include "transport/geo_auth.h"
#include "util/fs.h"
#include "util/net.h"

namespace georep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kRepositoryTypes = {"project_repository", "project_wiki_repository",
                                                   "design_management_repository",
                                                   "group_wiki_repository", "snippet_repository"};

// git, failing the test with its output on a non-zero exit.
std::string Git(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  return test::GitOutput(args, env);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A working tree with `n` new commits on main.
void Commit(const std::string& work, int n, const std::string& tag) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(WriteFileAtomic(absl::StrCat(work, "/", tag, "-", i, ".txt"),
                                absl::StrCat(tag, " ", i, "\n"))
                    .ok());
    Git({"-C", work, "add", "-A"});
    Git({"-C", work, "commit", "-q", "-m", absl::StrCat(tag, " ", i)});
  }
}

// A private sshd on loopback whose only key runs `georep git-shell`.
class Sshd {
 public:
  Sshd(const std::string& dir, const std::string& site_config) : dir_(dir) {
    port_ = FreeTcpPort().value_or(0);
    fs::create_directories("/run/sshd");
    for (const char* key : {"host", "user"}) {
      auto r = Run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir + "/" + key});
      EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->output : "");
    }
    auto pub = ReadFile(dir + "/user.pub");
    EXPECT_TRUE(pub.ok());
    EXPECT_TRUE(WriteFileAtomic(dir + "/authorized_keys",
                                absl::StrCat("command=\"", test::GeorepBinary(),
                                             " git-shell --config ", site_config,
                                             "\",no-pty,no-port-forwarding,no-agent-forwarding,"
                                             "no-X11-forwarding ",
                                             pub.ok() ? *pub : ""))
                    .ok());
    EXPECT_TRUE(
        WriteFileAtomic(dir + "/sshd_config",
                        absl::StrCat("Port ", port_, "\nListenAddress 127.0.0.1\nHostKey ", dir,
                                     "/host\nPidFile ", dir, "/sshd.pid\nAuthorizedKeysFile ", dir,
                                     "/authorized_keys\nUsePAM no\nStrictModes no\n"
                                     "PasswordAuthentication no\n"
                                     "KbdInteractiveAuthentication no\n"
                                     "PermitRootLogin prohibit-password\n"))
            .ok());
    auto r = Run({"/usr/sbin/sshd", "-f", dir + "/sshd_config", "-E", dir + "/sshd.log"});
    ok_ = r.ok() && r->exit_code == 0;
    EXPECT_TRUE(ok_) << (r.ok() ? r->output : std::string(r.status().message()));
    test::WaitFor([&] { return fs::exists(dir + "/sshd.pid"); }, 5);
  }
  ~Sshd() {
    auto pid = ReadFile(dir_ + "/sshd.pid");
    int p = 0;
    if (pid.ok() && absl::SimpleAtoi(Trim(*pid), &p) && p > 0) kill(p, SIGTERM);
  }
  bool ok() const { return ok_; }
  int port() const { return port_; }
  std::string Url(const std::string& repo) const {
    return absl::StrCat("ssh://root@127.0.0.1:", port_, "/", repo);
  }
  std::vector<std::string> Env() const {
    return {absl::StrCat("GIT_SSH_COMMAND=ssh -i ", dir_,
                         "/user -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                         "-o LogLevel=ERROR")};
  }

 private:
  std::string dir_;
  int port_ = 0;
  bool ok_ = false;
};

class RepositoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    topo_ =
        new test::Topology({"--seed", "0"}, {"GEOREP_VERIFICATION_INTERVAL_SECONDS=3600",
                                             "GEOREP_VERIFICATION_REPOSITORY_INTERVAL_SECONDS=2"});
    work_ = test::MakeTempDir("git-work");
  }
  static void TearDownTestSuite() {
    delete topo_;
    topo_ = nullptr;
    test::RemoveTree(work_);
  }
  void SetUp() override {
    ASSERT_TRUE(topo_->ok()) << "demo did not come up: " << topo_->up_output();
  }

  static int64_t CreateProject(const std::string& path) {
    auto r =
        topo_->Post("primary", "/api/v1/sample/projects", nlohmann::json{{"path", path}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? nlohmann::json::parse(r.body)["id"].get<int64_t>() : 0;
  }
  static std::string Root(const std::string& site) {
    return topo_->Site(site)["repository_root"].get<std::string>();
  }
  static std::string Digest(const std::string& site, const std::string& repo) {
    auto d = git::RefsChecksum(Root(site) + "/" + repo);
    return d.ok() ? *d : std::string(d.status().message());
  }
  // The copy on the secondary has the primary's refs and is verified.
  static bool Replicated(const std::string& repo) {
    return Digest("secondary-1", repo) == Digest("primary", repo);
  }
  // The primary's checksum of project `path`'s repository and the
  // secondary's verified one, as recorded, both match the refs on disk:
  // the secondary serves its copy.
  static bool RecordedCurrent(const std::string& path) {
    auto primary = topo_->MainDb("primary");
    auto tracking = topo_->TrackingDb("secondary-1");
    std::string sum = Digest("primary", path + ".git");
    auto p = primary->Exec(
        "SELECT s.checksum FROM georep.project_repository_states s JOIN sample.projects m "
        "ON m.id = s.model_id WHERE m.path = $1 AND s.state = 2",
        {path});
    auto t = tracking->Exec(
        "SELECT checksum FROM georep.project_repository_registry WHERE state = 2 AND "
        "verification_state = 2 AND local_path LIKE $1",
        {"%/" + path + ".git"});
    return p.ok() && t.ok() && p->rows() == 1 && t->rows() == 1 && p->Get(0, 0) == sum &&
           t->Get(0, 0) == sum;
  }
  static double Metric(const std::string& site, const std::string& line_prefix) {
    auto r = topo_->Request(site, "GET", "/metrics");
    double total = 0;
    for (absl::string_view line : absl::StrSplit(r.body, '\n')) {
      if (!absl::StartsWith(line, line_prefix)) continue;
      double v = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) total += v;
    }
    return total;
  }
  static std::string Head(const std::string& url) {
    std::string out = Git({"ls-remote", url, "refs/heads/main"});
    return out.substr(0, out.find('\t'));
  }
  static std::string NewWork(const std::string& name) {
    std::string w = work_ + "/" + name;
    Git({"init", "-q", w});
    return w;
  }

  static test::Topology* topo_;
  static std::string work_;
};

test::Topology* RepositoryTest::topo_ = nullptr;
std::string RepositoryTest::work_;

TEST_F(RepositoryTest, CommitsPushedToThePrimaryAreClonedFromTheSecondary) {
  CreateProject("alpha/app");
  std::string w = NewWork("app");
  Commit(w, 5, "first");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/alpha/app.git", "main"});
  std::string head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  ASSERT_TRUE(test::WaitFor([] { return Replicated("alpha/app.git"); }, 30))
      << Digest("secondary-1", "alpha/app.git") << " vs " << Digest("primary", "alpha/app.git");

  // Both sides' checksums, as recorded, match the refs on disk.
  ASSERT_TRUE(test::WaitFor([] { return RecordedCurrent("alpha/app"); }, 30));

  // A clone from the secondary is served there, not sent to the primary.
  double local = Metric("secondary-1",
                        "georep_git_http_requests_total{service=\"upload-pack\","
                        "route=\"user\",status=\"200\"}");
  Git({"clone", "-q", topo_->Url("secondary-1") + "/alpha/app.git", work_ + "/app-clone"});
  EXPECT_EQ(Trim(Git({"-C", work_ + "/app-clone", "rev-parse", "HEAD"})), head);
  EXPECT_EQ(Trim(Git({"-C", work_ + "/app-clone", "rev-list", "--count", "HEAD"})), "5");
  EXPECT_GT(Metric("secondary-1",
                   "georep_git_http_requests_total{service=\"upload-pack\","
                   "route=\"user\",status=\"200\"}"),
            local);
}

TEST_F(RepositoryTest, PushesToTheSecondaryLandOnThePrimaryOverHttpAndSsh) {
  CreateProject("alpha/tool");
  std::string w = NewWork("tool");
  Commit(w, 2, "base");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/alpha/tool.git", "main"});
  ASSERT_TRUE(test::WaitFor([] { return Replicated("alpha/tool.git"); }, 30));

  // HTTP: the secondary sends the push on to the primary, with the user's
  // credentials (a redirect would lose them).
  Commit(w, 1, "http");
  std::string out = Git({"-C", w, "push", topo_->Url("secondary-1") + "/alpha/tool.git", "main"});
  EXPECT_EQ(out.find("redirecting"), std::string::npos) << out;
  std::string head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  EXPECT_EQ(Head(topo_->Url("primary") + "/alpha/tool.git"), head);
  // Served by the secondary itself (no redirect) once its copy is verified.
  EXPECT_TRUE(test::WaitFor(
      [&] { return Head(topo_->Url("secondary-1") + "/alpha/tool.git") == head; }, 30))
      << Head(topo_->Url("secondary-1") + "/alpha/tool.git");

  // SSH: georep git-shell as sshd's forced command proxies the push.
  Sshd sshd(test::MakeTempDir("sshd"), topo_->Config("secondary-1"));
  ASSERT_TRUE(sshd.ok());
  std::string via = work_ + "/tool-ssh";
  Git({"clone", "-q", sshd.Url("alpha/tool.git"), via}, sshd.Env());
  EXPECT_EQ(Trim(Git({"-C", via, "rev-parse", "HEAD"})), head);
  Commit(via, 1, "ssh");
  out = Git({"-C", via, "push", "origin", "main"}, sshd.Env());
  EXPECT_NE(out.find("your push goes to the primary"), std::string::npos) << out;
  std::string ssh_head = Trim(Git({"-C", via, "rev-parse", "HEAD"}));
  EXPECT_EQ(Head(topo_->Url("primary") + "/alpha/tool.git"), ssh_head);
  ASSERT_TRUE(test::WaitFor([] { return Replicated("alpha/tool.git"); }, 30));
  Git({"-C", via, "fetch", "-q", "origin"}, sshd.Env());
  EXPECT_EQ(Trim(Git({"-C", via, "rev-parse", "origin/main"})), ssh_head);

  // Anything but git is refused by the forced command.
  RunOptions o;
  o.extra_env = sshd.Env();
  auto shell = georep::Run(
      {"sh", "-c", absl::StrCat("$GIT_SSH_COMMAND -p ", sshd.port(), " root@127.0.0.1 ls /")}, o);
  ASSERT_TRUE(shell.ok());
  EXPECT_NE(shell->exit_code, 0);
  EXPECT_NE(shell->output.find("only git-upload-pack and git-receive-pack"), std::string::npos)
      << shell->output;
}

// An SSH fetch from a secondary whose copy is behind (its daemon stopped
// while the primary moved on; the standby replays on) answers with the
// primary's refs, not the old copy's; so does one of a repository the
// secondary does not hold at all.
TEST_F(RepositoryTest, AnSshFetchOfACopyThatIsBehindGetsThePrimarysRefs) {
  CreateProject("behind/app");
  std::string w = NewWork("behind");
  Commit(w, 1, "old");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/behind/app.git", "main"});
  ASSERT_TRUE(test::WaitFor([] { return RecordedCurrent("behind/app"); }, 60));
  const std::string old_head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));

  const int pid = topo_->Pid("secondary-1");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return kill(pid, 0) != 0; }, 30));
  Commit(w, 1, "new");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/behind/app.git", "main"});
  const std::string new_head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  // The primary's new checksum reaches the standby; the copy stays old.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto standby = topo_->MainDb("secondary-1");
        auto r = standby->Exec(
            "SELECT s.checksum FROM georep.project_repository_states s JOIN sample.projects m "
            "ON m.id = s.model_id WHERE m.path = 'behind/app' AND s.state = 2");
        return r.ok() && r->rows() == 1 &&
               std::string(r->Get(0, 0)) == Digest("primary", "behind/app.git");
      },
      60));
  ASSERT_NE(Digest("secondary-1", "behind/app.git"), Digest("primary", "behind/app.git"));

  // A scratch mirror left by a git-shell killed half-way (its pid is past
  // any the kernel hands out) goes at the next such fetch.
  auto pid_max = ReadFile("/proc/sys/kernel/pid_max");
  int64_t beyond = 0;
  ASSERT_TRUE(pid_max.ok() && absl::SimpleAtoi(Trim(*pid_max), &beyond));
  const std::string leftover =
      absl::StrCat(Root("secondary-1"), "/@geo-ssh-temporary/ssh-", beyond + 1, "-dead00.git");
  fs::create_directories(leftover + "/objects");
  Sshd sshd(test::MakeTempDir("sshd-behind"), topo_->Config("secondary-1"));
  ASSERT_TRUE(sshd.ok());
  std::string via = work_ + "/behind-ssh";
  std::string cloned = Git({"clone", sshd.Url("behind/app.git"), via}, sshd.Env());
  EXPECT_NE(cloned.find("serving the primary's"), std::string::npos) << cloned;
  EXPECT_EQ(Trim(Git({"-C", via, "rev-parse", "HEAD"})), new_head);
  EXPECT_NE(new_head, old_head);
  // The copy itself is still the old one (the daemon syncs it), and no
  // scratch mirror is left behind, not even a dead one.
  EXPECT_NE(Digest("secondary-1", "behind/app.git"), Digest("primary", "behind/app.git"));
  int left = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(Root("secondary-1"), ec)) {
    left += e.path().filename().string().rfind("ssh-", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(left, 0);
  EXPECT_FALSE(fs::exists(leftover));

  // A repository created while the daemon is down is not here at all.
  CreateProject("behind/fresh");
  std::string f = NewWork("fresh");
  Commit(f, 1, "fresh");
  Git({"-C", f, "push", "-q", topo_->Url("primary") + "/behind/fresh.git", "main"});
  ASSERT_TRUE(test::WaitFor(
      [&] {
        auto r = topo_->MainDb("secondary-1")
                     ->Exec("SELECT 1 FROM sample.projects WHERE path = 'behind/fresh'");
        return r.ok() && r->rows() == 1;
      },
      60));
  std::string fresh_via = work_ + "/fresh-ssh";
  Git({"clone", "-q", sshd.Url("behind/fresh.git"), fresh_via}, sshd.Env());
  EXPECT_EQ(Trim(Git({"-C", fresh_via, "rev-parse", "HEAD"})),
            Trim(Git({"-C", f, "rev-parse", "HEAD"})));

  // The daemon back: the copy catches up, as the other tests expect.
  ASSERT_TRUE(topo_->Up());
  EXPECT_TRUE(test::WaitFor([] { return Replicated("behind/app.git"); }, 60));
}

// git as a user with no token but the one in the URL, and no prompt.
CommandResult GitAsUser(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "git", "-c", "user.name=U", "-c", "user.email=u@example.com", "-c", "credential.helper="};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = Run(argv, {.extra_env = {"GIT_TERMINAL_PROMPT=0"}});
  return r.ok() ? CommandResult{r->exit_code, r->output}
                : CommandResult{127, std::string(r.status().message())};
}

// http://git:TOKEN@host:port/repo
std::string WithToken(const std::string& url, const std::string& token) {
  size_t at = url.find("://") + 3;
  return url.substr(0, at) + "git:" + token + "@" + url.substr(at);
}

TEST_F(RepositoryTest, GitOverHttpNeedsAnAccessTokenUnlessTheProjectIsPublic) {
  CreateProject("acl/private");
  auto open =
      topo_->Post("primary", "/api/v1/sample/projects", R"({"path": "acl/open", "public": true})");
  ASSERT_EQ(open.status, 201) << open.body;
  std::string w = NewWork("acl");
  Commit(w, 2, "acl");
  for (const char* repo : {"/acl/private.git", "/acl/open.git"})
    Git({"-C", w, "push", "-q", topo_->Url("primary") + repo, "main"});
  std::string head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  ASSERT_TRUE(test::WaitFor(
      [] { return Replicated("acl/private.git") && Replicated("acl/open.git"); }, 30));

  // Minting needs the primary's admin token.
  EXPECT_EQ(
      topo_->Post("primary", "/api/v1/sample/tokens", R"({"scope":"*","access":"write"})").status,
      401);
  auto mint = [](const std::string& scope, const std::string& access) {
    auto r = topo_->Admin("primary", "POST", "/api/v1/sample/tokens",
                          nlohmann::json{{"scope", scope}, {"access", access}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("token", "") : "";
  };
  const std::string reader = mint("acl/private", "read");
  const std::string writer = mint("acl/private", "write");
  const std::string elsewhere = mint("acl/open", "write");
  EXPECT_EQ(topo_
                ->Admin("primary", "POST", "/api/v1/sample/tokens",
                        R"({"scope":"acl/none","access":"read"})")
                .status,
            404)
      << "a token for a project that does not exist";

  // Every site applies the same rule; a secondary reads the tokens from its
  // replica of the primary's database.
  for (const char* site : {"primary", "secondary-1"}) {
    const std::string priv = topo_->Url(site) + "/acl/private.git";
    SCOPED_TRACE(site);
    auto anonymous = GitAsUser({"ls-remote", priv});
    EXPECT_NE(anonymous.exit_code, 0) << anonymous.output;
    auto forged = GitAsUser({"ls-remote", WithToken(priv, "georep_0000")});
    EXPECT_NE(forged.exit_code, 0) << forged.output;
    EXPECT_NE(forged.output.find("Authentication failed"), std::string::npos) << forged.output;
    auto other = GitAsUser({"ls-remote", WithToken(priv, elsewhere)});
    EXPECT_NE(other.exit_code, 0) << other.output;
    EXPECT_NE(other.output.find("403"), std::string::npos) << other.output;
    bool replicated = test::WaitFor(
        [&] {
          return GitAsUser({"ls-remote", WithToken(priv, reader)}).exit_code == 0;
        },
        30);
    EXPECT_TRUE(replicated) << "the token reaches the site";
    auto read = GitAsUser({"ls-remote", WithToken(priv, reader), "refs/heads/main"});
    EXPECT_EQ(read.output.substr(0, read.output.find('\t')), head) << read.output;
    auto open_read =
        GitAsUser({"ls-remote", topo_->Url(site) + "/acl/open.git", "refs/heads/main"});
    EXPECT_EQ(open_read.output.substr(0, open_read.output.find('\t')), head)
        << "a public project needs no token: " << open_read.output;
    auto open_push = GitAsUser({"-C", w, "push", topo_->Url(site) + "/acl/open.git", "main:x"});
    EXPECT_NE(open_push.exit_code, 0) << "pushing to a public project still needs a token";
  }

  // A read token cannot push; a write token pushes, through the secondary
  // too, with the same credentials.
  Commit(w, 1, "acl-2");
  std::string next = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  auto refused = GitAsUser(
      {"-C", w, "push", WithToken(topo_->Url("primary") + "/acl/private.git", reader), "main"});
  EXPECT_NE(refused.exit_code, 0) << refused.output;
  EXPECT_NE(refused.output.find("403"), std::string::npos) << refused.output;
  auto pushed = GitAsUser(
      {"-C", w, "push", WithToken(topo_->Url("secondary-1") + "/acl/private.git", writer), "main"});
  EXPECT_EQ(pushed.exit_code, 0) << pushed.output;
  EXPECT_EQ(Head(topo_->Url("primary") + "/acl/private.git"), next);
  ASSERT_TRUE(test::WaitFor([] { return RecordedCurrent("acl/private"); }, 30));

  // The primary's daemon down: the secondary still serves clones to the
  // holders of a token.
  int pid = topo_->Pid("primary");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(test::WaitFor([&] { return topo_->Status("primary").is_null(); }, 30));
  auto clone =
      GitAsUser({"clone", "-q", WithToken(topo_->Url("secondary-1") + "/acl/private.git", reader),
                 work_ + "/acl-clone"});
  EXPECT_EQ(clone.exit_code, 0) << clone.output;
  EXPECT_EQ(Trim(Git({"-C", work_ + "/acl-clone", "rev-parse", "HEAD"})), next);
  auto anonymous = GitAsUser({"ls-remote", topo_->Url("secondary-1") + "/acl/private.git"});
  EXPECT_NE(anonymous.exit_code, 0) << anonymous.output;
  ASSERT_TRUE(topo_->Up()) << "the primary comes back";
  ASSERT_TRUE(test::WaitFor([] { return !topo_->Status("primary").is_null(); }, 60));
}

TEST_F(RepositoryTest, WikiPushesRenamesAndDeletesPropagate) {
  int64_t id = CreateProject("beta/site");
  std::string w = NewWork("wiki");
  Commit(w, 3, "page");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/beta/site.wiki.git", "main"});
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/beta/site.git", "main"});
  ASSERT_TRUE(test::WaitFor(
      [] { return Replicated("beta/site.wiki.git") && Replicated("beta/site.git"); }, 30));
  EXPECT_NE(Digest("secondary-1", "beta/site.wiki.git"), git::kEmptyRefsChecksum);

  // Rename: every repository of the project moves on the secondary.
  auto r = topo_->Request("primary", "PUT", absl::StrCat("/api/v1/sample/projects/", id),
                          R"({"path":"gamma/site"})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string sec = Root("secondary-1");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return fs::exists(sec + "/gamma/site.git") && fs::exists(sec + "/gamma/site.wiki.git") &&
               fs::exists(sec + "/gamma/site.design.git") && !fs::exists(sec + "/beta/site.git") &&
               !fs::exists(sec + "/beta/site.wiki.git") && fs::exists(sec + "/gamma.wiki.git");
      },
      30));
  ASSERT_TRUE(test::WaitFor([] { return Replicated("gamma/site.wiki.git"); }, 30));
  Git({"clone", "-q", topo_->Url("secondary-1") + "/gamma/site.wiki.git", work_ + "/wiki-clone"});
  EXPECT_EQ(Trim(Git({"-C", work_ + "/wiki-clone", "rev-list", "--count", "HEAD"})), "3");

  // Delete: gone from the secondary too.
  r = topo_->Request("primary", "DELETE", absl::StrCat("/api/v1/sample/projects/", id));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return !fs::exists(sec + "/gamma/site.git") && !fs::exists(sec + "/gamma/site.wiki.git") &&
               !fs::exists(sec + "/gamma/site.design.git");
      },
      30));
}

TEST_F(RepositoryTest, AMovedOrCorruptedRefIsFoundByVerificationAndRepaired) {
  CreateProject("delta/one");
  CreateProject("delta/two");
  std::string w = NewWork("delta");
  Commit(w, 3, "d");
  for (const char* p : {"one", "two"})
    Git({"-C", w, "push", "-q", topo_->Url("primary") + "/delta/" + p + ".git", "main"});
  ASSERT_TRUE(
      test::WaitFor([] { return Replicated("delta/one.git") && Replicated("delta/two.git"); }, 30));
  std::string good = Digest("primary", "delta/one.git");
  // Let both copies be verified before damaging them.
  auto tracking = topo_->TrackingDb("secondary-1");
  auto verified = [&](const std::string& repo) {
    auto r = tracking->Exec(
        "SELECT 1 FROM georep.project_repository_registry WHERE verification_state = 2 AND "
        "local_path LIKE $1",
        {"%/" + repo});
    return r.ok() && r->rows() == 1;
  };
  ASSERT_TRUE(
      test::WaitFor([&] { return verified("delta/one.git") && verified("delta/two.git"); }, 30));

  std::string sec = Root("secondary-1");
  // Moved: main points at an older commit. Corrupted: the ref file is garbage.
  std::string older = Trim(Git({"-C", w, "rev-parse", "HEAD~2"}));
  Git({"-C", sec + "/delta/one.git", "update-ref", "refs/heads/main", older});
  ASSERT_TRUE(WriteFileAtomic(sec + "/delta/two.git/refs/heads/main", "not a hash\n").ok());
  EXPECT_NE(Digest("secondary-1", "delta/one.git"), good);

  auto rv = test::RunGeorep(
      {"reverify", "project_repository", "--all", "--config", topo_->Config("secondary-1")});
  ASSERT_EQ(rv.exit_code, 0) << rv.output;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Replicated("delta/one.git") && Replicated("delta/two.git") &&
               verified("delta/one.git") && verified("delta/two.git");
      },
      60))
      << Digest("secondary-1", "delta/one.git") << " / " << Digest("secondary-1", "delta/two.git");
}

// A push that published no event (written straight into the primary's
// repository, as a crash between a push and its event would leave it): the
// primary records the new refs as a new state and publishes it, and the
// secondary's copy follows, instead of staying "verified" and stale while the
// primary marks its own repository failed.
TEST_F(RepositoryTest, ARepositoryChangedWithoutAnEventIsReplicatedAllTheSame) {
  int64_t id = CreateProject("zeta/quiet");
  std::string w = NewWork("quiet");
  Commit(w, 2, "q");
  Git({"-C", w, "push", "-q", topo_->Url("primary") + "/zeta/quiet.git", "main"});
  auto tracking = topo_->TrackingDb("secondary-1");
  auto verified = [&] {
    auto r = tracking->Exec(
        "SELECT checksum FROM georep.project_repository_registry WHERE model_id = $1 AND "
        "state = 2 AND verification_state = 2",
        {absl::StrCat(id)});
    return Replicated("zeta/quiet.git") && r.ok() && r->rows() == 1 &&
           r->Get(0, 0) == Digest("primary", "zeta/quiet.git");
  };
  ASSERT_TRUE(test::WaitFor(verified, 30));

  Commit(w, 1, "behind");
  Git({"-C", w, "push", "-q", Root("primary") + "/zeta/quiet.git", "main"});
  std::string head = Trim(Git({"-C", w, "rev-parse", "HEAD"}));
  EXPECT_TRUE(test::WaitFor(verified, 60))
      << Digest("secondary-1", "zeta/quiet.git") << " vs " << Digest("primary", "zeta/quiet.git");
  auto primary = topo_->MainDb("primary");
  auto state = primary->Exec(
      "SELECT state, checksum, coalesce(failure, '') FROM georep.project_repository_states WHERE "
      "model_id = $1",
      {absl::StrCat(id)});
  ASSERT_TRUE(state.ok() && state->rows() == 1);
  EXPECT_EQ(state->GetInt64(0, 0), 2) << state->Get(0, 2);
  EXPECT_EQ(state->Get(0, 1), Digest("primary", "zeta/quiet.git"));
  Git({"clone", "-q", topo_->Url("secondary-1") + "/zeta/quiet.git", work_ + "/quiet-clone"});
  EXPECT_EQ(Trim(Git({"-C", work_ + "/quiet-clone", "rev-parse", "HEAD"})), head);
}

// A worker takes its share of a busy queue: the unchanged copies in it are
// recorded together, and a lost copy among them is still made again.
TEST_F(RepositoryTest, UnchangedRepositoriesAreCheckedWithoutStartingGit) {
  // 70 projects: 210 repositories (plus a group wiki), all verified.
  for (int i = 0; i < 70; ++i) CreateProject(absl::StrCat("many/p", i));
  auto tracking = topo_->TrackingDb("secondary-1");
  auto unverified = [&]() {
    int64_t n = 0;
    for (const auto& type : kRepositoryTypes) {
      auto r =
          tracking->Exec(absl::StrCat("SELECT count(*) FROM georep.", type,
                                      "_registry WHERE state <> 2 OR verification_state <> 2"));
      n += r.ok() ? r->GetInt64(0, 0) : 1;
    }
    return n;
  };
  auto start = Clock::now();
  ASSERT_TRUE(test::WaitFor([&] { return unverified() == 0; }, 120)) << unverified();
  std::printf("[ figures  ] 210 new repositories synced and verified in %.1f s\n",
              std::chrono::duration<double>(Clock::now() - start).count());

  // Two copies lost on the secondary.
  const std::vector<std::string> lost = {"many/p3.git", "many/p4.wiki.git"};
  for (const auto& repo : lost) {
    std::filesystem::remove_all(Root("secondary-1") + "/" + repo);
    ASSERT_NE(Digest("secondary-1", repo), Digest("primary", repo));
  }
  double git_before = Metric("secondary-1", "georep_git_processes_total");
  double fetches_before = Metric("primary",
                                 "georep_git_http_requests_total{service=\"upload-pack\","
                                 "route=\"geo\"");
  auto since = tracking->Exec("SELECT now()");
  ASSERT_TRUE(since.ok());
  std::string t0(since->Get(0, 0));
  int64_t rows = 0;
  for (const auto& type :
       {"project_repository", "project_wiki_repository", "design_management_repository"}) {
    auto rs = test::RunGeorep({"resync", type, "--all", "--config", topo_->Config("secondary-1")});
    ASSERT_EQ(rs.exit_code, 0) << rs.output;
    auto r = tracking->Exec(absl::StrCat("SELECT count(*) FROM georep.", type, "_registry"));
    rows += r.ok() ? r->GetInt64(0, 0) : 0;
  }
  ASSERT_GE(rows, 200);
  start = Clock::now();
  // Every row synced again after the resync.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        int64_t done = 0;
        for (const auto& type :
             {"project_repository", "project_wiki_repository", "design_management_repository"}) {
          auto r = tracking->Exec(absl::StrCat("SELECT count(*) FROM georep.", type,
                                               "_registry WHERE state = 2 AND last_synced_at > $1"),
                                  {t0});
          done += r.ok() ? r->GetInt64(0, 0) : 0;
        }
        return done == rows;
      },
      60));
  std::printf("[ figures  ] %lld unchanged repositories re-checked in %.2f s\n",
              static_cast<long long>(rows),
              std::chrono::duration<double>(Clock::now() - start).count());
  for (const auto& repo : lost) EXPECT_TRUE(Replicated(repo)) << repo;
  // Git ran for the lost copies at most (an empty one is made without it).
  EXPECT_LE(Metric("secondary-1", "georep_git_processes_total"), git_before + lost.size());
  EXPECT_LE(Metric("primary",
                   "georep_git_http_requests_total{service=\"upload-pack\","
                   "route=\"geo\""),
            fetches_before + 2 * lost.size());
}

TEST_F(RepositoryTest, ForgedGeoFetchesAreRefused) {
  CreateProject("eps/secret");
  CreateProject("eps/open");
  // No token, a garbage token, and a push through the replication route.
  auto none =
      topo_->Request("primary", "GET", "/geo/git/eps/secret.git/info/refs?service=git-upload-pack");
  EXPECT_EQ(none.status, 401) << none.body;
  auto forged =
      topo_->Request("primary", "GET", "/geo/git/eps/secret.git/info/refs?service=git-upload-pack",
                     "", {"Authorization: GL-Geo nokey:not.a.jwt"});
  EXPECT_EQ(forged.status, 401) << forged.body;
  // The secondary's own valid token, for another repository.
  auto config = config::LoadConfig(topo_->Config("secondary-1"));
  ASSERT_TRUE(config.ok()) << config.status();
  std::string auth = transport::MakeGeoAuthorization(
      config->access_key, config->secret_access_key, transport::RepositoryRequestData("eps/open"),
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  auto other =
      topo_->Request("primary", "GET", "/geo/git/eps/secret.git/info/refs?service=git-upload-pack",
                     "", {"Authorization: " + auth});
  EXPECT_EQ(other.status, 403) << other.body;
  auto right =
      topo_->Request("primary", "GET", "/geo/git/eps/open.git/info/refs?service=git-upload-pack",
                     "", {"Authorization: " + auth});
  EXPECT_EQ(right.status, 200) << right.body;
  // A push needs a token that says so: none, or a fetch token, is refused.
  auto push =
      topo_->Request("primary", "GET", "/geo/git/eps/open.git/info/refs?service=git-receive-pack");
  EXPECT_EQ(push.status, 401) << push.body;
  auto fetch_token_push =
      topo_->Request("primary", "GET", "/geo/git/eps/open.git/info/refs?service=git-receive-pack",
                     "", {"Authorization: " + auth});
  EXPECT_EQ(fetch_token_push.status, 403) << fetch_token_push.body;
  // A user without a token learns nothing about what exists.
  auto unknown =
      topo_->Request("primary", "GET", "/nope/none.git/info/refs?service=git-upload-pack");
  EXPECT_EQ(unknown.status, 401) << unknown.body;
  auto missing =
      topo_->Request("primary", "GET", "/nope/none.git/info/refs?service=git-upload-pack", "",
                     {test::GitTokenHeader()});
  EXPECT_EQ(missing.status, 404) << missing.body;
  auto dumb = topo_->Request("primary", "GET", "/eps/secret.git/info/refs");
  EXPECT_EQ(dumb.status, 403) << dumb.body;
}

}  // namespace
}  // namespace georep
