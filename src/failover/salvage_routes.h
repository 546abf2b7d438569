// The new primary's side of salvage (failover/salvage.h): what a forced
// failover recorded lost, and taking back bytes the old primary still has.
//   GET    /api/v1/lost      (admin read) the records:
//       {"failovers": [...], "items": [{"replicable", "id", "strategy",
//        "path", "app_checksum", "row", "reason"}]}; `row` false when the
//       model row is gone since (nothing to recover); `app_checksum` the
//       application's digest of the bytes, when it keeps one.
//   PUT    /api/v1/lost/<replicable>/<id>   (admin) the blob's bytes. They
//       are checked against the application's digest when it keeps one
//       (422 CHECKSUM_MISMATCH, nothing installed), installed whole at the
//       row's path in this site's store (409 EXISTS when a different blob
//       is there already), and in one transaction the record is removed,
//       the primary's checksum sent back to pending and an `updated` event
//       published, so every secondary fetches it. Answers {"installed",
//       "sha256", "checked_against"}.
//   DELETE /api/v1/lost/<replicable>/<id>   (admin) drops a record without
//       bytes (the operator gives the item up, or its row is gone).
// Only the primary answers; elsewhere 404. 404 NOT_LOST for an item that is
// not recorded lost.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/admin_auth.h"
#include "api/router.h"
#include "framework/storage/blob_store.h"
#include "georep/replicable.h"
#include "site/role.h"

namespace georep::failover {

struct SalvageRouteContext {
  std::string main_conninfo;
  std::shared_ptr<const framework::BlobStore> blobs;
  std::vector<ReplicableSpec> specs;
  const site::LiveRole* role = nullptr;
  api::AdminAuth admin;
};

void AddSalvageRoutes(api::Router& router, const SalvageRouteContext& ctx);

}  // namespace georep::failover
