// The repository strategy on a secondary: the sync of one claimed row, and
// what Git on a secondary needs to know about its copies.
//
// Sync: a copy whose refs digest already equals the primary's is marked
// synced without starting `git` at all; in a batch (a worker's share of a
// busy queue), every such copy is recorded in one transaction. Otherwise the first sync is a
// `git clone --mirror` into <repository_root>/@geo-temporary, renamed into
// place in the transaction that marks the row synced; later syncs are a
// `git fetch --prune` of every ref. A copy that cannot be read, or that has
// failed kRetriesBeforeRedownload times in a row, is cloned afresh and
// swapped in. A rename on the primary moves the copy (the registry row
// remembers where it was). The token for the primary is passed to git in its
// environment, never on a command line.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/connection.h"
#include "framework/sync/syncer.h"
#include "georep/replicable.h"
#include "util/subprocess.h"

namespace georep::framework {

inline constexpr int kRetriesBeforeRedownload = 3;

class RepositorySyncer : public Syncer {
 public:
  explicit RepositorySyncer(const SyncContext& ctx) : Syncer(ctx) {}

  // The copies already equal to the primary's (their refs digest, read
  // here, is its recorded one) completed together; the others one by one.
  absl::Status SyncBatch(const ReplicableSpec& spec,
                         const std::vector<ClaimedItem>& items) override;

 protected:
  absl::Status Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                     const Target& target) override;

 private:
  // Moves the copy where the registry row says it was to target.local when
  // the primary renamed it; whether it moved.
  absl::StatusOr<bool> MoveRenamed(const ReplicableSpec& spec, const ClaimedItem& item,
                                   const Target& target);
  // Records the copy at target.local, whose refs digest is `sum`, as synced
  // (CompleteSync), `install` putting it in place in that transaction.
  absl::Status Complete(const ReplicableSpec& spec, const ClaimedItem& item, const Target& target,
                        const std::string& sum, const std::function<absl::Status()>& install,
                        bool new_entry);
  // An empty repository, made here and completed without git.
  absl::Status MakeEmpty(const ReplicableSpec& spec, const ClaimedItem& item, const Target& target);
  // The environment of a git process that fetches `rel` from the primary:
  // its token, timeouts, durability and CAs.
  RunOptions PrimaryGitOptions(const std::string& rel) const;
  // `git fetch` into the local copy and its completion; nullopt when the copy
  // is to be cloned afresh.
  std::optional<absl::Status> FetchInPlace(const ReplicableSpec& spec, const ClaimedItem& item,
                                           const Target& target, const std::string& url,
                                           const RunOptions& options, bool moved);
  // A mirror clone swapped in for the copy, and its completion.
  absl::Status CloneAfresh(const ReplicableSpec& spec, const ClaimedItem& item,
                           const Target& target, const std::string& url, const RunOptions& options);
};

// <repository_root>/@geo-temporary
std::string RepositoryTempDir(const std::string& repository_root);

// The scope of a Git fetch token: the repository path without ".git".
std::string GitScope(const std::string& relative_path);

struct FoundRepository {
  const ReplicableSpec* spec = nullptr;
  int64_t id = 0;
  std::string path;  // relative to the repository root
};
// The repository replicable row whose path is `relative_path`
// ("group/project.wiki.git"); nullopt if none.
absl::StatusOr<std::optional<FoundRepository>> FindRepository(
    db::Connection& main, const std::vector<ReplicableSpec>& specs,
    const std::string& relative_path);

// Secondary: whether the local copy may serve reads, i.e. its registry row is
// synced and verified and its digest equals the primary's current one.
absl::StatusOr<bool> CopyIsCurrent(db::Connection& standby, db::Connection& tracking,
                                   const ReplicableSpec& spec, int64_t id);
// The same for any replicable, with where that copy is (the full path its
// sync recorded); nullopt when it may not serve reads.
absl::StatusOr<std::optional<std::string>> CurrentCopyPath(db::Connection& standby,
                                                           db::Connection& tracking,
                                                           const ReplicableSpec& spec, int64_t id);

}  // namespace georep::framework
