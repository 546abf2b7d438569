// Bare Git repositories on disk: creating them, the digest of their refs, and
// running the real `git` on them.
//
// The refs digest is what both sides of a repository replicable compare
// (docs/design/repositories.md): for every ref named HEAD or under
// refs/{heads,tags,keep-around,merge-requests,environments,notes}/, the
// SHA-1 of the line "<oid> <ref name>"; all of them XORed together, as 40
// hex digits. An empty repository's digest is 40 zeros. XOR makes the digest
// independent of ref order, and reading refs with libgit2 needs no `git`
// process, so checking 10,000 unchanged repositories costs milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "util/subprocess.h"

namespace georep::git {

// The digest of an empty repository (no refs).
inline constexpr char kEmptyRefsChecksum[] = "0000000000000000000000000000000000000000";

// Creates an empty bare repository (HEAD → refs/heads/main) and its parents.
// Fails if `path` exists and is not empty.
absl::Status InitBare(const std::string& path);

// The refs digest of the repository at `path`. Fails (naming the path and
// the ref) when it is not a repository or a ref cannot be read.
absl::StatusOr<std::string> RefsChecksum(const std::string& path);

// Runs `git args…` like georep::Run, and counts it (GitProcessesStarted).
absl::StatusOr<CommandResult> RunGit(const std::vector<std::string>& args,
                                     const RunOptions& options = {});
// Git processes this process has started, for the metric
// georep_git_processes_total.
int64_t GitProcessesStarted();
void CountGitProcess();

// Environment entries that set git configuration without writing it to disk
// or to the command line (GIT_CONFIG_COUNT/KEY/VALUE), e.g. an
// http.extraHeader carrying a token.
std::vector<std::string> GitConfigEnv(const std::vector<std::pair<std::string, std::string>>& kv);

}  // namespace georep::git
