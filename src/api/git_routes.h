// Git's smart HTTP protocol on a site, for users and for secondaries:
//
//   GET  /<repo>.git/info/refs?service=git-upload-pack|git-receive-pack
//   POST /<repo>.git/git-upload-pack | git-receive-pack
//   GET  /geo/git/<repo>.git/info/refs?service=git-upload-pack   (primary,
//   POST /geo/git/<repo>.git/git-upload-pack                      secondaries only)
//
// <repo> is a repository replicable's path ("group/project.wiki"), found by
// rendering each repository type's path template in SQL. The real `git
// http-backend` does the work (git/http_backend.h).
//
// Primary: clone, fetch and push. A push that git accepted publishes an
// `updated` event for that repository before the client hears the end of the
// response. /geo/git/ needs a GL-Geo token whose data is exactly
// {"scope": "<repo>"} and serves fetches only.
//
// Secondary: clones and fetches are served from the local copy when it is
// current (framework::CopyIsCurrent); otherwise, and for every push, the
// answer is a 302 to the same URL on the primary, which git follows.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "api/geo_routes.h"
#include "api/http_server.h"
#include "georep/replicable.h"
#include "site/role.h"
#include "util/metrics.h"

namespace georep::api {

// May `req` read (push: write to) repository `repo` ("group/name.git")?
// OK; Unauthenticated (answered 401 with a Basic challenge, so git asks
// for credentials); PermissionDenied (403); anything else 503.
using GitAccess =
    std::function<absl::Status(const HttpRequest& req, const std::string& repo, bool push)>;

struct GitRouteContext {
  // Primary or secondary, now; the primary's URL (where a secondary sends
  // pushes and stale reads); pushes pass its write gate (refused in
  // maintenance mode).
  const site::LiveRole* role = nullptr;
  std::string main_conninfo;      // primary: its main DB; secondary: the standby
  std::string tracking_conninfo;  // secondary
  std::string repository_root;
  std::vector<ReplicableSpec> specs;
  SiteDirectory* sites = nullptr;      // primary: who may use /geo/git/
  MetricsRegistry* metrics = nullptr;  // geo_git_http_requests_total
  // The application's access rule for users (not for /geo/git/, which
  // needs a Geo token). Checked on every site, a secondary against its
  // replicated database, before a push is redirected to the primary.
  // Unset: user Git over HTTP is refused.
  GitAccess access;
  // Primary: called after a push git accepted.
  std::function<absl::Status(const ReplicableSpec&, int64_t)> on_push;
};

// nullopt when `req` is not a Git request.
std::optional<HttpResponse> HandleGit(const GitRouteContext& ctx, const HttpRequest& req);

// Whether `repo` ("group/name.git") is a path made of plain segments
// ([A-Za-z0-9._@-], none empty or starting with a dot) ending in ".git":
// what is redirected or looked up is what was checked.
bool PlainRepoPath(absl::string_view repo);

// On the header alone: nullopt when `head` is not a Git request, else its
// body limit (a push's pack: kUploadBodyLimit; a fetch's negotiation:
// kGitNegotiationLimit; info/refs: none).
constexpr uint64_t kGitNegotiationLimit = uint64_t{64} << 20;
std::optional<Admission> AdmitGit(const HttpRequest& head);

}  // namespace georep::api
