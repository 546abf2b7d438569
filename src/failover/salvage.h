// Salvage, run on the old primary after a forced failover: what the new
// primary recorded lost in that failover (framework/registry/
// lost_in_failover.h) is looked for in this site's storage, where the old
// primary wrote it, and each blob found is sent to the new primary
// (PUT /api/v1/lost/..., failover/salvage_routes.h), which checks it
// against the application's digest, installs it and publishes it, so every
// secondary fetches it. Run it before `georep demote`: a demoted site's
// storage becomes a secondary's, and what the new primary lacks is not
// adopted.
//
// Repositories recorded lost, and rows or commits the old primary took past
// the fork, are listed by the new primary but not recovered here: the
// outcome names them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "framework/storage/blob_store.h"

namespace georep::failover {

struct SalvageRequest {
  std::string primary_url;           // the new primary's daemon
  std::vector<std::string> headers;  // its admin token ("Authorization: Bearer …")
  bool dry_run = false;              // look, send nothing
  // A line of progress (the CLI writes it to stderr); may be unset.
  std::function<void(const std::string&)> progress;
};

struct SalvagedItem {
  std::string replicable;
  int64_t id = 0;
  std::string path;
  bool recovered = false;
  // "recovered (checked against the application's digest)", "not in this
  // site's storage", "differs from the application's digest", …
  std::string outcome;
};

struct SalvageOutcome {
  std::string primary;  // the new primary's site name
  int64_t listed = 0;   // items the new primary records lost
  int64_t recovered = 0;
  int64_t found = 0;  // found here with the right bytes (dry run: would be sent)
  std::vector<SalvagedItem> items;
};

// `local`: this site's blob store. InvalidArgument for a URL that is this
// site; the new primary's refusals of one item are that item's outcome.
absl::StatusOr<SalvageOutcome> Salvage(const config::Config& config,
                                       const framework::BlobStore& local,
                                       const SalvageRequest& request);

}  // namespace georep::failover
