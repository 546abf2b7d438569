// The sample application: a small forge whose tables and files Georep
// replicates in the demo, the tests and the benchmarks. It is an example
// host, not part of the engine: Georep knows it only through the replicable
// declarations in src/replicators/.
//
// Each blob table has the same shape: id, file_path (relative to the storage
// root), size, sha256, created_at, updated_at, project_id (NULL: the blob
// belongs to no project).
//
// Namespaces nest (parent_id; a namespace's path is its full path, "a/b"),
// and each project lives on a repository storage (shard), "default" unless
// told: what selective sync (georep/selective_sync.h) selects by.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/admin_auth.h"
#include "api/lfs_routes.h"
#include "api/router.h"
#include "db/connection.h"
#include "framework/storage/blob_store.h"
#include "site/role.h"

namespace georep::sample {

// The sample blob tables, by replicable name.
const std::vector<std::string>& BlobKinds();
std::string TableOf(const std::string& kind);

// Creates schema `sample` and its tables (idempotent).
absl::Status InstallSchema(db::Connection& main);

struct Created {
  int64_t id = 0;
  std::string sha256;
  int64_t size = 0;
};

// Writes the bytes into the site's blob store and inserts the row in one
// transaction (the blob is in place before the row commits). A blob may
// belong to a project (InvalidArgument if there is no such project).
absl::StatusOr<Created> CreateBlob(db::Connection& main, const framework::BlobStore& blobs,
                                   const std::string& kind, absl::string_view bytes,
                                   std::optional<int64_t> project_id = std::nullopt);
// CreateBlob's insert and write, inside the caller's transaction: `out`
// carries the bytes' SHA-256 and size in, and the new id out; `written` is
// the file (or object) to remove, by RemoveWritten, if the transaction does
// not commit. Blobs are at their rows' relative paths in the store
// (files under the storage root, or objects in a bucket).
absl::Status InsertBlob(db::Connection& main, const framework::BlobStore& blobs,
                        const std::string& kind, absl::string_view bytes,
                        std::optional<int64_t> project_id, Created* out, std::string* written);
void RemoveWritten(const framework::BlobStore& blobs, const std::string& location);
absl::StatusOr<Created> ReplaceBlob(db::Connection& main, const framework::BlobStore& blobs,
                                    const std::string& kind, int64_t id, absl::string_view bytes);
absl::Status DeleteBlob(db::Connection& main, const framework::BlobStore& blobs,
                        const std::string& kind, int64_t id);

// Bulk-creates `count` blobs of `size` bytes spread over all kinds.
absl::StatusOr<int64_t> Seed(db::Connection& main, const framework::BlobStore& blobs, int64_t count,
                             int64_t size);

// Repositories: namespaces (each with a wiki), projects (repository, wiki
// and design repository) and snippets, under the repository root
// (src/sample/repositories.cc).
absl::Status InstallRepositorySchema(db::Connection& main);
struct Project {
  int64_t id = 0;
  std::string path;  // "<group>/<name>"
};
// A public project is readable over Git without a token. `path` is
// "<group>[/<subgroup>…]/<name>"; missing groups are created with their
// parents. `storage` names the shard the project lives on.
absl::StatusOr<Project> CreateProject(db::Connection& main, const std::string& repository_root,
                                      const std::string& path, bool is_public = false,
                                      const std::string& storage = "default");
// `count` empty projects <group>/p0…, a few hundred per transaction.
absl::Status SeedProjects(db::Connection& main, const std::string& repository_root,
                          const std::string& group, int64_t count);
absl::StatusOr<Project> RenameProject(db::Connection& main, const std::string& repository_root,
                                      int64_t id, const std::string& new_path);
absl::Status DeleteProject(db::Connection& main, const std::string& repository_root, int64_t id);
absl::StatusOr<int64_t> CreateSnippet(db::Connection& main, const std::string& repository_root,
                                      const std::string& title);

// The project a repository path belongs to ("group/name" for
// group/name.git, .wiki.git and .design.git); "" for a group wiki or a
// snippet, which only a token for every project ("*") reaches.
std::string ProjectOf(absl::string_view repo);

// Git over HTTP (src/sample/git_access.cc): access tokens and public
// projects. The table and column, idempotently.
absl::Status InstallAccessSchema(db::Connection& main);
// A new token for `scope` ("group/name", bound to that project's id, or
// "*") with `access` ("read" or "write"), valid for `lifetime_seconds` (1 s
// to 366 days); only its SHA-256 is stored.
struct MintedToken {
  int64_t id = 0;
  std::string token;
  std::optional<int64_t> project_id;  // none: every project
  std::string expires_at;
};
absl::StatusOr<MintedToken> MintToken(db::Connection& main, const std::string& scope,
                                      const std::string& access, int64_t lifetime_seconds);
// May the request with this Authorization header read (or push to) the
// repository at `repo` ("group/name.git")? Unauthenticated without a valid
// token (HTTP Basic, any user, the token as password; unknown, revoked and
// expired tokens are not valid), PermissionDenied for a token of another
// project (by id: whatever project later takes its path) or a read token
// pushing. A public project is readable by anyone.
absl::Status CheckGitAccess(db::Connection& main, const std::string& authorization,
                            const std::string& repo, bool push);

// Git LFS objects (api/lfs_routes.h): rows of sample.lfs_objects that
// belong to the project of repository "group/name.git", named by their
// SHA-256, stored once per project.
absl::Status InstallLfsSchema(db::Connection& main);  // its index, idempotently
absl::StatusOr<std::optional<api::LfsObject>> FindLfsObject(db::Connection& main,
                                                            const std::string& repo,
                                                            const std::string& oid);
absl::Status StoreLfsObject(db::Connection& main, const framework::BlobStore& blobs,
                            const std::string& repo, const std::string& oid,
                            absl::string_view bytes);
// The two above, for the daemon (daemon::ServeHooks::lfs).
api::LfsStore LfsObjects();

struct RouteContext {
  std::string main_conninfo;
  std::shared_ptr<const framework::BlobStore> blobs;
  std::string repository_root;
  // Writes pass its gate: refused on a secondary (naming the primary) and
  // in maintenance mode.
  const site::LiveRole* role = nullptr;
  api::AdminAuth admin;  // tokens are managed with the admin token
};
//   POST   /api/v1/sample/<kind>        raw bytes → 201 {"id","sha256","size"}
//                                       (?project_id=N: the blob belongs to project N)
//   PUT    /api/v1/sample/<kind>/<id>   replaces the bytes
//   DELETE /api/v1/sample/<kind>/<id>
//   POST   /api/v1/sample/projects      {"path": "group/name"} → 201 {"id", "path", …}
//   PUT    /api/v1/sample/projects/<id> {"path": …} renames (moves its repositories)
//   DELETE /api/v1/sample/projects/<id>
//   POST   /api/v1/sample/snippets      → 201 {"id", …}
//   POST   /api/v1/sample/tokens        {"scope": "group/name"|"*", "access": "read"|"write",
//                                        "expires_in_seconds": N (default 30 days)}
//                                       → 201 {"id", "token", "project_id", "expires_at"}
//   GET    /api/v1/sample/tokens        the tokens (never their secret)
//   DELETE /api/v1/sample/tokens/<id>   revokes one (the three: admin token required)
//   Every write (POST/PUT/DELETE of blobs, projects, snippets) needs a write
//   token for what it changes, or the admin token (RefuseWrite).
//   (projects take "public": true when created: readable over Git without a
//   token, and "storage": "<shard>", default "default")
// They are the application's routes (api::RouteScope::kApplication): a
// secondary sends every one on to the primary (api/primary_proxy.h).
// A project path as the forge takes it: "<group>[/<subgroup>…]/<name>",
// bounded, checked without std::regex (InvalidArgument says what is wrong).
absl::Status CheckProjectPath(const std::string& path);
// nullopt when `req` may write what belongs to `project_id` (none: what only
// an every-project token may write, e.g. a new project): the admin token
// (Bearer), or a live write token for that project or for every project
// (Basic); else the 401/403 to answer.
std::optional<api::HttpResponse> RefuseWrite(const RouteContext& ctx, const api::HttpRequest& req,
                                             db::Connection& main,
                                             std::optional<int64_t> project_id);
void AddRoutes(api::Router& router, const RouteContext& ctx);
void AddRepositoryRoutes(api::Router& router, const RouteContext& ctx);
void AddTokenRoutes(api::Router& router, const RouteContext& ctx);

}  // namespace georep::sample
