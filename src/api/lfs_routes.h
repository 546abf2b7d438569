// Git LFS on a site: the Batch API with the basic transfer adapter, under
// a repository's Git URL, as git-lfs finds it by itself:
//
//   POST /<repo>.git/info/lfs/objects/batch   {"operation": "download"|"upload", "objects": […]}
//   GET  /<repo>.git/info/lfs/objects/<oid>   the object's bytes
//   PUT  /<repo>.git/info/lfs/objects/<oid>   (primary) stores them; <oid> is their SHA-256
//
// The objects are rows of one blob replicable (the application says which,
// and how an object of a repository is found and stored: LfsStore), so they
// replicate and verify like any blob. Who may read or write is the
// application's Git access rule (GitAccess): reading a repository's objects
// is fetching it, writing them is pushing. Every action of a batch answer
// carries the client's own Authorization header, and its href is built from
// the URL geo_nodes gives the site (never from the request's Host).
//
// Primary: answers every batch; uploads are checked against their oid
// before they are stored.
//
// Secondary: a download batch names this site for every object whose copy
// here is synced and verified against the primary's checksum
// (framework::CopyIsCurrent); the other objects are asked of the primary in
// one batch of its own, whose answers (hrefs to the primary, or errors) are
// passed on. An upload batch, and any PUT, is sent on to the primary
// (api/primary_proxy.h), which then names itself for the uploads. A GET of
// an object that is not current here (it changed between the batch and
// the GET) is a 307 to the primary.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/git_routes.h"
#include "api/http_server.h"
#include "db/connection.h"
#include "framework/storage/blob_store.h"
#include "georep/replicable.h"
#include "site/role.h"
#include "util/metrics.h"

namespace georep::api {

struct LfsObject {
  int64_t id = 0;  // the model row's id, in the replicable's table
  int64_t size = 0;
};

// How the application keeps LFS objects.
struct LfsStore {
  // The blob replicable whose model rows the objects are.
  std::string replicable;
  // The object `oid` of repository `repo` ("group/name.git") in `main`
  // (the primary's database, or a secondary's replica); nullopt if none.
  std::function<absl::StatusOr<std::optional<LfsObject>>(
      db::Connection& main, const std::string& repo, const std::string& oid)>
      find;
  // Primary: records `bytes`, whose SHA-256 is `oid` (checked), as an object
  // of `repo`; an object already there is not an error. NotFound when `repo`
  // is no repository that holds LFS objects.
  std::function<absl::Status(db::Connection& main, const framework::BlobStore& blobs,
                             const std::string& repo, const std::string& oid,
                             absl::string_view bytes)>
      store;
};

struct LfsRouteContext {
  const site::LiveRole* role = nullptr;
  std::string main_conninfo;      // primary: its main DB; secondary: the standby
  std::string tracking_conninfo;  // secondary
  std::shared_ptr<const framework::BlobStore> blobs;  // where the objects' bytes are
  std::string repository_root;
  const ReplicableSpec* spec = nullptr;  // LfsStore::replicable, resolved
  LfsStore store;
  GitAccess access;
  bool tls = false;                    // this site serves HTTPS (X-Forwarded-Proto)
  MetricsRegistry* metrics = nullptr;  // georep_lfs_actions_total
};

// nullopt when `req` is not one of the requests above, or LFS is off
// (no store, or its replicable is unknown).
std::optional<HttpResponse> HandleLfs(const LfsRouteContext& ctx, const HttpRequest& req);

// On the header alone: nullopt when `head` is not an LFS request, else its
// body limit (an upload: kUploadBodyLimit, on disk; a batch: kLfsBatchLimit).
constexpr uint64_t kLfsBatchLimit = uint64_t{8} << 20;
std::optional<Admission> AdmitLfs(const HttpRequest& head);

}  // namespace georep::api
