#include "framework/sync/repository/repository_sync.h"

#include <cstdio>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/registry/primary_states.h"
#include "framework/spec/spec.h"
#include "git/repository.h"
#include "transport/geo_auth.h"
#include "transport/http_client.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/logging.h"
#include "util/random.h"

namespace georep::framework {
namespace fs = std::filesystem;
namespace {

// The last lines of git's output, for a failure message.
std::string Tail(const std::string& output) {
  std::string t = output.size() > 300 ? output.substr(output.size() - 300) : output;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  for (char& c : t) {
    if (c == '\n') c = ' ';
  }
  return t;
}

// Git's words for a failure to reach or hear the remote, as opposed to a
// problem with the local repository.
bool TransportFailure(const std::string& output) {
  for (const char* sign :
       {"unable to access", "RPC failed", "early EOF", "The requested URL returned error",
        "Could not resolve", "Failed to connect", "timed out", "Operation too slow", "not found",
        "Connection refused", "transfer closed"}) {
    if (absl::StrContains(output, sign)) return true;
  }
  return false;
}

// The primary's "not found" is its verdict on the repository; anything
// else is retried. libcurl's words for a connection never made (as git
// reports them) say nothing of the repository.
absl::Status GitFailure(const std::string& verb, const std::string& what,
                        const std::string& site_name, const std::string& output) {
  std::string message = absl::StrCat(verb, " ", what, " from ", site_name, ": ", Tail(output));
  if (absl::StrContains(output, "not found")) return absl::NotFoundError(message);
  if (absl::StrContains(output, "Couldn't connect to server") ||
      absl::StrContains(output, "Could not resolve host")) {
    return transport::NotReachedError(message);
  }
  return absl::UnavailableError(message);
}

}  // namespace

std::string RepositoryTempDir(const std::string& repository_root) {
  return repository_root + "/@geo-temporary";
}

std::string GitScope(const std::string& relative_path) {
  return absl::EndsWith(relative_path, ".git") ? relative_path.substr(0, relative_path.size() - 4)
                                               : relative_path;
}

absl::Status RepositorySyncer::SyncBatch(const ReplicableSpec& spec,
                                         const std::vector<ClaimedItem>& items) {
  if (auto s = Connect(); !s.ok()) return s;
  std::vector<const ClaimedItem*> others;
  std::vector<SyncResult> results;
  std::vector<const ClaimedItem*> unchanged;
  results.reserve(items.size());
  for (const auto& item : items) {
    Target target;
    // Only a copy where the registry says it is: a moved one goes the long way.
    bool candidate = item.looked_up && Lookup(spec, item, &target).ok() &&
                     target.primary_checksum && item.local_path == target.local;
    auto sum = candidate ? git::RefsChecksum(target.local) : absl::NotFoundError("");
    if (!sum.ok() || *sum != *target.primary_checksum) {
      others.push_back(&item);
      continue;
    }
    results.push_back(SyncResult{target.local, 0, *sum, kVerificationSucceeded, false});
    unchanged.push_back(&item);
  }
  absl::Status first = absl::OkStatus();
  if (!unchanged.empty()) {
    static const std::function<absl::Status()> kNothingToInstall = [] { return absl::OkStatus(); };
    std::vector<Completion> batch;
    for (size_t i = 0; i < unchanged.size(); ++i) {
      batch.push_back({unchanged[i], &results[i], &kNothingToInstall});
    }
    // Not recorded: the rows stay started and are reclaimed later.
    first = CompleteSyncBatch(*tracking_, spec, batch);
    if (!first.ok()) tracking_.reset();
  }
  for (const ClaimedItem* item : others) {
    if (ctx_.stopping && ctx_.stopping()) break;
    if (auto s = Sync(spec, *item); !s.ok() && first.ok()) first = s;
  }
  return first;
}

absl::Status RepositorySyncer::Fetch(const ReplicableSpec& spec, const ClaimedItem& item,
                                     const Target& target) {
  const std::optional<std::string>& primary_checksum = target.primary_checksum;
  const std::string& local = target.local;
  std::error_code ec;
  auto moved = MoveRenamed(spec, item, target);
  if (!moved.ok()) return moved.status();
  std::optional<std::string> have;
  bool present = fs::is_directory(local, ec);
  if (present) {
    auto sum = git::RefsChecksum(local);
    if (sum.ok()) have = *sum;
  }
  // Nothing new: no git process at all.
  if (have && primary_checksum && *have == *primary_checksum) {
    return Complete(
        spec, item, target, *have, [] { return absl::OkStatus(); }, *moved);
  }
  // An empty repository on the primary (a new project's wiki, say) is made
  // here, again without git. Its HEAD names main, as the sample forge's do;
  // should the primary's name another branch, the first fetch's digest
  // differs and the copy is cloned afresh after kRetriesBeforeRedownload.
  if (!present && primary_checksum && *primary_checksum == git::kEmptyRefsChecksum) {
    return MakeEmpty(spec, item, target);
  }

  RunOptions options = PrimaryGitOptions(target.path);
  std::string url = absl::StrCat(ctx_.primary_url, "/geo/git/", target.path);
  bool redownload = !have || item.retry_count >= kRetriesBeforeRedownload;
  if (!redownload) {
    auto done = FetchInPlace(spec, item, target, url, options, *moved);
    if (done) return *done;
  }
  return CloneAfresh(spec, item, target, url, options);
}

absl::StatusOr<bool> RepositorySyncer::MoveRenamed(const ReplicableSpec& spec,
                                                   const ClaimedItem& item, const Target& target) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  const std::string& local = target.local;
  std::error_code ec;
  // Renamed on the primary: the copy moves along, and the fetch below (if
  // any) brings what changed.
  if (item.local_path && *item.local_path != local && fs::is_directory(*item.local_path, ec) &&
      !fs::exists(local, ec)) {
    if (auto s = MakeDirs(fs::path(local).parent_path().string(), 0755); !s.ok()) return s;
    if (rename(item.local_path->c_str(), local.c_str()) != 0) {
      return absl::InternalError(
          absl::StrCat(what, ": move ", *item.local_path, " to ", local, ": ", strerror(errno)));
    }
    return true;
  }
  return false;
}

// `new_entry`: the copy was put (or moved) into place, so its folder must be
// made durable before the row is recorded; a fetch in place is made durable
// by git itself (core.fsync below).
absl::Status RepositorySyncer::Complete(const ReplicableSpec& spec, const ClaimedItem& item,
                                        const Target& target, const std::string& sum,
                                        const std::function<absl::Status()>& install,
                                        bool new_entry) {
  const std::optional<std::string>& primary_checksum = target.primary_checksum;
  int verification = !primary_checksum          ? kVerificationDisabled
                     : *primary_checksum == sum ? kVerificationSucceeded
                                                : kVerificationPending;
  SyncResult result{target.local, 0, sum, verification, new_entry};
  auto done = CompleteSync(*tracking_, spec, item, result, install);
  if (!done.ok()) {
    tracking_.reset();
    return done.status();
  }
  if (*done) Recorded(verification);
  return absl::OkStatus();
}

absl::Status RepositorySyncer::MakeEmpty(const ReplicableSpec& spec, const ClaimedItem& item,
                                         const Target& target) {
  const std::string& local = target.local;
  std::error_code ec;
  std::string tmp = absl::StrCat(RepositoryTempDir(ctx_.repository_root), "/", ctx_.worker_id, "-",
                                 RandomHex(8), ".git");
  if (auto s = git::InitBare(tmp); !s.ok()) return s;
  absl::Status s = Complete(
      spec, item, target, git::kEmptyRefsChecksum,
      [&]() -> absl::Status {
        if (auto d = MakeDirs(fs::path(local).parent_path().string(), 0755); !d.ok()) return d;
        if (rename(tmp.c_str(), local.c_str()) != 0)
          return absl::InternalError(absl::StrCat("rename into ", local, ": ", strerror(errno)));
        return absl::OkStatus();
      },
      true);
  fs::remove_all(tmp, ec);
  return s;
}

RunOptions RepositorySyncer::PrimaryGitOptions(const std::string& rel) const {
  auto now = static_cast<int64_t>(WallSeconds());
  std::string auth =
      transport::MakeGeoAuthorization(ctx_.access_key, ctx_.secret_access_key,
                                      transport::RepositoryRequestData(GitScope(rel)), now);
  RunOptions options{.extra_env =
                         git::GitConfigEnv({{"http.extraHeader", "Authorization: " + auth},
                                            {"http.lowSpeedLimit", "1000"},
                                            {"http.lowSpeedTime", "120"},
                                            // Objects and refs are on disk before the row that
                                            // says so is recorded.
                                            {"core.fsync", "objects,reference,pack-metadata"},
                                            {"credential.interactive", "false"}})};
  options.extra_env.push_back("GIT_TERMINAL_PROMPT=0");
  // An https:// primary's certificate must chain to the configured CAs.
  if (std::string ca = transport::TrustedCaFile(); !ca.empty()) {
    options.extra_env.push_back("GIT_SSL_CAINFO=" + ca);
  }
  return options;
}

std::optional<absl::Status> RepositorySyncer::FetchInPlace(const ReplicableSpec& spec,
                                                           const ClaimedItem& item,
                                                           const Target& target,
                                                           const std::string& url,
                                                           const RunOptions& options, bool moved) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  const std::string& local = target.local;
  auto r =
      git::RunGit({"-C", local, "fetch", "--prune", "--quiet", url, "+refs/*:refs/*"}, options);
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) {
    auto sum = git::RefsChecksum(local);
    if (!sum.ok()) return absl::DataLossError(absl::StrCat(what, ": ", sum.status().message()));
    return Complete(
        spec, item, target, *sum, [] { return absl::OkStatus(); }, moved);
  }
  // The primary could not be reached: retry later. Anything else is the
  // local copy's fault (a broken ref or object): clone afresh now.
  if (TransportFailure(r->output)) return GitFailure("git fetch", what, ctx_.site_name, r->output);
  log::Warn("fetch into the local copy failed; cloning it afresh",
            {{"replicable", spec.name}, {"id", item.model_id}, {"error", Tail(r->output)}});
  return std::nullopt;
}

absl::Status RepositorySyncer::CloneAfresh(const ReplicableSpec& spec, const ClaimedItem& item,
                                           const Target& target, const std::string& url,
                                           const RunOptions& options) {
  std::string what = absl::StrCat(spec.name, " ", item.model_id);
  const std::string& local = target.local;
  std::error_code ec;
  // A fresh mirror clone beside the copy, swapped in when complete.
  std::string tmp = absl::StrCat(RepositoryTempDir(ctx_.repository_root), "/", ctx_.worker_id, "-",
                                 RandomHex(8), ".git");
  if (auto s = MakeDirs(RepositoryTempDir(ctx_.repository_root), 0755); !s.ok()) return s;
  auto r = git::RunGit({"clone", "--mirror", "--quiet", url, tmp}, options);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    fs::remove_all(tmp, ec);
    return GitFailure("git clone", what, ctx_.site_name, r->output);
  }
  auto sum = git::RefsChecksum(tmp);
  if (!sum.ok()) {
    fs::remove_all(tmp, ec);
    return absl::DataLossError(absl::StrCat(what, ": ", sum.status().message()));
  }
  std::string old = tmp + ".old";
  absl::Status s = Complete(
      spec, item, target, *sum,
      [&]() -> absl::Status {
        if (auto d = MakeDirs(fs::path(local).parent_path().string(), 0755); !d.ok()) return d;
        bool replace = fs::exists(local, ec);
        if (replace && rename(local.c_str(), old.c_str()) != 0)
          return absl::InternalError(absl::StrCat("move aside ", local, ": ", strerror(errno)));
        if (rename(tmp.c_str(), local.c_str()) != 0) {
          std::string why = strerror(errno);
          if (replace) rename(old.c_str(), local.c_str());
          return absl::InternalError(absl::StrCat("rename into ", local, ": ", why));
        }
        return absl::OkStatus();
      },
      true);
  fs::remove_all(old, ec);
  fs::remove_all(tmp, ec);  // still there if the row was no longer ours
  return s;
}

absl::StatusOr<std::optional<FoundRepository>> FindRepository(
    db::Connection& main, const std::vector<ReplicableSpec>& specs,
    const std::string& relative_path) {
  for (const auto& spec : specs) {
    if (spec.strategy != Strategy::kRepository) continue;
    auto exists = main.Exec("SELECT to_regclass($1) IS NOT NULL", {spec.model_table});
    if (!exists.ok()) return exists.status();
    if (!exists->GetBool(0, 0)) continue;
    auto r = main.Exec(absl::StrCat("SELECT m.", QuotedIdColumn(spec), " FROM ", QuotedTable(spec),
                                    " m WHERE ", PathSql(spec, "m"), " = $1 LIMIT 1"),
                       {relative_path});
    if (!r.ok()) return r.status();
    if (r->rows() > 0)
      return std::optional<FoundRepository>(
          FoundRepository{&spec, r->GetInt64(0, 0), relative_path});
  }
  return std::optional<FoundRepository>();
}

absl::StatusOr<bool> CopyIsCurrent(db::Connection& standby, db::Connection& tracking,
                                   const ReplicableSpec& spec, int64_t id) {
  auto path = CurrentCopyPath(standby, tracking, spec, id);
  if (!path.ok()) return path.status();
  return path->has_value();
}

absl::StatusOr<std::optional<std::string>> CurrentCopyPath(db::Connection& standby,
                                                           db::Connection& tracking,
                                                           const ReplicableSpec& spec, int64_t id) {
  auto mine = VerifiedCopyOf(tracking, spec, id);
  if (!mine.ok()) return mine.status();
  if (!*mine) return std::optional<std::string>();
  auto theirs = PrimaryChecksums(standby, spec, {id});
  if (!theirs.ok()) return theirs.status();
  auto it = theirs->find(id);
  if (it == theirs->end() || it->second != (*mine)->checksum) return std::optional<std::string>();
  return std::optional<std::string>((*mine)->local_path);
}

}  // namespace georep::framework
