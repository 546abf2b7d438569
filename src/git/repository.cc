#include "git/repository.h"

#include <git2.h>
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace georep::git {
namespace {

std::atomic<int64_t> g_processes{0};

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Only the repository's own files count: a refs digest must not depend
    // on this machine's ~/.gitconfig or /etc/gitconfig (both sites compute
    // it), and not looking for them saves a dozen file-system calls per
    // repository opened.
    for (int level : {GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
                      GIT_CONFIG_LEVEL_GLOBAL}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
  });
}

std::string LastError() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

struct RepoCloser {
  void operator()(git_repository* r) const { git_repository_free(r); }
};
struct IterCloser {
  void operator()(git_reference_iterator* i) const { git_reference_iterator_free(i); }
};
struct RefCloser {
  void operator()(git_reference* r) const { git_reference_free(r); }
};

bool Counted(const char* name) {
  static constexpr const char* kPrefixes[] = {"refs/heads/",        "refs/tags/",
                                              "refs/keep-around/",  "refs/merge-requests/",
                                              "refs/environments/", "refs/notes/"};
  for (const char* p : kPrefixes) {
    if (absl::StartsWith(name, p)) return true;
  }
  return false;
}

// XORs SHA-1("<oid> <name>") into `acc`.
void Fold(std::array<unsigned char, 20>& acc, const git_oid& oid, const char* name) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  std::string line = absl::StrCat(hex, " ", name);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(line.data(), line.size(), md, &len, EVP_sha1(), nullptr);
  for (size_t i = 0; i < acc.size(); ++i) acc[i] ^= md[i];
}

}  // namespace

absl::Status InitBare(const std::string& path) {
  InitLibgit2();
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_empty(path, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("repository ", path, " already exists"));
  }
  git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
  opts.initial_head = "main";
  git_repository* repo = nullptr;
  if (git_repository_init_ext(&repo, path.c_str(), &opts) != 0) {
    return absl::InternalError(absl::StrCat("create repository ", path, ": ", LastError()));
  }
  git_repository_free(repo);
  return absl::OkStatus();
}

absl::StatusOr<std::string> RefsChecksum(const std::string& path) {
  InitLibgit2();
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, path.c_str()) != 0) {
    return absl::NotFoundError(absl::StrCat("repository ", path, ": ", LastError()));
  }
  std::unique_ptr<git_repository, RepoCloser> repo(raw);
  std::array<unsigned char, 20> acc{};
  git_oid head;
  // HEAD counts when it resolves (an empty repository's HEAD is unborn); a
  // HEAD that points at an unreadable ref is damage.
  int head_rc = git_reference_name_to_id(&head, repo.get(), "HEAD");
  if (head_rc == 0) {
    Fold(acc, head, "HEAD");
  } else if (head_rc != GIT_ENOTFOUND) {
    return absl::DataLossError(absl::StrCat("repository ", path, ": HEAD: ", LastError()));
  }
  git_reference_iterator* it_raw = nullptr;
  if (git_reference_iterator_new(&it_raw, repo.get()) != 0) {
    return absl::DataLossError(absl::StrCat("repository ", path, ": refs: ", LastError()));
  }
  std::unique_ptr<git_reference_iterator, IterCloser> it(it_raw);
  git_reference* ref_raw = nullptr;
  int rc;
  while ((rc = git_reference_next(&ref_raw, it.get())) == 0) {
    std::unique_ptr<git_reference, RefCloser> ref(ref_raw);
    const char* name = git_reference_name(ref.get());
    if (!Counted(name)) continue;
    git_oid oid;
    if (git_reference_name_to_id(&oid, repo.get(), name) != 0) {
      return absl::DataLossError(
          absl::StrCat("repository ", path, ": ref ", name, ": ", LastError()));
    }
    Fold(acc, oid, name);
  }
  if (rc != GIT_ITEROVER) {
    return absl::DataLossError(absl::StrCat("repository ", path, ": refs: ", LastError()));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(acc.data()), acc.size()));
}

absl::StatusOr<CommandResult> RunGit(const std::vector<std::string>& args,
                                     const RunOptions& options) {
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  CountGitProcess();
  return Run(argv, options);
}

int64_t GitProcessesStarted() { return g_processes.load(); }
void CountGitProcess() { g_processes.fetch_add(1); }

std::vector<std::string> GitConfigEnv(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::vector<std::string> env = {absl::StrCat("GIT_CONFIG_COUNT=", kv.size())};
  for (size_t i = 0; i < kv.size(); ++i) {
    env.push_back(absl::StrCat("GIT_CONFIG_KEY_", i, "=", kv[i].first));
    env.push_back(absl::StrCat("GIT_CONFIG_VALUE_", i, "=", kv[i].second));
  }
  return env;
}

}  // namespace georep::git
