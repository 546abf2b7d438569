#include "cli/git_shell.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "db/connection.h"
#include "events/publish.h"
#include "framework/spec/spec.h"
#include "framework/sync/repository/repository_sync.h"
#include "git/repository.h"
#include "site/sites.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/random.h"
#include "util/subprocess.h"

namespace georep::cli {
namespace {

int Refuse(absl::string_view message) {
  std::fprintf(stderr, "georep git-shell: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return 1;
}

struct Command {
  std::string service;  // "git-upload-pack" or "git-receive-pack"
  std::string repo;     // "group/project.git"
};

// "git-upload-pack 'group/project.git'" (also "git upload-pack '/…'").
absl::StatusOr<Command> ParseCommand(const std::string& line) {
  std::string text = line;
  if (absl::StartsWith(text, "git ")) text = "git-" + text.substr(4);
  size_t space = text.find(' ');
  if (space == std::string::npos)
    return absl::InvalidArgumentError("only git-upload-pack and git-receive-pack are served");
  Command c{text.substr(0, space), text.substr(space + 1)};
  if (c.service != "git-upload-pack" && c.service != "git-receive-pack")
    return absl::InvalidArgumentError("only git-upload-pack and git-receive-pack are served");
  std::string& r = c.repo;
  if (r.size() >= 2 && r.front() == '\'' && r.back() == '\'') r = r.substr(1, r.size() - 2);
  if (absl::StrContains(r, "'")) return absl::InvalidArgumentError("bad repository path");
  while (!r.empty() && r.front() == '/') r.erase(0, 1);
  if (!absl::EndsWith(r, ".git")) r += ".git";
  return c;
}

bool ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, buf + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    got += static_cast<size_t>(k);
  }
  return true;
}

bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t k = write(fd, data.data(), data.size());
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    data.remove_prefix(static_cast<size_t>(k));
  }
  return true;
}

// Reads pkt-lines from stdin up to and including a flush, appending the raw
// bytes to `raw` and the payloads to `lines`. False on EOF or a bad length.
bool ReadSection(std::string* raw, std::vector<std::string>* lines) {
  while (true) {
    char len[4];
    if (!ReadFull(0, len, 4)) return false;
    raw->append(len, 4);
    int n = 0;
    if (!absl::SimpleHexAtoi(absl::string_view(len, 4), &n)) return false;
    if (n == 0) return true;
    if (n < 4) return false;
    std::string payload(static_cast<size_t>(n - 4), '\0');
    if (!ReadFull(0, payload.data(), payload.size())) return false;
    raw->append(payload);
    lines->push_back(std::move(payload));
  }
}

// A push from an SSH client, sent to the primary's smart HTTP endpoint for
// secondaries: the user was authenticated by sshd, so this site vouches for
// the push with a Geo token for pushing to this one repository.
int ProxyPush(const config::Config& config, const std::string& primary_url,
              const std::string& primary_name, const std::string& repo) {
  std::fprintf(stderr, "georep: this is a secondary site; your push goes to the primary (%s, %s)\n",
               primary_name.c_str(), primary_url.c_str());
  std::string base = absl::StrCat(primary_url, "/geo/git/", repo);
  auto auth = [&] {
    return "Authorization: " + transport::MakeGeoAuthorization(
                                   config.access_key, config.secret_access_key,
                                   transport::RepositoryPushRequestData(framework::GitScope(repo)),
                                   static_cast<int64_t>(WallSeconds()));
  };
  transport::RequestOptions get{.headers = {auth()}, .timeout_seconds = 300};
  auto refs = transport::HttpRequest(base + "/info/refs?service=git-receive-pack", get);
  if (!refs.ok()) return Refuse(absl::StrCat("primary unreachable: ", refs.status().message()));
  if (refs->status != 200)
    return Refuse(absl::StrCat("the primary answered HTTP ", refs->status, " for ", repo));
  // Smart HTTP prefixes "# service=git-receive-pack\n" and a flush; SSH does not.
  absl::string_view adv = refs->body;
  if (absl::StartsWith(adv.substr(4), "# service=")) {
    int n = 0;
    if (!absl::SimpleHexAtoi(adv.substr(0, 4), &n) || adv.size() < static_cast<size_t>(n) + 4)
      return Refuse("the primary's ref advertisement is malformed");
    adv.remove_prefix(static_cast<size_t>(n));
    if (!absl::StartsWith(adv, "0000"))
      return Refuse("the primary's ref advertisement is malformed");
    adv.remove_prefix(4);
  }
  if (!WriteAll(1, adv)) return 1;

  // The client's commands; a lone flush means it has nothing to push.
  std::string body;
  std::vector<std::string> commands;
  if (!ReadSection(&body, &commands)) return Refuse("the client's commands were cut short");
  if (commands.empty()) return 0;
  bool pack = false;
  bool options = false;
  for (size_t i = 0; i < commands.size(); ++i) {
    std::vector<std::string> parts = absl::StrSplit(commands[i], ' ');
    if (parts.size() >= 2 && parts[1] != std::string(parts[1].size(), '0')) pack = true;
    if (i == 0 && absl::StrContains(commands[i], "push-options")) options = true;
  }
  if (options) {
    std::vector<std::string> ignored;
    if (!ReadSection(&body, &ignored)) return Refuse("the client's push options were cut short");
  }
  if (pack) {
    // The client closes its side once the pack is sent.
    char buf[256 * 1024];
    ssize_t k;
    while ((k = read(0, buf, sizeof buf)) != 0) {
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return Refuse("reading the pack failed");
      body.append(buf, static_cast<size_t>(k));
    }
  }
  transport::RequestOptions post{
      .method = "POST",
      .body = std::move(body),
      .headers = {"Content-Type: application/x-git-receive-pack-request",
                  "Accept: application/x-git-receive-pack-result", "Expect:", auth()},
      .timeout_seconds = 3600};
  auto result = transport::HttpRequest(base + "/git-receive-pack", post);
  if (!result.ok()) return Refuse(absl::StrCat("push to the primary: ", result.status().message()));
  if (result->status != 200)
    return Refuse(absl::StrCat("the primary answered HTTP ", result->status, " to the push"));
  return WriteAll(1, result->body) ? 0 : 1;
}

// Runs git upload-pack on the caller's stdio in the folder `fd` (opened
// beneath the root, through no link); its exit code.
int UploadPackIn(int fd, const std::string& repo) {
  pid_t pid = fork();
  if (pid < 0) return Refuse(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    if (fchdir(fd) != 0) _exit(126);
    execlp("git", "git", "upload-pack", "--strict", ".", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fd);
  git::CountGitProcess();
  int code = WaitChild(pid);
  if (code == 126) return Refuse(absl::StrCat("enter ", repo, ": cannot"));
  return code;
}

// Where scratch mirrors live: beneath the repository root, apart from the
// syncer's temporary folder (whose sweep removes what no live worker owns).
// Each is named ssh-<pid>-<random>.git after the git-shell serving it.
std::string ScratchRoot(const std::string& repository_root) {
  return repository_root + "/@geo-ssh-temporary";
}

// Removes the scratch mirrors of git-shells that are gone (killed half-way).
void SweepScratch(const std::string& root) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    int pid = 0;
    std::vector<std::string> parts = absl::StrSplit(name, '-');
    if (parts.size() != 3 || parts[0] != "ssh" || !absl::SimpleAtoi(parts[1], &pid) || pid <= 0)
      continue;
    if (kill(pid, 0) != 0 && errno == ESRCH) std::filesystem::remove_all(entry.path(), ec);
  }
}

// A fetch over SSH of a repository whose copy here is behind the primary's
// (or absent): the primary's refs and objects are fetched now into a
// scratch mirror (borrowing the local copy's objects when there is one, so
// only what is missing travels), served from there, and removed. So a user
// never gets older data from a secondary than from the primary. Returns
// nullopt when the primary cannot be reached (the caller decides).
std::optional<int> FetchThroughPrimary(const config::Config& signer, const std::string& primary_url,
                                       const std::string& repo, const std::string& local) {
  const std::string scratch_root = ScratchRoot(signer.repository_root);
  if (!MakeDirs(scratch_root, 0755).ok()) return std::nullopt;
  SweepScratch(scratch_root);
  const std::string name = absl::StrCat("ssh-", getpid(), "-", RandomHex(6), ".git");
  const std::string scratch = scratch_root + "/" + name;
  std::string auth =
      transport::MakeGeoAuthorization(signer.access_key, signer.secret_access_key,
                                      transport::RepositoryRequestData(framework::GitScope(repo)),
                                      static_cast<int64_t>(WallSeconds()));
  RunOptions options{.extra_env = git::GitConfigEnv({{"http.extraHeader", "Authorization: " + auth},
                                                     {"credential.interactive", "false"}})};
  options.extra_env.push_back("GIT_TERMINAL_PROMPT=0");
  if (std::string ca = transport::TrustedCaFile(); !ca.empty())
    options.extra_env.push_back("GIT_SSL_CAINFO=" + ca);
  std::vector<std::string> args = {"clone", "--mirror", "--quiet"};
  if (!local.empty()) {
    args.push_back("--reference-if-able");
    args.push_back(local);
  }
  args.push_back(absl::StrCat(primary_url, "/geo/git/", repo));
  args.push_back(scratch);
  auto cloned = git::RunGit(args, options);
  std::error_code ec;
  if (!cloned.ok() || cloned->exit_code != 0) {
    std::filesystem::remove_all(scratch, ec);
    std::fprintf(
        stderr, "georep: the primary could not be asked for %s: %s\n", repo.c_str(),
        cloned.ok() ? cloned->output.c_str() : std::string(cloned.status().message()).c_str());
    return std::nullopt;
  }
  auto folder = OpenFolderBeneath(scratch_root, name);
  int code = folder.ok() ? UploadPackIn(*folder, repo)
                         : Refuse(absl::StrCat("open ", scratch, ": ", folder.status().message()));
  std::filesystem::remove_all(scratch, ec);
  return code;
}

}  // namespace

int GitShell(const config::Config& config, const std::string& ssh_original_command) {
  if (ssh_original_command.empty())
    return Refuse("this account serves Git only (git clone/fetch/push over SSH)");
  auto cmd = ParseCommand(ssh_original_command);
  if (!cmd.ok()) return Refuse(cmd.status().message());
  auto specs = framework::ResolveSpecs(config.replicables);
  if (!specs.ok()) return Refuse(specs.status().message());
  auto main = db::Connection::Open(config.main_database);
  if (!main.ok()) return Refuse(absl::StrCat("database unavailable: ", main.status().message()));
  auto found = framework::FindRepository(**main, *specs, cmd->repo);
  if (!found.ok()) return Refuse(found.status().message());
  if (!found->has_value()) return Refuse(absl::StrCat("no such repository: ", cmd->repo));
  const auto& repo = **found;
  auto self = site::FindSite(**main, config.site_name);
  if (!self.ok()) return Refuse(self.status().message());
  auto dir = framework::ConfinedPath(config.repository_root, cmd->repo);
  if (!dir.ok()) return Refuse(dir.status().message());
  bool push = cmd->service == "git-receive-pack";

  if (!self->primary) {
    std::optional<site::Site> primary;
    auto sites = site::ListSites(**main);
    if (!sites.ok()) return Refuse(sites.status().message());
    for (const auto& s : *sites) {
      if (s.primary) primary = s;
    }
    if (!primary) return Refuse("no primary site in geo_nodes");
    std::string url = primary->url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (push) {
      config::Config signer = config;
      if (auto s = site::FillKeysFromRow(**main, config.site_name, &signer.access_key,
                                         &signer.secret_access_key);
          !s.ok()) {
        return Refuse(s.message());
      }
      if (signer.access_key.empty() || signer.secret_access_key.empty())
        return Refuse("this site has no Geo key to send a push to the primary with");
      return ProxyPush(signer, url, primary->name, cmd->repo);
    }
    auto tracking = db::Connection::Open(config.tracking_database);
    bool current = false;
    if (tracking.ok()) {
      auto c = framework::CopyIsCurrent(**main, **tracking, *repo.spec, repo.id);
      current = c.ok() && *c;
    }
    const bool here = access(dir->c_str(), F_OK) == 0;
    if (!current) {
      // Behind, absent, or outside this site's selective sync: the primary's.
      std::string internal = primary->InternalUrl();
      while (!internal.empty() && internal.back() == '/') internal.pop_back();
      config::Config signer = config;
      if (auto s = site::FillKeysFromRow(**main, config.site_name, &signer.access_key,
                                         &signer.secret_access_key);
          !s.ok()) {
        return Refuse(s.message());
      }
      main->reset();
      if (!signer.access_key.empty() && !signer.secret_access_key.empty()) {
        std::fprintf(
            stderr, "georep: this secondary's copy of %s is %s; serving the primary's (%s)\n",
            cmd->repo.c_str(), here ? "behind the primary" : "not here", primary->name.c_str());
        if (auto code = FetchThroughPrimary(signer, internal, cmd->repo, here ? *dir : ""))
          return *code;
      }
      if (!here) {
        return Refuse(absl::StrCat(cmd->repo,
                                   " is not on this secondary and the primary cannot be "
                                   "reached; clone it from the primary: ",
                                   url, "/", cmd->repo));
      }
      std::fprintf(stderr,
                   "georep: the primary cannot be reached: this secondary's copy of %s may be "
                   "behind the primary's (%s/%s)\n",
                   cmd->repo.c_str(), url.c_str(), cmd->repo.c_str());
    }
  }
  main->reset();
  // Git starts in the folder opened beneath the root through no link, and
  // serves "." : no path to the repository is resolved again.
  auto folder = OpenFolderBeneath(config.repository_root, cmd->repo);
  if (!folder.ok()) return Refuse(folder.status().message());
  if (fchdir(*folder) != 0) return Refuse(absl::StrCat("enter ", cmd->repo, ": ", strerror(errno)));
  close(*folder);
  git::CountGitProcess();
  if (!push) {
    execlp("git", "git", "upload-pack", "--strict", ".", static_cast<char*>(nullptr));
    return Refuse(absl::StrCat("cannot run git: ", strerror(errno)));
  }
  // The primary: receive-pack on the caller's stdio, then the event.
  pid_t pid = fork();
  if (pid < 0) return Refuse(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    execlp("git", "git", "receive-pack", ".", static_cast<char*>(nullptr));
    _exit(127);
  }
  int code = WaitChild(pid);
  if (code != 0) return code;
  auto again = db::Connection::Open(config.main_database);
  absl::Status published =
      again.ok() ? events::PublishRepositoryUpdated(**again, *repo.spec, repo.id) : again.status();
  if (!published.ok())
    return Refuse(
        absl::StrCat("push accepted, but its event was not published: ", published.message()));
  return 0;
}

}  // namespace georep::cli
